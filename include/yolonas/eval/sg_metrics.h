// sg_detection_metrics(): SuperGradients' training-time DetectionMetrics (the number the
// YOLO-NAS recipes print as mAP@0.50:0.95 during training). Same 10 IoU thresholds and 101
// recall points, but not the same number; the differences (docs/EVAL.md has the full table):
// * how many detections count: COCO keeps 100 per image *and category*; SG keeps the NMS output
//   (conf > 0.01, 1000 candidates, 300 per image) and then the top 300 per class and image;
// * matching: COCO matches IoU >= t, prefers regular over ignored gt, crowd IoU = inter/det area
//   and crowd-matched detections are ignored; SG matches IoU > t (strict), per threshold the
//   highest-IoU free target, and ignores an *unmatched* detection whose IoA with a same-class
//   crowd box exceeds t (a matched one stays a TP);
// * geometry: COCO in original pixels, double precision; SG in network-input pixels (after the
//   letterbox), float32, predictions clipped to the padded input canvas;
// * images: SG's COCO dataset drops images without annotations (their false positives vanish);
// * no area ranges, no AR, no gt-id-0 quirk in SG; SG adds P/R/F1 at score 0.1 and the
//   best-F1 score threshold.
#pragma once
#include <vector>

#include "yolonas/eval/coco_eval.h"

namespace yolonas {

struct SgBox {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int cls = 0;
  float score = 0;  // detections only
};

// One image as DetectionMetrics.update() sees it after the post-prediction callback.
struct SgImage {
  std::vector<SgBox> targets;  // regular ground truth
  std::vector<SgBox> crowd;    // crowd ground truth
  std::vector<SgBox> preds;    // NMS output in NMS order (descending score)
  float clip_w = 0, clip_h = 0;  // predictions are clipped to [0,clip_w]x[0,clip_h]; 0 = no clipping
};

struct SgMetricsParams {
  float iou_lo = 0.5f, iou_hi = 0.95f;  // DetectionMetrics: (0.5, 0.95); DetectionMetrics_050: (0.5, 0.5)
  int top_k = 300;                       // top_k_predictions: per image and class
  float score_thres = 0.1f;              // for precision / recall / F1 (not mAP)
  int num_recall_thrs = 101;
};

struct SgMetricsResult {
  // Means over the classes present in the ground truth (and over IoU thresholds).
  double map = -1, precision = -1, recall = -1, f1 = -1;
  double best_score_threshold = 0;       // maximizes the class-mean F1 on linspace(0,1,101)
  std::vector<float> iou_thresholds;     // torch.linspace(lo, hi, n) in float32
  std::vector<int> present_classes;      // classes with regular targets
  // Per class index 0..num_classes-1 (0 for classes not present): AP, P, R, F1 averaged over IoU
  // thresholds, and the class's best score threshold.
  std::vector<double> class_ap, class_precision, class_recall, class_f1, class_best_score_threshold;
};

SgMetricsResult sg_detection_metrics(const std::vector<SgImage>& images, int num_classes,
                                     const SgMetricsParams& params = SgMetricsParams());

// SG inputs from a COCO ground truth and results: classes are contiguous indices, predictions of an
// image sorted by descending score (stable) as NMS returns them, crowd boxes from iscrowd.
// SG's COCO dataset drops images without annotations (ignore_empty_annotations=True): when
// drop_empty_images is set, such images (and their detections) are left out here too.
std::vector<SgImage> sg_images_from_coco(const CocoDataset& gt, const std::vector<CocoDetection>& dets,
                                         bool drop_empty_images = true);

}  // namespace yolonas
