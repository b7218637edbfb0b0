#include "yolonas/serve/metrics.h"

#include <cstdio>
#include <sstream>

namespace yolonas::serve {

namespace {
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
std::string join_labels(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "," + b;
}
const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++buckets_[i];
  ++count_;
  sum_ += v;
}

std::string Histogram::render(const std::string& name, const std::string& labels) const {
  std::ostringstream o;
  long long cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i];
    const std::string le = i < bounds_.size() ? num(bounds_[i]) : "+Inf";
    o << name << "_bucket{" << join_labels(labels, "le=\"" + le + "\"") << "} " << cumulative << "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  o << name << "_sum" << braces << " " << num(sum_) << "\n";
  o << name << "_count" << braces << " " << count_ << "\n";
  return o.str();
}

Metrics::Metrics() : batch_size_({1, 2, 4, 8, 16, 32, 64}), batch_seconds_(kLatencyBounds) {}

void Metrics::request(const std::string& path, int code, double seconds) {
  std::lock_guard<std::mutex> lk(m_);
  ++requests_[{path, code}];
  auto it = durations_.find(path);
  if (it == durations_.end()) it = durations_.emplace(path, Histogram(kLatencyBounds)).first;
  it->second.observe(seconds);
}

void Metrics::batch(int size, double seconds) {
  std::lock_guard<std::mutex> lk(m_);
  batch_size_.observe(size);
  batch_seconds_.observe(seconds);
  images_ += size;
}

void Metrics::rejected(const std::string& reason) {
  std::lock_guard<std::mutex> lk(m_);
  ++rejected_[reason];
}

std::string Metrics::render(int queue_depth, int in_flight) const {
  std::lock_guard<std::mutex> lk(m_);
  std::ostringstream o;
  o << "# HELP yolonas_requests_total HTTP requests answered, by path and status code.\n"
    << "# TYPE yolonas_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    o << "yolonas_requests_total{path=\"" << key.first << "\",code=\"" << key.second << "\"} " << n << "\n";
  o << "# HELP yolonas_request_duration_seconds Time from request arrival to response, by path.\n"
    << "# TYPE yolonas_request_duration_seconds histogram\n";
  for (const auto& [path, h] : durations_) o << h.render("yolonas_request_duration_seconds", "path=\"" + path + "\"");
  o << "# HELP yolonas_batch_size Images per engine run (dynamic batching).\n"
    << "# TYPE yolonas_batch_size histogram\n"
    << batch_size_.render("yolonas_batch_size", "")
    << "# HELP yolonas_batch_duration_seconds Engine time per batch.\n"
    << "# TYPE yolonas_batch_duration_seconds histogram\n"
    << batch_seconds_.render("yolonas_batch_duration_seconds", "")
    << "# HELP yolonas_images_total Images run through the engine.\n"
    << "# TYPE yolonas_images_total counter\n"
    << "yolonas_images_total " << images_ << "\n"
    << "# HELP yolonas_rejected_total Requests refused before inference, by reason.\n"
    << "# TYPE yolonas_rejected_total counter\n";
  for (const auto& [reason, n] : rejected_) o << "yolonas_rejected_total{reason=\"" << reason << "\"} " << n << "\n";
  o << "# HELP yolonas_queue_depth Requests waiting for a batch.\n"
    << "# TYPE yolonas_queue_depth gauge\n"
    << "yolonas_queue_depth " << queue_depth << "\n"
    << "# HELP yolonas_in_flight Detection requests being handled.\n"
    << "# TYPE yolonas_in_flight gauge\n"
    << "yolonas_in_flight " << in_flight << "\n";
  return o.str();
}

}  // namespace yolonas::serve
