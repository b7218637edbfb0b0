// SuperGradients' PPYoloEPostPredictionCallback on top of torchvision 0.14 / torch 1.13 CPU semantics.
// Every step reproduces the float32 arithmetic *and* the ordering rules of the Python code, because
// the order of candidates decides NMS outcomes and the rounding of the batched_nms coordinate offsets
// changes IoUs near the threshold.
#include "yolonas/detect/postprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>

#include "yolonas/core/error.h"

// Torch rounds every intermediate tensor to float32 (label * span, box + offset, areas - inter). A fused
// multiply-add (GCC contracts across statements by default when the target has FMA, e.g. -march=native)
// would skip a rounding and change IoUs near the threshold, so forbid contraction in this file.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace yolonas {
namespace {

struct Candidate {
  int anchor;
  float score;
  int cls;
};

// A (key, original position) pair, the element type torch's CPU sort/topk kernels work on.
using Keyed = std::pair<float, int64_t>;

// torch's descending comparator: NaN first, then larger values (KeyValueCompDesc / topk's lambda).
bool desc_nan_first(const Keyed& a, const Keyed& b) {
  return (std::isnan(a.first) && !std::isnan(b.first)) || (a.first > b.first);
}

std::vector<Keyed> keyed(const std::vector<float>& v) {
  std::vector<Keyed> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = {v[i], static_cast<int64_t>(i)};
  return out;
}

// torch 1.13 `Tensor.sort(0, descending=True)` on CPU (stable=False): std::sort of (value, index) pairs.
// Using the same libstdc++ algorithm on the same sequence reproduces torch's order even for equal scores.
std::vector<int64_t> torch_sort_desc(const std::vector<float>& v) {
  std::vector<Keyed> q = keyed(v);
  std::sort(q.begin(), q.end(), desc_nan_first);
  std::vector<int64_t> order(q.size());
  for (size_t i = 0; i < q.size(); ++i) order[i] = q[i].second;
  return order;
}

// torch 1.13 `torch.topk(v, k, largest=True, sorted=True)` on CPU (ATen topk_impl_loop): partial_sort when
// k*64 <= n, else nth_element then a sort of the first k-1. Replicated for identical tie-breaking.
std::vector<int64_t> torch_topk_desc(const std::vector<float>& v, int64_t k) {
  std::vector<Keyed> q = keyed(v);
  const int64_t n = static_cast<int64_t>(q.size());
  k = std::min(k, n);
  if (k <= 0) return {};
  if (k * 64 <= n) {
    std::partial_sort(q.begin(), q.begin() + k, q.end(), desc_nan_first);
  } else {
    std::nth_element(q.begin(), q.begin() + (k - 1), q.end(), desc_nan_first);
    std::sort(q.begin(), q.begin() + (k - 1), desc_nan_first);
  }
  std::vector<int64_t> idx(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) idx[i] = q[i].second;
  return idx;
}

// torchvision's nms kernel takes the threshold as a C++ double (from the Python float) and compares
// `float_iou > double_threshold`. NmsParams stores a float, so recover the decimal the user wrote (the
// shortest decimal that rounds to this float, e.g. 0.4f -> 0.4). Comparing against 0.4f itself would
// keep a pair whose float IoU is exactly 0.4f (= 0.40000000596), which torch suppresses.
double python_threshold(float f) {
  if (!std::isfinite(f)) return static_cast<double>(f);
  char buf[32];
  for (int prec = 1; prec <= 9; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, static_cast<double>(f));
    const double d = std::strtod(buf, nullptr);
    if (static_cast<float>(d) == f) return d;
  }
  return static_cast<double>(f);
}

