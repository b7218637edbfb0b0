// PPYoloELoss and its assigners, after SG 3.7.1 (see include/yolonas/loss.h and
// ../shared/docs/YOLO_NAS_SPEC.md §6.1). Float32 results depend on operation order, so the
// arithmetic below keeps SG's order (where eps is added, what is multiplied first, which torch
// kernel reduces), and ties (topk, argmax) are broken by the same torch kernels on same-shaped inputs.
#include "yolonas/train/loss.h"

#include <algorithm>

#include "yolonas/core/error.h"

namespace yolonas {

namespace {

using torch::Tensor;
namespace F = torch::nn::functional;

// IoU of every gt with every box: gt [B,n,4], boxes [B,L,4] or [L,4] -> [B,n,L].
// SG: union = area_gt + area_box - overlap + eps; widths clipped at 0 (also for the areas).
Tensor pairwise_iou(const Tensor& gt, const Tensor& boxes, double eps) {
  auto g = gt.unsqueeze(-2);     // [B,n,1,4]
  auto b = boxes.unsqueeze(-3);  // [B,1,L,4] or [1,L,4]
  auto g1 = g.narrow(-1, 0, 2), g2 = g.narrow(-1, 2, 2);
  auto b1 = b.narrow(-1, 0, 2), b2 = b.narrow(-1, 2, 2);
  auto overlap = (torch::minimum(g2, b2) - torch::maximum(g1, b1)).clamp_min(0).prod(-1);
  auto area_g = (g2 - g1).clamp_min(0).prod(-1);
  auto area_b = (b2 - b1).clamp_min(0).prod(-1);
  return overlap / (area_g + area_b - overlap + eps);
}

// 1 where the point lies strictly inside the gt (min of the 4 distances > eps): points [L,2],
// gt [B,n,4] -> [B,n,L] float.
Tensor points_inside(const Tensor& points, const Tensor& gt, double eps = 1e-9) {
  auto x = points.select(-1, 0), y = points.select(-1, 1);  // [L]
  auto b = gt.unsqueeze(2);                                 // [B,n,1,4]
  auto delta = torch::stack({x - b.select(-1, 0), y - b.select(-1, 1), b.select(-1, 2) - x, b.select(-1, 3) - y}, -1);
  return (std::get<0>(delta.min(-1)) > eps).to(gt.scalar_type());
}

Tensor box_centers(const Tensor& boxes) {
  return torch::stack({(boxes.select(-1, 0) + boxes.select(-1, 2)) / 2, (boxes.select(-1, 1) + boxes.select(-1, 3)) / 2}, -1);
}

// The steps both assigners share once they have `mask_positive` [B,n,L] (0/1 float):
// an anchor claimed by several gts keeps only the gt with the largest `ious` (argmax over all n,
// padding included, as SG), then labels/boxes are gathered from the assigned gt.
// Returns the final mask_positive and fills labels, bboxes and the int64 one-hot scores (bg column
// removed) that each assigner then weights by its quality measure.
Tensor resolve_and_gather(Tensor mask_positive, const Tensor& ious, const GtBatch& gt, int64_t bg_index,
                          int64_t num_classes, Assignment& out) {
  const int64_t n = gt.bboxes.size(1);
  auto pos_sum = mask_positive.sum(-2);  // [B,L]
  auto multiple = (pos_sum.unsqueeze(1) > 1).expand_as(mask_positive);
  auto is_max_iou = F::one_hot(ious.argmax(-2), n).permute({0, 2, 1}).to(ious.scalar_type());
  mask_positive = torch::where(multiple, is_max_iou, mask_positive);
  pos_sum = mask_positive.sum(-2);

  auto gt_index = mask_positive.argmax(-2);  // [B,L]; 0 (first gt) for background anchors
  out.labels = torch::gather(gt.labels.squeeze(-1), 1, gt_index);
  out.labels = torch::where(pos_sum > 0, out.labels, torch::full_like(out.labels, bg_index));
  out.bboxes = torch::gather(gt.bboxes, 1, gt_index.unsqueeze(-1).expand({-1, -1, 4}));

  // one_hot over C+1 classes, then drop the background column.
  auto one_hot = F::one_hot(out.labels, num_classes + 1);
  std::vector<int64_t> keep;
  for (int64_t c = 0; c <= num_classes; ++c)
    if (c != bg_index) keep.push_back(c);
  out.scores = one_hot.index_select(-1, torch::tensor(keep, torch::dtype(torch::kLong).device(one_hot.device())));
  return mask_positive;
}

// No gt in the whole batch (n == 0): every anchor is background.
Assignment all_background(int64_t B, int64_t A, int64_t C, int64_t bg_index, const torch::TensorOptions& f) {
  return {torch::full({B, A}, bg_index, f.dtype(torch::kLong)), torch::zeros({B, A, 4}, f), torch::zeros({B, A, C}, f)};
}

// GIoU loss per row (SG GIoULoss, reduction none, eps 1e-10 on union and enclosing area).
Tensor giou_loss(const Tensor& p, const Tensor& g, double eps = 1e-10) {
  auto pc = p.chunk(4, -1), gc = g.chunk(4, -1);
  const auto &x1 = pc[0], &y1 = pc[1], &x2 = pc[2], &y2 = pc[3];
  const auto &x1g = gc[0], &y1g = gc[1], &x2g = gc[2], &y2g = gc[3];
  auto w_inter = (torch::minimum(x2, x2g) - torch::maximum(x1, x1g)).clamp_min(0);
  auto h_inter = (torch::minimum(y2, y2g) - torch::maximum(y1, y1g)).clamp_min(0);
  auto overlap = w_inter * h_inter;
  auto area1 = (x2 - x1) * (y2 - y1);
  auto area2 = (x2g - x1g) * (y2g - y1g);
  auto uni = area1 + area2 - overlap + eps;
  auto iou = overlap / uni;
  auto area_c = (torch::maximum(x2, x2g) - torch::minimum(x1, x1g)) * (torch::maximum(y2, y2g) - torch::minimum(y1, y1g)) + eps;
  return 1 - (iou - ((area_c - uni) / area_c));
}

// Distribution focal loss per row: pred [P,4,R+1] logits, target [P,4] in [0, R-0.01] -> [P,1].
// The target splits between its two neighbouring bins with linear weights.
Tensor df_loss(const Tensor& pred, const Tensor& target) {
  auto left = target.to(torch::kLong);  // truncation = floor (targets are >= 0)
  auto right = left + 1;
  auto w_left = right.to(target.scalar_type()) - target;
  auto w_right = 1 - w_left;
  auto logits = pred.movedim(-1, 1);  // class dim at 1, as F.cross_entropy wants: [P,R+1,4]
  auto ce = [&](const Tensor& t) { return F::cross_entropy(logits, t, F::CrossEntropyFuncOptions().reduction(torch::kNone)); };
  return (ce(left) * w_left + ce(right) * w_right).mean(-1, /*keepdim=*/true);
}

}  // namespace

GtBatch targets_to_gt_batch(const torch::Tensor& targets, int64_t batch_size) {
  if (targets.defined() && targets.numel() > 0 && (targets.dim() != 2 || targets.size(1) != 6))
    throw Error("loss targets must be [M,6] rows (image_index, class, cx, cy, w, h), got shape " +
                c10::str(targets.sizes()));
  auto t = (targets.defined() && targets.numel() > 0) ? targets.to(torch::kFloat32)
                                                        : torch::zeros({0, 6}, torch::kFloat32);
  auto image_index = t.select(1, 0);
  auto cls = t.narrow(1, 1, 1).to(torch::kLong);
  // SG cxcywh_to_xyxy: x1 = cx - 0.5*w, x2 = x1 + w (not cx + w/2).
  auto cx = t.select(1, 2), cy = t.select(1, 3), w = t.select(1, 4), h = t.select(1, 5);
  auto x1 = cx - 0.5 * w, y1 = cy - 0.5 * h;
  auto xyxy = torch::stack({x1, y1, x1 + w, y1 + h}, -1);

  std::vector<Tensor> labels, boxes;
  int64_t n = 0;
  for (int64_t i = 0; i < batch_size; ++i) {
    auto m = image_index == static_cast<double>(i);
    labels.push_back(cls.index({m}));
    boxes.push_back(xyxy.index({m}));
    n = std::max(n, labels.back().size(0));
  }
  GtBatch gt;
  for (int64_t i = 0; i < batch_size; ++i) {  // zero rows at the bottom, as SG's F.pad
    labels[i] = F::pad(labels[i], F::PadFuncOptions({0, 0, 0, n - labels[i].size(0)}));
    boxes[i] = F::pad(boxes[i], F::PadFuncOptions({0, 0, 0, n - boxes[i].size(0)}));
  }
  gt.labels = torch::stack(labels);
  gt.bboxes = torch::stack(boxes);
  gt.pad_mask = (gt.bboxes.sum(-1, /*keepdim=*/true) > 0).to(torch::kFloat32);
  return gt;
}

Assignment TaskAlignedAssigner::operator()(const torch::Tensor& pred_scores_in, const torch::Tensor& pred_bboxes_in,
                                           const torch::Tensor& anchor_points, const GtBatch& gt,
                                           int64_t bg_index) const {
  torch::NoGradGuard no_grad;
  auto pred_scores = pred_scores_in.detach(), pred_bboxes = pred_bboxes_in.detach();
  const int64_t B = pred_scores.size(0), A = pred_scores.size(1), C = pred_scores.size(2);
  const int64_t n = gt.bboxes.size(1);
  if (n == 0) return all_background(B, A, C, bg_index, pred_scores.options());

  auto ious = pairwise_iou(gt.bboxes, pred_bboxes, 1e-9);  // [B,n,A]
  // score of each gt's class at every anchor: [B,n,A]
  auto cls_scores = torch::gather(pred_scores.permute({0, 2, 1}), 1, gt.labels.expand({B, n, A}));
  auto alignment = cls_scores.pow(alpha) * ious.pow(beta);
  auto in_gts = points_inside(anchor_points, gt.bboxes);

  // topk over all anchors of alignment restricted to anchors inside the gt; padded gts select nothing.
  auto topk_idx = std::get<1>((alignment * in_gts).topk(std::min<int64_t>(topk, A), -1));
  auto in_topk = torch::zeros_like(alignment).scatter_(-1, topk_idx, 1.0) * gt.pad_mask;
  auto mask_positive = in_topk * in_gts * gt.pad_mask;

  Assignment out;
  mask_positive = resolve_and_gather(mask_positive, ious, gt, bg_index, C, out);

  // Soft targets: alignment of the positives, rescaled per gt so that its best anchor gets the
  // gt's best IoU; per anchor the max over gts.
  alignment = alignment * mask_positive;
  auto max_metric = std::get<0>(alignment.max(-1, /*keepdim=*/true));
  auto max_iou = std::get<0>((ious * mask_positive).max(-1, /*keepdim=*/true));
  alignment = alignment / (max_metric + eps) * max_iou;
  out.scores = out.scores * std::get<0>(alignment.max(-2)).unsqueeze(-1);
  return out;
}

Assignment ATSSAssigner::operator()(const torch::Tensor& anchors_in, const std::vector<int64_t>& num_anchors_list,
                                    const GtBatch& gt, int64_t bg_index, int64_t num_classes,
                                    const torch::Tensor& pred_bboxes) const {
  torch::NoGradGuard no_grad;
  auto anchors = anchors_in.detach();
  const int64_t A = anchors.size(0), B = gt.bboxes.size(0), n = gt.bboxes.size(1);
  if (n == 0) return all_background(B, A, num_classes, bg_index, anchors.options());

  auto ious = pairwise_iou(gt.bboxes, anchors, 1e-10);  // [B,n,A], SG iou_similarity (eps 1e-10)
  auto gt_centers = box_centers(gt.bboxes.reshape({-1, 4})).unsqueeze(1);  // [B*n,1,2]
  auto anchor_centers = box_centers(anchors);                             // [A,2]
  auto dist = torch::linalg_vector_norm(gt_centers - anchor_centers.unsqueeze(0), 2, c10::IntArrayRef{-1}, false, c10::nullopt)
                  .reshape({B, n, A});

  // Per level, the topk anchors closest to each gt centre.
  auto in_topk = torch::zeros_like(dist);
  std::vector<Tensor> topk_idx;
  int64_t start = 0;
  for (int64_t na : num_anchors_list) {
    auto idx = std::get<1>(dist.narrow(-1, start, na).topk(std::min<int64_t>(topk, na), -1, /*largest=*/false)) + start;
    in_topk.scatter_(-1, idx, 1.0);
    topk_idx.push_back(idx);
    start += na;
  }
  if (start != A) throw Error("ATSSAssigner: num_anchors_list does not add up to the anchor count");
  in_topk = in_topk * gt.pad_mask;

  // Adaptive threshold per gt: mean + std (unbiased) of the candidates' IoUs.
  auto iou_cand = ious * in_topk;
  auto cand = torch::gather(iou_cand, -1, torch::cat(topk_idx, -1));
  auto threshold = cand.mean(-1, /*keepdim=*/true) + cand.std(-1, /*unbiased=*/true, /*keepdim=*/true);
  in_topk = torch::where(iou_cand > threshold, in_topk, torch::zeros_like(in_topk));

  auto mask_positive = in_topk * points_inside(anchor_centers, gt.bboxes) * gt.pad_mask;

  Assignment out;
  mask_positive = resolve_and_gather(mask_positive, ious, gt, bg_index, num_classes, out);
  out.scores = out.scores.to(anchors.scalar_type());
  if (pred_bboxes.defined()) {  // quality = IoU(gt, predicted box) of the positive pair
    auto q = pairwise_iou(gt.bboxes, pred_bboxes.detach(), 1e-9) * mask_positive;
    out.scores = out.scores * std::get<0>(q.max(-2)).unsqueeze(-1);
  }
  return out;
}

LossResult PPYoloELoss::operator()(const YoloNASOutput& out, const torch::Tensor& targets,
                                   const torch::Tensor& ignore) const {
  const auto& logits = out.cls_logits;  // [B,A,C]
  const auto& reg = out.reg_distri;     // [B,A,4*(R+1)]
  const int64_t B = logits.size(0), C = opt_.num_classes;
  if (logits.size(2) != C)
    throw Error("PPYoloELoss: model has " + std::to_string(logits.size(2)) + " classes, loss expects " + std::to_string(C));
  const int64_t reg_max = reg.size(2) / 4 - 1;  // SG infers it from the channel count
  const auto& stride = out.stride_tensor;       // [A,1]

  GtBatch gt = targets_to_gt_batch(targets, B);
  gt.labels = gt.labels.to(logits.device());
  gt.bboxes = gt.bboxes.to(logits.device());
  gt.pad_mask = gt.pad_mask.to(logits.device());

  auto anchor_points_s = out.anchor_points / stride;
  auto pred_bboxes = dfl_decode(reg, anchor_points_s);  // stride units, differentiable

  LossResult r;
  auto pred_px = pred_bboxes.detach() * stride;
  if (opt_.use_static_assigner)
    r.assignment = ATSSAssigner{}(out.anchors, out.num_anchors_list, gt, C, C, pred_px);
  else
    r.assignment = TaskAlignedAssigner{}(logits.detach().sigmoid(), pred_px, out.anchor_points, gt, C);
  const auto& labels = r.assignment.labels;
  const auto& scores = r.assignment.scores;
  auto assigned_bboxes = r.assignment.bboxes / stride;  // stride units, like pred_bboxes

  // Ignore regions: background anchors whose point lies in one get no classification loss.
  Tensor keep;  // [B,A,1] float, 0 = exempt; undefined = every anchor counts (SG)
  if (ignore.defined() && ignore.size(0) > 0) {
    GtBatch ig = targets_to_gt_batch(ignore, B);
    const Tensor boxes = ig.bboxes.to(logits.device()), valid = ig.pad_mask.to(logits.device());
    const Tensor inside = (points_inside(out.anchor_points, boxes) * valid).amax(1);  // [B,A]
    keep = (1 - inside * (labels == C).to(inside.scalar_type())).unsqueeze(-1);
  }

  // Classification. Varifocal: negatives weighted by 0.75*p^2, positives by their soft target
  // (the weight is not detached, as in SG).
  Tensor loss_cls;
  if (opt_.use_varifocal_loss) {
    auto one_hot = F::one_hot(labels, C + 1).narrow(-1, 0, C);
    auto weight = 0.75 * logits.sigmoid().pow(2.0) * (1 - one_hot) + scores * one_hot;
    if (keep.defined()) weight = weight * keep;
    loss_cls = (F::binary_cross_entropy_with_logits(logits, scores, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone)) * weight).sum();
  } else {  // focal loss; SG uses alpha 0.25 with ATSS and none (-1) with TAL
    const double alpha = opt_.use_static_assigner ? 0.25 : -1.0;
    auto weight = (logits.sigmoid() - scores).pow(2.0);
    if (alpha > 0) weight = weight * (alpha * scores + (1 - alpha) * (1 - scores));
    if (keep.defined()) weight = weight * keep;
    loss_cls = (-weight * (scores * F::logsigmoid(logits) + (1 - scores) * F::logsigmoid(-logits))).sum();
  }

