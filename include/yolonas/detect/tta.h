// Test-time augmentation (`augment=true` in predict, val and autolabel, as Ultralytics' augment=True):
// an engine that runs another engine on several views of the batch, maps each view's boxes back to
// the input's pixels and returns all of them as one longer list of anchors, so that the usual NMS
// (detect/postprocess.h) merges the views. Ultralytics' views: the input as it is, scaled by 0.83 and
// mirrored left-right, scaled by 0.67. A scaled view is the input plane resized (bilinear) into the
// top-left corner of a canvas padded to a multiple of 32 with the letterbox's pad value.
// The arithmetic is about 1 + 0.83² + 0.67² ≈ 2.1 times one pass; measured on the default model at
// 320 with oneDNN, 2 threads: 23.4 ms a frame against 8.9 (the smaller shapes run less efficiently).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "yolonas/detect/pipeline.h"

namespace yolonas {

struct TtaView {
  double scale = 1.0;  // (0, 1]
  bool flip = false;   // mirrored left-right
};

// Ultralytics' views: {1, -}, {0.83, flipped}, {0.67, -}.
std::vector<TtaView> default_tta_views();

class TtaEngine : public InferenceEngine {
 public:
  // pad: the value of a padded input pixel as the network sees it (pad_value * scale of the
  // preprocessing). Throws yolonas::Error for no view or a scale outside (0, 1].
  TtaEngine(std::unique_ptr<InferenceEngine> inner, float pad, std::vector<TtaView> views = default_tta_views());
  void run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
           std::vector<float>& scores) override;
  int num_classes() const override { return inner_->num_classes(); }
  std::string describe() const override;  // "<inner>, TTA: 1, 0.83 mirrored, 0.67"
  InferenceEngine& inner() { return *inner_; }

 private:
  std::unique_ptr<InferenceEngine> inner_;
  float pad_;
  std::vector<TtaView> views_;
};

}  // namespace yolonas