// The CPU nms kernel (torchvision/csrc/ops/cpu/nms_kernel.cpp), float32 throughout.
std::vector<int> nms_kernel(const std::vector<float>& b, const std::vector<float>& scores, double iou_thr) {
  const size_t n = scores.size();
  std::vector<float> areas(n);
  for (size_t i = 0; i < n; ++i) areas[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
  const std::vector<int64_t> order = torch_sort_desc(scores);
  std::vector<char> suppressed(n, 0);
  std::vector<int> keep;
  for (size_t oi = 0; oi < n; ++oi) {
    const int64_t i = order[oi];
    if (suppressed[i]) continue;
    keep.push_back(static_cast<int>(i));
    const float ix1 = b[4 * i], iy1 = b[4 * i + 1], ix2 = b[4 * i + 2], iy2 = b[4 * i + 3];
    const float iarea = areas[i];
    for (size_t oj = oi + 1; oj < n; ++oj) {
      const int64_t j = order[oj];
      if (suppressed[j]) continue;
      const float xx1 = std::max(ix1, b[4 * j]);
      const float yy1 = std::max(iy1, b[4 * j + 1]);
      const float xx2 = std::min(ix2, b[4 * j + 2]);
      const float yy2 = std::min(iy2, b[4 * j + 3]);
      const float w = std::max(0.0f, xx2 - xx1);
      const float h = std::max(0.0f, yy2 - yy1);
      const float inter = w * h;
      const float ovr = inter / (iarea + areas[j] - inter);
      if (static_cast<double>(ovr) > iou_thr) suppressed[j] = 1;
    }
  }
  return keep;
}

// torchvision 0.14 _batched_nms_coordinate_trick: shift every class into its own coordinate range by
// label * (max over all coordinates + 1), all in float32, then one nms.
std::vector<int> batched_nms_coordinate_trick(const std::vector<float>& boxes, const std::vector<float>& scores,
                                              const std::vector<int>& labels, double iou_thr) {
  if (scores.empty()) return {};
  float max_coordinate = boxes[0];
  for (float v : boxes) max_coordinate = std::max(max_coordinate, v);
  const float span = max_coordinate + 1.0f;
  std::vector<float> shifted(boxes.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    const float offset = static_cast<float>(labels[i]) * span;
    for (int k = 0; k < 4; ++k) shifted[4 * i + k] = boxes[4 * i + k] + offset;
  }
  return nms_kernel(shifted, scores, iou_thr);
}

// torchvision 0.14 _batched_nms_vanilla (used above 4000 box values on CPU): nms per class, mark the kept
// ones, then sort the kept indices (ascending) by descending score.
std::vector<int> batched_nms_vanilla(const std::vector<float>& boxes, const std::vector<float>& scores,
                                     const std::vector<int>& labels, double iou_thr) {
  std::map<int, std::vector<int>> by_class;  // torch.unique is sorted; the order does not affect the mask
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(static_cast<int>(i));
  std::vector<char> keep_mask(scores.size(), 0);
  for (const auto& [cls, idx] : by_class) {
    std::vector<float> cb(4 * idx.size()), cs(idx.size());
    for (size_t k = 0; k < idx.size(); ++k) {
      for (int c = 0; c < 4; ++c) cb[4 * k + c] = boxes[4 * idx[k] + c];
      cs[k] = scores[idx[k]];
    }
    for (int kept : nms_kernel(cb, cs, iou_thr)) keep_mask[idx[kept]] = 1;
  }
  std::vector<int> keep_indices;
  std::vector<float> kept_scores;
  for (size_t i = 0; i < keep_mask.size(); ++i) {
    if (!keep_mask[i]) continue;
    keep_indices.push_back(static_cast<int>(i));
    kept_scores.push_back(scores[i]);
  }
  std::vector<int> out;
  for (int64_t o : torch_sort_desc(kept_scores)) out.push_back(keep_indices[o]);
  return out;
}

// Candidates in torch.nonzero order (row-major anchor, class) for multi-label; one per anchor otherwise.
std::vector<Candidate> select_candidates(const float* scores, int num_anchors, int num_classes, const NmsParams& p) {
  std::vector<Candidate> out;
  if (p.multi_label) {
    for (int a = 0; a < num_anchors; ++a) {
      const float* row = scores + static_cast<size_t>(a) * num_classes;
      for (int c = 0; c < num_classes; ++c)
        if (row[c] > p.conf) out.push_back({a, row[c], c});  // strict '>' (float32 compare, as torch)
    }
  } else {
    for (int a = 0; a < num_anchors; ++a) {
      const float* row = scores + static_cast<size_t>(a) * num_classes;
      int best = 0;  // torch.max(dim) returns the first maximal index
      for (int c = 1; c < num_classes; ++c)
        if (row[c] > row[best]) best = c;
      if (row[best] >= p.conf) out.push_back({a, row[best], best});  // '>=' in SG's single-label branch
    }
  }
  return out;
}

}  // namespace

