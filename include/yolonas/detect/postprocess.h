// SuperGradients' PPYoloEPostPredictionCallback, exactly (bit-for-bit on SG's own inputs):
//   multi-label: every (anchor, class) with score > conf is a candidate (single-label: max class, >=);
//   `classes` (our addition) drops other classes; more than top_k candidates -> keep the top_k by score
//   (torch.topk's CPU algorithm, so ties break as in torch); per-class NMS as torchvision 0.14 batched_nms
//   (float32 coordinate-offset trick up to 1000 candidates, per-class loop above; IoU > iou suppresses,
//   compared in double like torchvision); result in descending score order, truncated to max_det.
#pragma once
#include <vector>

#include "yolonas/detect/preprocess.h"

namespace yolonas {

struct NmsParams {
  float conf = 0.25f;
  float iou = 0.7f;
  int top_k = 1024;
  int max_det = 300;
  bool multi_label = true;
  bool agnostic = false;
  std::vector<int> classes;  // keep only these classes (empty = all); applied before NMS

  static NmsParams predict_defaults() { return {}; }                            // SG predict()
  static NmsParams valid_defaults() { return {0.01f, 0.7f, 1000, 300, true, false, {}}; }  // SG recipe validation
};

struct Detection {
  float x1, y1, x2, y2;
  float score;
  int cls;
};

// boxes: A*4 xyxy floats, scores: A*C sigmoid scores, for one image.
std::vector<Detection> postprocess(const float* boxes, const float* scores, int num_anchors, int num_classes,
                                   const NmsParams& p);

// torchvision.ops.nms on float32 boxes: indices kept, in descending score order.
std::vector<int> nms(const std::vector<float>& boxes_xyxy, const std::vector<float>& scores, float iou);

// Maps detections from network-input pixels to original-image pixels (no clipping, as SG).
void undo_letterbox(std::vector<Detection>& dets, const Letterbox& lb);

}  // namespace yolonas
