// Box mAP as pycocotools computes it.
//
// 1. evaluate_coco(): pycocotools' COCOeval(iouType='bbox') — same matching, same accumulation, same
//    numbers to the last bit where the arithmetic allows (IoU in double as maskApi.c's bbIou, numpy's
//    linspace thresholds, mergesort ties, np.spacing(1) in the precision, numpy's pairwise summation
//    in the final means). What it reproduces, including the quirks:
//    * detections sorted by score per image and category (stable), only the top maxDets[-1] kept
//      per image *and category*; maxDets 1/10 are also per image and category;
//    * crowd ground truth: IoU uses the detection's area as the union; a crowd box can absorb any
//      number of detections; detections matched to it are ignored (neither TP nor FP);
//    * gt "ignore" = iscrowd (pycocotools overwrites a json 'ignore' field with iscrowd, so an
//      'ignore' key has no effect there either); gt area ranges use the annotation's `area`
//      field, detection area ranges use the box w*h; range bounds are inclusive at both ends;
//    * a ground-truth annotation with id 0 counts as "no match" when matched (pycocotools stores
//      the matched gt id and tests it for truthiness): the detection becomes a FP and the gt is
//      used up. Kept by default for exact numbers; CocoEvalParams::zero_gt_id_quirk=false turns it off;
//    * -1 for a category/area/maxDets cell without ground truth; AP/AR are means over cells > -1.
//
// 2. SuperGradients' training-time DetectionMetrics: sg_metrics.h.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "yolonas/data/dataset.h"

namespace yolonas {

// One entry of a COCO results file: {"image_id", "category_id", "bbox": [x,y,w,h], "score"}.
struct CocoDetection {
  int64_t image_id = 0;
  int64_t category_id = 0;
  double bbox[4] = {0, 0, 0, 0};
  double score = 0;
};

// Reads a results file (a json array). Every entry needs image_id, category_id, bbox, score; image and
// category ids must exist in `gt`. Errors name the file, the entry and the field:
// "predictions.json: entry 17: missing field 'score'".
std::vector<CocoDetection> load_coco_results(const std::string& path, const CocoDataset& gt);
std::vector<CocoDetection> parse_coco_results(const std::string& text, const std::string& source,
                                              const CocoDataset& gt);
// Serializes detections as a results file, one entry per line. Doubles are written in their
// shortest round-trip form, so reading the file back gives bit-identical values.
std::string coco_results_to_json(const std::vector<CocoDetection>& dets);

struct AreaRange {
  std::string label;  // "all", "small", "medium", "large"
  double lo = 0, hi = 0;
};

struct CocoEvalParams {
  std::vector<double> iou_thrs;    // np.linspace(.5, .95, 10)
  std::vector<double> rec_thrs;    // np.linspace(0, 1, 101)
  std::vector<AreaRange> area_rngs;  // all [0,1e10], small [0,32^2], medium [32^2,96^2], large [96^2,1e10]
  std::vector<int> max_dets{1, 10, 100};
  bool zero_gt_id_quirk = true;    // see the header comment

  static CocoEvalParams bbox();    // pycocotools' defaults for iouType='bbox'
};

// numpy.linspace(start, stop, num) with its exact rounding (i*step + start, last = stop).
std::vector<double> numpy_linspace(double start, double stop, int num);
// numpy's mean of a contiguous float64 array (pairwise summation, then / n); NaN when empty.
double numpy_mean(const std::vector<double>& values);

// Detections of one class at one IoU threshold, over the whole dataset, in evaluation order
// (score descending, stable): what P/R/F1 curves and the per-class table are computed from.
// Ignored detections (matched to crowd/ignored gt) are left out.
struct ClassMatches {
  std::vector<double> scores;
  std::vector<uint8_t> tp;  // 1 = true positive, 0 = false positive
  int num_gt = 0;           // non-ignored ground truth
};

struct CocoEvalResult {
  CocoEvalParams params;
  std::vector<int64_t> cat_ids;      // K sorted category ids (= class index order)
  std::vector<std::string> names;    // K names
  std::array<double, 12> stats{};    // pycocotools' stats, full precision
  // pycocotools' eval['precision'] [T][R][K][A][M] and eval['recall'] [T][K][A][M], -1 = no gt.
  std::vector<double> precision;
  std::vector<double> recall;
  // Per category (area all, maxDets 100): AP@[.50:.95] and AP@.50 as detectron2 prints them
  // (mean of precision cells > -1), -1 when the category has no ground truth.
  std::vector<double> class_ap;
  std::vector<double> class_ap50;
  std::vector<int> class_num_gt;      // non-crowd ground-truth boxes
  std::vector<int> class_num_images;  // images with at least one non-crowd box of the class
  // Matches at IoU 0.50 (area all, maxDets 100), per category.
  std::vector<ClassMatches> matches50;
  double seconds_evaluate = 0, seconds_accumulate = 0;

  double precision_at(int t, int r, int k, int a, int m) const;
  double recall_at(int t, int k, int a, int m) const;
  // The 12 lines pycocotools' summarize() prints, byte for byte.
  std::string summary() const;
};

// pycocotools: COCOeval(gt, dt, 'bbox'); evaluate(); accumulate(); summarize().
// Detections must refer to images and categories of `gt` (load_coco_results checks that).
CocoEvalResult evaluate_coco(const CocoDataset& gt, const std::vector<CocoDetection>& dets,
                             const CocoEvalParams& params = CocoEvalParams::bbox());

// The 12 summary lines for given stats (pycocotools' format string).
std::string format_coco_summary(const std::array<double, 12>& stats, const std::vector<int>& max_dets = {1, 10, 100});
// Names of the 12 stats as used in metrics.json ("AP", "AP50", "AP75", "APs", ..., "ARl").
const std::array<const char*, 12>& coco_stat_names();

}  // namespace yolonas