std::vector<int> nms(const std::vector<float>& boxes_xyxy, const std::vector<float>& scores, float iou) {
  if (boxes_xyxy.size() != 4 * scores.size())
    throw Error("nms: boxes hold " + std::to_string(boxes_xyxy.size()) + " values for " +
                std::to_string(scores.size()) + " scores (expected 4 per score)");
  return nms_kernel(boxes_xyxy, scores, python_threshold(iou));
}

std::vector<Detection> postprocess(const float* boxes, const float* scores, int num_anchors, int num_classes,
                                   const NmsParams& p) {
  if (num_anchors < 0 || num_classes <= 0) throw Error("postprocess: bad shape (anchors/classes)");
  std::vector<Candidate> cand = select_candidates(scores, num_anchors, num_classes, p);

  if (!p.classes.empty()) {  // our extension (Ultralytics `classes=`): filter before top-k
    std::vector<Candidate> kept;
    for (const Candidate& c : cand)
      if (std::find(p.classes.begin(), p.classes.end(), c.cls) != p.classes.end()) kept.push_back(c);
    cand.swap(kept);
  }

  if (p.top_k >= 0 && static_cast<int64_t>(cand.size()) > p.top_k) {
    std::vector<float> s(cand.size());
    for (size_t i = 0; i < cand.size(); ++i) s[i] = cand[i].score;
    std::vector<Candidate> top;
    for (int64_t i : torch_topk_desc(s, p.top_k)) top.push_back(cand[i]);
    cand.swap(top);
  }

  std::vector<float> cb(4 * cand.size()), cs(cand.size());
  std::vector<int> cl(cand.size());
  for (size_t i = 0; i < cand.size(); ++i) {
    for (int k = 0; k < 4; ++k) cb[4 * i + k] = boxes[4 * static_cast<size_t>(cand[i].anchor) + k];
    cs[i] = cand[i].score;
    cl[i] = cand[i].cls;
  }

  const double iou_thr = python_threshold(p.iou);
  std::vector<int> keep;
  if (p.agnostic) keep = nms_kernel(cb, cs, iou_thr);
  else if (cb.size() > 4000) keep = batched_nms_vanilla(cb, cs, cl, iou_thr);  // torchvision's CPU switch
  else keep = batched_nms_coordinate_trick(cb, cs, cl, iou_thr);

  if (p.max_det >= 0 && static_cast<int>(keep.size()) > p.max_det) keep.resize(p.max_det);
  std::vector<Detection> out;
  out.reserve(keep.size());
  for (int k : keep) out.push_back({cb[4 * k], cb[4 * k + 1], cb[4 * k + 2], cb[4 * k + 3], cs[k], cl[k]});
  return out;
}

void undo_letterbox(std::vector<Detection>& dets, const Letterbox& lb) {
  for (Detection& d : dets) {
    d.x1 = unletterbox_x(d.x1, lb);
    d.y1 = unletterbox_y(d.y1, lb);
    d.x2 = unletterbox_x(d.x2, lb);
    d.y2 = unletterbox_y(d.y2, lb);
  }
}

}  // namespace yolonas
