#include "yolonas/serve/batcher.h"

#include <algorithm>
#include <exception>


namespace yolonas::serve {

namespace {
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

bool Job::wait_for(double timeout_ms) {
  std::unique_lock<std::mutex> lk(m_);
  const bool ok = cv_.wait_for(lk, std::chrono::duration<double, std::milli>(timeout_ms), [&] { return done_; });
  if (!ok) abandoned_ = true;
  return ok;
}

Batcher::Batcher(InferenceEngine& engine, PreprocessParams pp, BatcherOptions options, BatchObserver observer,
                 std::function<int()> coming)
    : engine_(engine), pp_(pp), opt_(options), observer_(std::move(observer)), coming_(std::move(coming)) {
  opt_.max_batch = std::max(1, opt_.max_batch);
  opt_.max_queue = std::max(1, opt_.max_queue);
  opt_.max_wait_ms = std::max(0.0, opt_.max_wait_ms);
  thread_ = std::thread([this] { worker(); });
}

Batcher::~Batcher() { stop(); }

std::shared_ptr<Job> Batcher::submit(cv::Mat image, const NmsParams& nms) {
  auto job = std::make_shared<Job>();
  job->image = std::move(image);
  job->nms = nms;
  job->enqueued = Clock::now();
  {
    std::lock_guard<std::mutex> lk(m_);
    if (stopping_ || static_cast<int>(queue_.size()) >= opt_.max_queue) return nullptr;
    queue_.push_back(job);
  }
  cv_.notify_one();
  return job;
}

int Batcher::queue_depth() const {
  std::lock_guard<std::mutex> lk(m_);
  return static_cast<int>(queue_.size());
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Batcher::worker() {
  std::vector<std::shared_ptr<Job>> jobs;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      // Wait for company until the oldest request has waited max_wait_ms (not when stopping).
      const auto deadline =
          queue_.front()->enqueued + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double, std::milli>(opt_.max_wait_ms));
      // (coming_ is polled: a request being decoded does not notify.)
      auto enough = [&] {
        const int have = static_cast<int>(queue_.size());
        return stopping_ || have >= opt_.max_batch || (coming_ && have >= coming_());
      };
      while (!enough() && Clock::now() < deadline)
        cv_.wait_until(lk, std::min(deadline, Clock::now() + std::chrono::microseconds(500)));
      jobs.clear();
      while (!queue_.empty() && static_cast<int>(jobs.size()) < opt_.max_batch) {
        if (!queue_.front()->abandoned()) jobs.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    if (!jobs.empty()) run_batch(jobs);
  }
}

void Batcher::run_batch(std::vector<std::shared_ptr<Job>>& jobs) {
  size_t at = 0;
  for (int n : split_batch(static_cast<int>(jobs.size()), opt_.max_batch)) {
    run_engine_batch(jobs.data() + at, n, Clock::now());
    at += static_cast<size_t>(n);
  }
}

void Batcher::run_engine_batch(const std::shared_ptr<Job>* jobs, int n, Clock::time_point start) {
  std::string error;
  std::vector<ImageResult> results(static_cast<size_t>(n));
  try {
    std::vector<cv::Mat> images;
    images.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) images.push_back(jobs[i]->image);
    const PreparedBatch batch = prepare_batch(images, pp_);
    const auto t1 = Clock::now();
    engine_.run(batch.input.data(), batch.batch, batch.height, batch.width, boxes_, scores_);
    const auto t2 = Clock::now();
    const int c = engine_.num_classes();
    const size_t anchors = boxes_.size() / (4 * static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const auto p0 = Clock::now();
      ImageResult& r = results[i];
      r.detections = postprocess(boxes_.data() + i * anchors * 4, scores_.data() + i * anchors * c,
                                 static_cast<int>(anchors), c, jobs[i]->nms);
      undo_letterbox(r.detections, batch.letterboxes[i]);
      r.letterbox = batch.letterboxes[i];
      r.preprocess_ms = batch.preprocess_ms / n;
      r.inference_ms = ms_between(t1, t2) / n;
      r.postprocess_ms = ms_between(p0, Clock::now());
    }
    if (observer_) observer_(n, ms_between(t1, t2));
  } catch (const std::exception& e) {
    error = e.what();
  }
  for (int i = 0; i < n; ++i) {
    Job& j = *jobs[i];
    std::lock_guard<std::mutex> lk(j.m_);
    j.result = std::move(results[i]);
    j.error = error;
    j.queue_ms = ms_between(j.enqueued, start);
    j.batch_size = n;
    j.image.release();
    j.done_ = true;
    j.cv_.notify_all();
  }
}

std::vector<int> engine_batch_sizes(int max_batch) {
  std::vector<int> sizes;
  for (int s = 1; s <= std::max(1, max_batch); s *= 2) sizes.push_back(s);
  return sizes;
}

std::vector<int> split_batch(int n, int max_batch) {
  const std::vector<int> sizes = engine_batch_sizes(max_batch);
  std::vector<int> out;
  for (auto it = sizes.rbegin(); it != sizes.rend(); ++it)
    while (n >= *it) {
      out.push_back(*it);
      n -= *it;
    }
  return out;
}

}  // namespace yolonas::serve
