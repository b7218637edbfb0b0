// The human side of validation: per-class table, precision / recall / F1 at the best-F1 confidence,
// a confusion matrix, and PNG plots (PR curve, F1/P/R-confidence curves, confusion matrix), in the
// style of Ultralytics' val outputs. Drawn with OpenCV only.
//
// Numbers come from the pycocotools evaluation (coco_eval.h) at IoU 0.50, area "all", maxDets 100,
// so the PR curve's mean is exactly the AP50 of the summary, and crowd/ignored detections are left
// out of P/R/F1 as they are out of the AP.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "yolonas/eval/coco_eval.h"

namespace yolonas {

// Precision, recall and F1 as functions of the confidence threshold (Ultralytics' ap_per_class):
// on a grid of `points` confidences in [0,1], recall = interp(TP/num_gt) (0 above the highest
// score), precision = interp(TP/(TP+FP)) (1 above the highest score); the best confidence maximizes
// the class-mean F1 after a 10% box smoothing.
struct PrfCurves {
  std::vector<double> conf;                   // the grid
  std::vector<int> classes;                   // class indices with ground truth
  std::vector<std::vector<double>> p, r, f1;  // [i over `classes`][grid]
  int best_index = 0;
  double best_conf = 0;
  std::vector<double> best_p, best_r, best_f1;  // per entry of `classes`, at best_conf
  double mean_p = 0, mean_r = 0, mean_f1 = 0;   // class means at best_conf
};

PrfCurves compute_prf_curves(const CocoEvalResult& res, int points = 1000);

// Ultralytics-style table: one "all" row and one row per class with ground truth:
//   Class  Images  Instances  P  R  mAP50  mAP50-95   (P/R at the best-F1 confidence; mAP from COCOeval).
std::string format_class_table(const CocoEvalResult& res, const PrfCurves& curves, int num_images);

// Confusion matrix in Ultralytics' layout: (nc+1) x (nc+1), rows = predicted class, columns = true
// class, index nc = background. Detections with score > conf are matched class-agnostically to
// ground truth at IoU > iou (highest IoU first, one-to-one); a matched pair counts at
// [pred cls][true cls], an unmatched gt at [background][true cls], an unmatched detection at
// [pred cls][background].
class ConfusionMatrix {
 public:
  struct Box {
    double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
    int cls = 0;
    double score = 0;
  };

  explicit ConfusionMatrix(int num_classes, double conf = 0.25, double iou = 0.45);
  void add_image(const std::vector<Box>& gt, const std::vector<Box>& dets);
  // Every image of a COCO evaluation (crowd ground truth is left out).
  void add_coco(const CocoDataset& gt, const std::vector<CocoDetection>& dets);

  int num_classes() const { return nc_; }
  int64_t at(int pred, int truth) const { return m_[static_cast<size_t>(pred) * (nc_ + 1) + truth]; }
  // Per class: matched with the right class / detections of the class that are wrong.
  std::vector<int64_t> true_positives() const;
  std::vector<int64_t> false_positives() const;

 private:
  int nc_;
  double conf_, iou_;
  std::vector<int64_t> m_;
};

// PNG writers. Each throws yolonas::Error when the file cannot be written.
void save_pr_curve_png(const std::string& path, const CocoEvalResult& res);
enum class CurveKind { F1, Precision, Recall };
void save_conf_curve_png(const std::string& path, const PrfCurves& curves, const std::vector<std::string>& names,
                         CurveKind kind);
void save_confusion_matrix_png(const std::string& path, const ConfusionMatrix& cm,
                               const std::vector<std::string>& names, bool normalize);

}  // namespace yolonas
