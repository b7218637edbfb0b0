// The server's counters, in Prometheus' text exposition format (GET /metrics):
//   yolonas_requests_total{path,code}        counter
//   yolonas_request_duration_seconds{path}   histogram (arrival -> response written)
//   yolonas_batch_size                       histogram (images per engine run)
//   yolonas_batch_duration_seconds           histogram (engine time per batch)
//   yolonas_queue_depth, yolonas_in_flight   gauges
//   yolonas_images_total, yolonas_rejected_total{reason}
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace yolonas::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Prometheus lines for `name` with `labels` ("" or `path="/v1/detect"`).
  std::string render(const std::string& name, const std::string& labels) const;
  long long count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<long long> buckets_;  // cumulative counts rendered from per-bucket counts
  long long count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  Metrics();
  void request(const std::string& path, int code, double seconds);
  void batch(int size, double seconds);
  void rejected(const std::string& reason);
  // queue_depth and in_flight are read at render time.
  std::string render(int queue_depth, int in_flight) const;

 private:
  mutable std::mutex m_;
  std::map<std::pair<std::string, int>, long long> requests_;
  std::map<std::string, Histogram> durations_;
  Histogram batch_size_, batch_seconds_;
  std::map<std::string, long long> rejected_;
  long long images_ = 0;
};

}  // namespace yolonas::serve
