// SuperGradients' PPYoloELoss (sg/training/losses/ppyolo_loss.py, SG 3.7.1) and its two label
// assigners, in LibTorch ops so autograd gives the training gradients. Every step follows SG's
// operation order where it changes float32 results (see src/loss.cpp), so the loss components match
// SG to ~1e-6 relative and the assignments exactly.
//
// Shapes: B images, A anchors, C classes, n = most gt boxes in one image of the batch (zero-padded).
#pragma once
#include <torch/torch.h>

#include <functional>

#include "yolonas/model/decode_torch.h"  // dfl_decode: SG PPYoloELoss._bbox_decode

#include <vector>

#include "yolonas/model/model.h"

namespace yolonas {

// Ground truths of a batch, per image, zero-padded to the largest count (SG _yolox_targets_to_ppyolo).
struct GtBatch {
  torch::Tensor labels;    // [B,n,1] int64 (0 in padding rows)
  torch::Tensor bboxes;    // [B,n,4] float xyxy, input pixels (0 in padding rows)
  torch::Tensor pad_mask;  // [B,n,1] float, 1 = real box. SG: (x1+y1+x2+y2) > 0, so a box whose
                           // coordinates sum to <= 0 is treated as padding, as in SG
};

// targets: [M,6] rows (image_index, class, cx, cy, w, h) in input pixels (SG's LABEL_CXCYWH collate
// layout). Rows whose image_index is outside [0, batch_size) are ignored. M may be 0.
GtBatch targets_to_gt_batch(const torch::Tensor& targets, int64_t batch_size);

struct Assignment {
  torch::Tensor labels;  // [B,A] int64, bg_index where the anchor is background
  torch::Tensor bboxes;  // [B,A,4] xyxy pixels (background anchors hold the image's first gt box, as SG)
  torch::Tensor scores;  // [B,A,C] soft targets: one-hot(label) * IoU-based quality, 0 for background
};

// TOOD task-aligned assigner (SG TaskAlignedAssigner): per gt, the `topk` anchors with the largest
// score^alpha * IoU^beta among those whose centre lies strictly inside the gt; an anchor claimed by
// several gts goes to the gt with the highest IoU; scores = alignment normalized per gt to its best IoU.
// No gradient flows (SG runs it under no_grad); inputs are detached.
struct TaskAlignedAssigner {
  int topk = 13;
  double alpha = 1.0;
  double beta = 6.0;
  double eps = 1e-9;

  // pred_scores [B,A,C] probabilities (sigmoid), pred_bboxes [B,A,4] xyxy px, anchor_points [A,2] px.
  Assignment operator()(const torch::Tensor& pred_scores, const torch::Tensor& pred_bboxes,
                        const torch::Tensor& anchor_points, const GtBatch& gt, int64_t bg_index) const;
};

// ATSS (SG ATSSAssigner, the "static" assigner): candidates = the `topk` anchors per pyramid level
// whose centres are closest to the gt centre; positives = candidates with IoU(gt, anchor box) above
// mean + std (unbiased) of the candidates' IoUs and centre inside the gt; ties -> highest IoU.
// scores = one-hot, times IoU(gt, predicted box) when pred_bboxes is given (as PPYoloELoss does).
struct ATSSAssigner {
  int topk = 9;
  double eps = 1e-9;

  // anchors [A,4] xyxy px (5*stride boxes), num_anchors_list = anchors per level, pred_bboxes
  // [B,A,4] px or an undefined tensor.
  Assignment operator()(const torch::Tensor& anchors, const std::vector<int64_t>& num_anchors_list,
                        const GtBatch& gt, int64_t bg_index, int64_t num_classes,
                        const torch::Tensor& pred_bboxes = {}) const;
};

struct PPYoloELossOptions {
  int64_t num_classes = 80;
  bool use_varifocal_loss = true;
  // false = TaskAlignedAssigner (every YOLO-NAS recipe); true = ATSS (SG's class default, used by
  // the PP-YOLOE recipes for their first epochs).
  bool use_static_assigner = false;
  double classification_loss_weight = 1.0;
  double iou_loss_weight = 2.5;
  double dfl_loss_weight = 0.5;
  // Multi-process training: the normalizer (the sum of the assigned scores) summed over the ranks
  // in place, as SG all-reduces it; then max(sum, 1) / world_size (SG clamps after dividing: see
  // loss.cpp). Unset: one process.
  std::function<void(torch::Tensor&)> allreduce_sum;
  int world_size = 1;
};

struct LossResult {
  torch::Tensor loss;        // scalar, differentiable: cls + iou + dfl (weights applied)
  torch::Tensor components;  // [4] detached: loss_cls, loss_iou, loss_dfl, loss (SG's log_losses)
  Assignment assignment;     // what the assigner returned (pixels), for inspection
  torch::Tensor assigned_scores_sum;  // max(sum of assigned scores, 1): the normalizer
};

class PPYoloELoss {
 public:
  explicit PPYoloELoss(PPYoloELossOptions opt = {}) : opt_(opt) {}
  // Uses out.cls_logits, reg_distri, anchors, anchor_points, stride_tensor, num_anchors_list
  // (train-mode outputs of YoloNAS::forward). targets: [M,6] as in targets_to_gt_batch.
  // ignore (optional, our extension; SG has none): [K,6] rows in the same layout, regions whose
  // anchors get no classification loss unless the assigner made them positive. An anchor counts as
  // inside when its point is (the assigner's rule). Undefined or empty: SG's loss, unchanged.
  LossResult operator()(const YoloNASOutput& out, const torch::Tensor& targets,
                        const torch::Tensor& ignore = {}) const;
  const PPYoloELossOptions& options() const { return opt_; }

 private:
  PPYoloELossOptions opt_;
};

}  // namespace yolonas