  Tensor scores_sum = scores.sum();
  if (opt_.allreduce_sum) {
    // Over the ranks: max(global sum, 1) / world_size, so that the mean of the ranks' losses (and of
    // their gradients) is the single-process loss of the global batch. SG clamps after the division
    // (max(global / world_size, 1)), which differs while the global sum is below world_size (early
    // training): the mean loss is then not the single-process one.
    scores_sum = scores_sum.detach().clone();
    opt_.allreduce_sum(scores_sum);
    scores_sum = scores_sum.clamp_min(1.0) / opt_.world_size;
  } else {
    scores_sum = scores_sum.clamp_min(1.0);
  }
  loss_cls = loss_cls / scores_sum;

  // Box regression on positives, each weighted by its soft target (sum over classes).
  Tensor loss_iou, loss_dfl;
  auto pos = labels != C;  // [B,A]
  if (pos.sum().item<int64_t>() > 0) {
    auto bbox_weight = scores.sum(-1).index({pos}).unsqueeze(-1);  // [P,1]
    loss_iou = (giou_loss(pred_bboxes.index({pos}), assigned_bboxes.index({pos})) * bbox_weight).sum() / scores_sum;

    auto xy1 = assigned_bboxes.narrow(-1, 0, 2), xy2 = assigned_bboxes.narrow(-1, 2, 2);
    auto ltrb = torch::cat({anchor_points_s - xy1, xy2 - anchor_points_s}, -1).clamp(0, reg_max - 0.01);
    auto dist_pos = reg.index({pos}).reshape({-1, 4, reg_max + 1});
    loss_dfl = (df_loss(dist_pos, ltrb.index({pos})) * bbox_weight).sum() / scores_sum;
  } else {
    loss_iou = torch::zeros({}, logits.options());
    loss_dfl = reg.sum() * 0.0;  // keeps reg_distri in the graph with a zero gradient, as SG
  }

  loss_cls = opt_.classification_loss_weight * loss_cls;
  loss_iou = opt_.iou_loss_weight * loss_iou;
  loss_dfl = opt_.dfl_loss_weight * loss_dfl;
  r.loss = loss_cls + loss_iou + loss_dfl;
  r.components = torch::stack({loss_cls.detach(), loss_iou.detach(), loss_dfl.detach(), r.loss.detach()});
  r.assigned_scores_sum = scores_sum.detach();
  return r;
}

}  // namespace yolonas
