#include "yolonas/detect/pipeline.h"

#include <chrono>

#include "yolonas/core/error.h"

namespace yolonas {
namespace {

using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

PreparedBatch prepare_batch(const std::vector<cv::Mat>& images, const PreprocessParams& pp) {
  const auto t0 = Clock::now();
  PreparedBatch b;
  b.batch = static_cast<int>(images.size());
  b.height = pp.input_h;
  b.width = pp.input_w;
  const size_t per_image = static_cast<size_t>(3) * pp.input_h * pp.input_w;
  b.input.resize(per_image * images.size());
  b.letterboxes.resize(images.size());
  for (size_t i = 0; i < images.size(); ++i)
    b.letterboxes[i] = preprocess_image(images[i], pp, b.input.data() + i * per_image);
  b.preprocess_ms = ms_between(t0, Clock::now());
  return b;
}

std::vector<ImageResult> detect_prepared(InferenceEngine& engine, const PreparedBatch& batch, const NmsParams& nms) {
  std::vector<ImageResult> results(static_cast<size_t>(batch.batch));
  if (batch.batch == 0) return results;
  const auto t0 = Clock::now();
  std::vector<float> boxes, scores;
  engine.run(batch.input.data(), batch.batch, batch.height, batch.width, boxes, scores);
  const auto t1 = Clock::now();
  const int C = engine.num_classes();
  const size_t A = boxes.size() / (4 * static_cast<size_t>(batch.batch));
  if (C <= 0 || A * 4 * batch.batch != boxes.size() || A * C * batch.batch != scores.size())
    throw Error("detect: the engine returned " + std::to_string(boxes.size()) + " box values and " +
                std::to_string(scores.size()) + " scores for a batch of " + std::to_string(batch.batch));
  for (size_t i = 0; i < results.size(); ++i) {
    results[i].letterbox = batch.letterboxes[i];
    results[i].detections = postprocess(boxes.data() + i * A * 4, scores.data() + i * A * C, static_cast<int>(A), C, nms);
    undo_letterbox(results[i].detections, results[i].letterbox);
  }
  const auto t2 = Clock::now();
  const double n = batch.batch;
  for (ImageResult& r : results) {
    r.preprocess_ms = batch.preprocess_ms / n;
    r.inference_ms = ms_between(t0, t1) / n;
    r.postprocess_ms = ms_between(t1, t2) / n;
  }
  return results;
}

std::vector<ImageResult> detect_images(InferenceEngine& engine, const std::vector<cv::Mat>& images,
                                       const PreprocessParams& pp, const NmsParams& nms) {
  if (images.empty()) return {};
  return detect_prepared(engine, prepare_batch(images, pp), nms);
}

}  // namespace yolonas
