// Dynamic batching for the server, as Triton's dynamic batcher does it: requests wait in a bounded
// queue; one worker takes the oldest and waits at most max_wait_ms (counted from that request's
// arrival) for more, up to max_batch, then runs them as one batch through the engine. Every request
// keeps its own NMS parameters (conf, iou, classes, max_det): the network runs once per batch, the
// post-processing once per image.
//
//   Batcher b(engine, preprocessing, {8, 5.0, 64});
//   auto job = b.submit(image, nms);            // nullptr: the queue is full (answer 503)
//   if (job->wait_for(30000)) use(job->result); // else abandon: the worker skips it if not started
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>

#include "yolonas/detect/pipeline.h"

namespace yolonas::serve {

struct BatcherOptions {
  int max_batch = 8;        // 1 = no batching
  double max_wait_ms = 5;   // how long the oldest request waits for company
  int max_queue = 64;       // requests waiting (not yet running); submit() refuses beyond
};

using Clock = std::chrono::steady_clock;

// A batch of n requests runs as engine batches of powers of two, largest first (7 -> 4 + 2 + 1), so
// the engine only ever sees the sizes engine_batch_sizes(max_batch) = {1, 2, 4, ...} <= max_batch:
// it keeps one set of primitives and buffers per size (a batch size of each of 1..8 would hold 36
// images' worth of activations; 1, 2, 4, 8 hold 15).
std::vector<int> split_batch(int n, int max_batch);
std::vector<int> engine_batch_sizes(int max_batch);

class Job {
 public:
  cv::Mat image;  // 8-bit BGR, gray or BGRA
  NmsParams nms;
  Clock::time_point enqueued;

  // Filled by the worker before it signals.
  ImageResult result;
  std::string error;         // non-empty: the batch failed (message for a 500)
  double queue_ms = 0;       // arrival -> batch start
  int batch_size = 0;        // the engine batch this request ran in

  // Blocks until done or until timeout_ms; false on timeout (the job is then abandoned: a worker
  // that has not started it drops it).
  bool wait_for(double timeout_ms);
  bool abandoned() const { return abandoned_.load(); }

 private:
  friend class Batcher;
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> abandoned_{false};
};

// Called after every engine batch (metrics): its size and the engine's wall time for it.
using BatchObserver = std::function<void(int batch_size, double batch_ms)>;

class Batcher {
 public:
  // `engine` must outlive the batcher. One worker thread runs the batches. `coming`, when given,
  // tells how many requests are on their way (being decoded, queued or running): the worker stops
  // waiting for company as soon as the queue holds them all, so a lone request never waits
  // max_wait_ms for nobody.
  Batcher(InferenceEngine& engine, PreprocessParams pp, BatcherOptions options, BatchObserver observer = {},
          std::function<int()> coming = {});
  ~Batcher();  // stop(): finishes what is queued
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // nullptr when max_queue requests are already waiting or the batcher is stopping.
  std::shared_ptr<Job> submit(cv::Mat image, const NmsParams& nms);
  // Requests queued and not yet running.
  int queue_depth() const;
  // Refuses new work, runs what is queued, joins the worker. Idempotent.
  void stop();
  const BatcherOptions& options() const { return opt_; }

 private:
  void worker();
  void run_batch(std::vector<std::shared_ptr<Job>>& jobs);
  void run_engine_batch(const std::shared_ptr<Job>* jobs, int n, Clock::time_point start);

  InferenceEngine& engine_;
  PreprocessParams pp_;
  BatcherOptions opt_;
  BatchObserver observer_;
  std::function<int()> coming_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::vector<float> boxes_, scores_;
};

}  // namespace yolonas::serve
