// Test-time augmentation (`augment=true` in predict, val and autolabel, as Ultralytics' augment=True;
// `augment=flip` below):
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

// `augment=flip`: the input and its mirror image go through the engine as one batch; the mirror's
// anchors are mapped back onto the anchors they mirror (cell (y, x) of a level w cells wide is cell
// (y, w - 1 - x); the input's sides must be multiples of every stride), and each anchor's scores and
// box are the mean of the two views'. One NMS then runs on one view's worth of anchors. The result is
// mirror-equivariant: a mirrored input gives the mirrored output, anchor for anchor (the mirror is
// of the letterboxed input, so a picture padded one pixel more on one side is shifted by that pixel).
// Unlike `augment=true`, which keeps every view's boxes so that a box keeps the best score any view
// gave it, an object seen in one view only gets half its score: it finds less and errs less. About
// twice one pass (20.8 ms against 10.1 for the default model at 320, oneDNN, 2 threads). Its
// buffers are members: one run at a time.
class FlipAverageEngine : public InferenceEngine {
 public:
  // strides: the model's levels, as count_anchors takes them (detect/decode.h).
  FlipAverageEngine(std::unique_ptr<InferenceEngine> inner, std::vector<int> strides);
  // Throws yolonas::Error when `width` or `height` is not a multiple of every stride.
  void run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
           std::vector<float>& scores) override;
  int num_classes() const override { return inner_->num_classes(); }
  std::string describe() const override;  // "<inner>, flip-averaged"

 private:
  std::unique_ptr<InferenceEngine> inner_;
  std::vector<int> strides_;
  std::vector<float> both_, boxes_, scores_;
};

}  // namespace yolonas
