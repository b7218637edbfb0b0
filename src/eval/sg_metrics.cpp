// SuperGradients' DetectionMetrics. See sg_metrics.h.
#include "yolonas/eval/sg_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "yolonas/core/error.h"

namespace yolonas {

namespace {

// torch.linspace on CPU in float32: start + step*i for the first half, end - step*(n-1-i) after.
std::vector<float> torch_linspace_f32(float start, float end, int steps) {
  std::vector<float> v(static_cast<size_t>(steps));
  if (steps == 1) {
    v[0] = start;
    return v;
  }
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int halfway = steps / 2;
  for (int i = 0; i < steps; ++i)
    v[static_cast<size_t>(i)] =
        i < halfway ? start + step * static_cast<float>(i) : end - step * static_cast<float>(steps - i - 1);
  return v;
}

// SG box_iou (torchvision formula) in float32: inter / (area1 + area2 - inter).
inline float sg_iou(const SgBox& a, const SgBox& b) {
  const float w = std::max(std::min(a.x2, b.x2) - std::max(a.x1, b.x1), 0.0f);
  const float h = std::max(std::min(a.y2, b.y2) - std::max(a.y1, b.y1), 0.0f);
  const float inter = w * h;
  const float area1 = (a.x2 - a.x1) * (a.y2 - a.y1);
  const float area2 = (b.x2 - b.x1) * (b.y2 - b.y1);
  return inter / (area1 + area2 - inter);
}

// SG crowd_ioa: inter / area of the detection.
inline float sg_ioa(const SgBox& det, const SgBox& crowd) {
  const float w = std::max(std::min(det.x2, crowd.x2) - std::max(det.x1, crowd.x1), 0.0f);
  const float h = std::max(std::min(det.y2, crowd.y2) - std::max(det.y1, crowd.y1), 0.0f);
  return (w * h) / ((det.x2 - det.x1) * (det.y2 - det.y1));
}

// Per prediction across the dataset: what compute_detection_metrics receives.
struct SgPredRecord {
  float score;
  int cls;
  uint32_t matched;  // bit j: matched at threshold j
  uint32_t ignored;  // bit j: ignored at threshold j
};

// get_top_k_idx_per_cls: per class, the top_k predictions by score (score 0 never counts).
std::vector<size_t> sg_top_k_per_class(const std::vector<SgBox>& preds, int top_k) {
  std::vector<size_t> order(preds.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return preds[a].score > preds[b].score; });
  std::unordered_map<int, int> taken;
  std::vector<size_t> keep;
  for (size_t i : order) {
    if (preds[i].score == 0) continue;
    if (taken[preds[i].cls]++ < top_k) keep.push_back(i);
  }
  return keep;
}

// compute_img_detection_matching for one image.
void sg_match_image(const SgImage& img, const std::vector<float>& thr, int top_k, std::vector<SgPredRecord>& out) {
  const size_t N = img.preds.size(), T = thr.size();
  const uint32_t all_bits = T >= 32 ? 0xffffffffu : ((1u << T) - 1);
  std::vector<SgBox> preds = img.preds;
  std::vector<uint32_t> matched(N, 0), ignored(N, all_bits);
  const std::vector<size_t> use = sg_top_k_per_class(preds, top_k);
  for (size_t i : use) ignored[i] = 0;

  if (!img.targets.empty() || !img.crowd.empty()) {
    if (img.clip_w > 0 && img.clip_h > 0)
      for (SgBox& b : preds) {
        b.x1 = std::clamp(b.x1, 0.0f, img.clip_w), b.x2 = std::clamp(b.x2, 0.0f, img.clip_w);
        b.y1 = std::clamp(b.y1, 0.0f, img.clip_h), b.y2 = std::clamp(b.y2, 0.0f, img.clip_h);
      }
    // Regular targets: predictions in NMS order, for each its same-class targets by IoU
    // (descending, stable); a pair matches at every threshold it exceeds where both are free.
    std::vector<uint32_t> target_matched(img.targets.size(), 0);
    std::vector<std::pair<float, size_t>> cand;
    std::vector<size_t> use_in_nms_order = use;
    std::sort(use_in_nms_order.begin(), use_in_nms_order.end());  // within a class this is rank order
    for (size_t i : use_in_nms_order) {
      cand.clear();
      for (size_t j = 0; j < img.targets.size(); ++j) {
        const float iou = img.targets[j].cls == preds[i].cls ? sg_iou(preds[i], img.targets[j]) : 0.0f;
        cand.emplace_back(iou, j);
      }
      std::stable_sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      for (const auto& [iou, j] : cand) {
        if (!(iou > thr[0])) break;
        for (size_t t = 0; t < T; ++t) {
          const uint32_t bit = 1u << t;
          if (iou > thr[t] && !(matched[i] & bit) && !(target_matched[j] & bit)) {
            matched[i] |= bit;
            target_matched[j] |= bit;
          }
        }
      }
    }
    // Crowd targets: a used prediction whose best same-class IoA exceeds a threshold is ignored
    // there (a matched one still counts as TP later: tps = matched).
    if (!img.crowd.empty())
      for (size_t i : use) {
        float best = 0;
        for (const SgBox& c : img.crowd)
          if (c.cls == preds[i].cls) best = std::max(best, sg_ioa(preds[i], c));
        for (size_t t = 0; t < T; ++t)
          if (best > thr[t]) ignored[i] |= 1u << t;
      }
  }
  for (size_t i = 0; i < N; ++i) out.push_back({preds[i].score, preds[i].cls, matched[i], ignored[i]});
}

struct SgClassMetrics {
  std::vector<float> ap, precision, recall;  // per IoU threshold
  std::vector<float> mean_f1_per_score;      // per score threshold
  float best_score_threshold = 0;
};

// compute_detection_metrics_per_cls, in float32 as SG computes it.
SgClassMetrics sg_class_metrics(std::vector<SgPredRecord> preds, int n_targets, size_t T,
                                const std::vector<float>& rec_thrs, float score_thres) {
  const size_t S = rec_thrs.size();
  SgClassMetrics out;
  out.ap.assign(T, 0), out.precision.assign(T, 0), out.recall.assign(T, 0);
  out.mean_f1_per_score.assign(S, 0);
  if (preds.empty()) return out;
  std::stable_sort(preds.begin(), preds.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  const size_t N = preds.size();
  const std::vector<float> score_thrs = torch_linspace_f32(0.f, 1.f, static_cast<int>(S));

  // Number of predictions with score >= threshold (searchsorted on -scores, right=True).
  auto count_at_least = [&](float thr) {
    size_t n = 0;
    while (n < N && preds[n].score >= thr) ++n;
    return n;
  };
  const size_t at_score_thres = count_at_least(score_thres);
  std::vector<size_t> at_thr(S);
  for (size_t s = 0; s < S; ++s) at_thr[s] = count_at_least(score_thrs[s]);

  std::vector<std::vector<float>> rec_per_s(S, std::vector<float>(T)), prec_per_s(S, std::vector<float>(T));
  std::vector<float> rec(N), prec(N);
  const float eps = static_cast<float>(std::numeric_limits<double>::epsilon());
  for (size_t t = 0; t < T; ++t) {
    const uint32_t bit = 1u << t;
    float tp = 0, fp = 0;
    for (size_t i = 0; i < N; ++i) {
      const bool m = preds[i].matched & bit;
      tp += m;
      fp += !m && !(preds[i].ignored & bit);
      rec[i] = tp / static_cast<float>(n_targets);
      prec[i] = tp / (tp + fp + eps);
    }
    for (size_t i = N - 1; i > 0; --i) prec[i - 1] = std::max(prec[i - 1], prec[i]);  // reversed cummax
    if (at_score_thres > 0) {
      out.recall[t] = rec[at_score_thres - 1];
      out.precision[t] = prec[at_score_thres - 1];
    }
    for (size_t s = 0; s < S; ++s) {
      rec_per_s[s][t] = at_thr[s] ? rec[at_thr[s] - 1] : 0.f;
      prec_per_s[s][t] = at_thr[s] ? prec[at_thr[s] - 1] : 0.f;
    }
    // 101-point AP: precision at the first index whose recall >= r, 0 past the end.
    float sum = 0;
    size_t idx = 0;
    for (size_t r = 0; r < rec_thrs.size(); ++r) {
      while (idx < N && rec[idx] < rec_thrs[r]) ++idx;
      sum += idx < N ? prec[idx] : 0.f;
    }
    out.ap[t] = sum / static_cast<float>(rec_thrs.size());
  }
  size_t best = 0;
  for (size_t s = 0; s < S; ++s) {
    float f1_sum = 0;
    for (size_t t = 0; t < T; ++t) {
      const float r = rec_per_s[s][t], p = prec_per_s[s][t];
      f1_sum += 2 * r * p / (r + p + 1e-16f);
    }
    out.mean_f1_per_score[s] = f1_sum / static_cast<float>(T);
    if (out.mean_f1_per_score[s] > out.mean_f1_per_score[best]) best = s;
  }
  out.best_score_threshold = score_thrs[best];
  return out;
}

}  // namespace

SgMetricsResult sg_detection_metrics(const std::vector<SgImage>& images, int num_classes, const SgMetricsParams& params) {
  SgMetricsResult res;
  const int n_thr = params.iou_lo == params.iou_hi
                        ? 1
                        : static_cast<int>(std::lround((params.iou_hi - params.iou_lo) / 0.05)) + 1;
  res.iou_thresholds = torch_linspace_f32(params.iou_lo, params.iou_hi, n_thr);
  if (n_thr > 32) throw Error("sg_detection_metrics: at most 32 IoU thresholds");
  const size_t T = res.iou_thresholds.size();
  const std::vector<float> rec_thrs = torch_linspace_f32(0.f, 1.f, params.num_recall_thrs);

  std::vector<SgPredRecord> preds;
  std::vector<int> n_targets(static_cast<size_t>(std::max(num_classes, 0)), 0);
  for (const SgImage& img : images) {
    sg_match_image(img, res.iou_thresholds, params.top_k, preds);
    for (const SgBox& t : img.targets) {
      if (t.cls < 0 || t.cls >= num_classes)
        throw Error("sg_detection_metrics: target class " + std::to_string(t.cls) + " outside 0.." +
                    std::to_string(num_classes - 1));
      ++n_targets[static_cast<size_t>(t.cls)];
    }
  }
  const size_t K = static_cast<size_t>(std::max(num_classes, 0));
  res.class_ap.assign(K, 0), res.class_precision.assign(K, 0), res.class_recall.assign(K, 0);
  res.class_f1.assign(K, 0), res.class_best_score_threshold.assign(K, 0);

  std::vector<std::vector<SgPredRecord>> by_class(K);
  for (const SgPredRecord& p : preds)
    if (p.cls >= 0 && static_cast<size_t>(p.cls) < K) by_class[static_cast<size_t>(p.cls)].push_back(p);

  double ap_sum = 0, p_sum = 0, r_sum = 0, f1_sum = 0;
  std::vector<double> mean_f1_over_classes(rec_thrs.size(), 0.0);
  for (size_t k = 0; k < K; ++k) {
    if (n_targets[k] == 0) continue;  // only classes present in the ground truth
    res.present_classes.push_back(static_cast<int>(k));
    const SgClassMetrics m = sg_class_metrics(by_class[k], n_targets[k], T, rec_thrs, params.score_thres);
    double ap = 0, pr = 0, rc = 0, f1 = 0;
    for (size_t t = 0; t < T; ++t) {
      ap += m.ap[t], pr += m.precision[t], rc += m.recall[t];
      f1 += 2.0f * m.precision[t] * m.recall[t] / (m.precision[t] + m.recall[t] + 1e-16f);
    }
    res.class_ap[k] = ap / T, res.class_precision[k] = pr / T, res.class_recall[k] = rc / T, res.class_f1[k] = f1 / T;
    res.class_best_score_threshold[k] = m.best_score_threshold;
    ap_sum += ap, p_sum += pr, r_sum += rc, f1_sum += f1;
    for (size_t s = 0; s < rec_thrs.size(); ++s) mean_f1_over_classes[s] += m.mean_f1_per_score[s];
  }
  const size_t P = res.present_classes.size();
  if (P > 0) {
    res.map = ap_sum / static_cast<double>(P * T);
    res.precision = p_sum / static_cast<double>(P * T);
    res.recall = r_sum / static_cast<double>(P * T);
    res.f1 = f1_sum / static_cast<double>(P * T);
    size_t best = 0;
    for (size_t s = 0; s < mean_f1_over_classes.size(); ++s)
      if (mean_f1_over_classes[s] > mean_f1_over_classes[best]) best = s;
    res.best_score_threshold = torch_linspace_f32(0.f, 1.f, params.num_recall_thrs)[best];
  }
  return res;
}

std::vector<SgImage> sg_images_from_coco(const CocoDataset& gt, const std::vector<CocoDetection>& dets,
                                         bool drop_empty_images) {
  std::vector<SgImage> images(gt.images.size());
  std::vector<uint8_t> has_annotation(gt.images.size(), 0);
  auto xyxy = [](const double* b, int cls, double score) {
    SgBox s;
    s.x1 = static_cast<float>(b[0]), s.y1 = static_cast<float>(b[1]);
    s.x2 = static_cast<float>(b[0] + b[2]), s.y2 = static_cast<float>(b[1] + b[3]);
    s.cls = cls;
    s.score = static_cast<float>(score);
    return s;
  };
  for (const CocoAnnotation& a : gt.annotations) {
    const long i = gt.image_index(a.image_id);
    if (i < 0) continue;
    has_annotation[static_cast<size_t>(i)] = 1;
    SgBox b = xyxy(a.bbox, gt.class_index(a.category_id), 0);
    (a.iscrowd ? images[static_cast<size_t>(i)].crowd : images[static_cast<size_t>(i)].targets).push_back(b);
  }
  for (const CocoDetection& d : dets) {
    const long i = gt.image_index(d.image_id);
    if (i < 0) throw Error("sg_images_from_coco: detection on unknown image " + std::to_string(d.image_id));
    images[static_cast<size_t>(i)].preds.push_back(xyxy(d.bbox, gt.class_index(d.category_id), d.score));
  }
  std::vector<SgImage> out;
  for (size_t i = 0; i < images.size(); ++i) {
    if (drop_empty_images && !has_annotation[i]) continue;
    auto& preds = images[i].preds;
    std::stable_sort(preds.begin(), preds.end(), [](const SgBox& a, const SgBox& b) { return a.score > b.score; });
    out.push_back(std::move(images[i]));
  }
  return out;
}

}  // namespace yolonas
