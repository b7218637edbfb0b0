// The detection pipeline, once for every engine and every caller (the Detector, `yolonas val`,
// training-time validation):
//   images -> preprocess (preprocess.h) -> engine (decoded boxes + scores) -> NMS (postprocess.h)
//          -> boxes back to original-image pixels.
// An engine is anything that maps the preprocessed batch to decoded outputs: the LibTorch model
// (model/engines.h), the oneDNN runtime in FP32 or INT8 (runtime/onednn_engine.h).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "yolonas/detect/postprocess.h"
#include "yolonas/detect/preprocess.h"

namespace yolonas {

class InferenceEngine {
 public:
  virtual ~InferenceEngine() = default;
  // input: batch x 3 x height x width floats (NCHW, as preprocess_image writes them). Outputs
  // (resized): boxes batch x A x 4 (x1 y1 x2 y2, input pixels), scores batch x A x num_classes
  // (sigmoid); A = count_anchors(height, width, strides) (detect/decode.h).
  virtual void run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
                   std::vector<float>& scores) = 0;
  virtual int num_classes() const = 0;
  // "oneDNN FP32", "oneDNN INT8 (calibrated on 32 images)", "LibTorch (cpu)", ...
  virtual std::string describe() const = 0;
};

struct ImageResult {
  std::vector<Detection> detections;  // original-image pixels, descending score
  Letterbox letterbox;
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;  // per image (batch time / batch size)
};

// A batch ready for an engine: the CHW floats of every image and where each sits in the input.
struct PreparedBatch {
  int batch = 0, height = 0, width = 0;
  std::vector<float> input;  // batch x 3 x height x width
  std::vector<Letterbox> letterboxes;
  double preprocess_ms = 0;  // whole batch
};

// Preprocesses the images (8-bit BGR, gray or BGRA) for the network.
PreparedBatch prepare_batch(const std::vector<cv::Mat>& images, const PreprocessParams& pp);

// Runs the engine on a prepared batch, then NMS per image and the boxes back to original pixels.
std::vector<ImageResult> detect_prepared(InferenceEngine& engine, const PreparedBatch& batch, const NmsParams& nms);

// prepare_batch + detect_prepared.
std::vector<ImageResult> detect_images(InferenceEngine& engine, const std::vector<cv::Mat>& images,
                                       const PreprocessParams& pp, const NmsParams& nms);

}  // namespace yolonas
