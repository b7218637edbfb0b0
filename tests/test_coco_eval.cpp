// COCO evaluation (pycocotools-exact), SG DetectionMetrics, the P/R/F1 curves and confusion matrix,
// and the dataset readers (COCO json, YOLO data.yaml + labels).
//
// Expected values are derived by hand in each test. Two facts recur:
//  * pycocotools' precision is tp / (tp + fp + 2^-52). With tp=1, fp=0 that is 1/(1+2^-52) =
//    0.9999999999999998, not 1; with tp >= 2 the 2^-52 is lost in rounding. Values "= 1" are
//    therefore compared with EXPECT_NEAR(.., 1e-12) unless the derivation shows an exact 1.
//  * 101-point AP: recall thresholds r_i = i/100 (i = 0..100); the precision sampled at r_i is the
//    precision envelope at the first detection whose cumulative recall >= r_i, 0 if none. If the
//    envelope is 1 up to recall R and 0 after, AP = (number of r_i <= R) / 101 = (floor(100 R) + 1) / 101.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <unistd.h>

#include "test_util.h"
#include "yolonas/eval/coco_eval.h"
#include "yolonas/eval/sg_metrics.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"
#include "yolonas/eval/eval_plots.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

constexpr double kTol = 1e-12;

// Stat indices (pycocotools' order).
enum { AP = 0, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl };

struct Gt {
  int64_t image;
  int64_t cat;
  double x, y, w, h;
  bool crowd = false;
  double area = -1;  // -1: w*h
  int64_t id = -1;   // -1: next id from 1
};

// A ground truth with images `image_ids` and categories `cat_ids`.
CocoDataset make_gt(const std::vector<int64_t>& image_ids, const std::vector<int64_t>& cat_ids,
                    const std::vector<Gt>& boxes) {
  CocoDataset d;
  d.source = "test gt";
  for (int64_t id : image_ids) d.images.push_back({id, "img" + std::to_string(id) + ".jpg", 640, 480});
  for (int64_t id : cat_ids) d.categories.push_back({id, "cat" + std::to_string(id)});
  int64_t next_id = 1;
  for (const Gt& g : boxes) {
    CocoAnnotation a;
    a.id = g.id >= 0 ? g.id : next_id;
    next_id = std::max(next_id, a.id) + 1;
    a.image_id = g.image;
    a.category_id = g.cat;
    a.bbox[0] = g.x, a.bbox[1] = g.y, a.bbox[2] = g.w, a.bbox[3] = g.h;
    a.area = g.area >= 0 ? g.area : g.w * g.h;
    a.iscrowd = g.crowd;
    d.annotations.push_back(a);
  }
  d.build_index();
  return d;
}

CocoDetection det(int64_t image, int64_t cat, double x, double y, double w, double h, double score) {
  CocoDetection d;
  d.image_id = image, d.category_id = cat;
  d.bbox[0] = x, d.bbox[1] = y, d.bbox[2] = w, d.bbox[3] = h;
  d.score = score;
  return d;
}

void expect_stats(const CocoEvalResult& r, const std::array<double, 12>& want, double tol = kTol) {
  for (size_t i = 0; i < 12; ++i)
    EXPECT_NEAR(r.stats[i], want[i], tol) << "stat " << i << " (" << coco_stat_names()[i] << ")";
}

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("yolonas_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

const char* kLabelmeJson =
    "/usr/share/doc/labelme-examples/examples/instance_segmentation/data_dataset_coco/annotations.json";

// Large boxes (100x100 = 10000 > 96^2) so that only the "large" range has ground truth.
std::vector<Gt> four_large_boxes() {
  return {{1, 1, 10, 10, 100, 100}, {1, 2, 200, 10, 100, 100}, {2, 1, 10, 10, 100, 100}, {2, 2, 300, 50, 120, 100}};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// pycocotools semantics on constructed cases
// ---------------------------------------------------------------------------------------------

TEST(CocoEval, ParametersMatchNumpy) {
  const CocoEvalParams p = CocoEvalParams::bbox();
  ASSERT_EQ(p.iou_thrs.size(), 10u);
  ASSERT_EQ(p.rec_thrs.size(), 101u);
  // summarize() looks 0.5 and 0.75 up with ==, so linspace must hit them exactly.
  EXPECT_EQ(p.iou_thrs[0], 0.5);
  EXPECT_EQ(p.iou_thrs[5], 0.75);
  EXPECT_EQ(p.iou_thrs[9], 0.95);
  EXPECT_EQ(p.rec_thrs[50], 0.5);
  EXPECT_EQ(p.rec_thrs[100], 1.0);
  EXPECT_NEAR(numpy_mean({1, 2, 3, 4}), 2.5, 0);
}

TEST(CocoEval, PerfectDetectionsScoreOne) {
  // Each (image, category) holds one box, detected exactly: IoU 1 >= every threshold, every
  // detection a TP. Per category 2 TPs: precision 1/(1+eps) then 2/2 = 1; the envelope makes it 1
  // everywhere, so AP is exactly 1. All boxes are large: small/medium have no gt -> -1.
  // maxDets=1 already holds the single box per image and category: AR1 = 1.
  const CocoDataset gt = make_gt({1, 2}, {1, 2}, four_large_boxes());
  std::vector<CocoDetection> dets;
  for (const auto& a : gt.annotations) dets.push_back(det(a.image_id, a.category_id, a.bbox[0], a.bbox[1], a.bbox[2], a.bbox[3], 0.9));
  const CocoEvalResult r = evaluate_coco(gt, dets);
  expect_stats(r, {1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1, 1}, 0);
  EXPECT_EQ(r.class_ap[0], 1.0);
  EXPECT_EQ(r.class_num_gt[0], 2);
}

TEST(CocoEval, NoDetections) {
  // With gt but no detections: every evaluated cell has nd = 0, so precision samples are 0 and
  // recall is 0; ranges without gt stay -1.
  const CocoDataset gt = make_gt({1, 2}, {1, 2}, four_large_boxes());
  expect_stats(evaluate_coco(gt, {}), {0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1, 0}, 0);
  // Without any gt, every cell is -1 and so is every stat, detections or not.
  const CocoDataset empty = make_gt({1}, {1}, {});
  const CocoEvalResult r = evaluate_coco(empty, {det(1, 1, 0, 0, 10, 10, 0.5)});
  for (double s : r.stats) EXPECT_EQ(s, -1.0);
}

TEST(CocoEval, DuplicateDetectionIsFalsePositive) {
  // One gt [0,0,100,100]. Detection A (score 0.9) = [0,0,100,62]: IoU 6200/10000 = 0.62.
  // Detection B (score 0.8) = the exact box: IoU 1.
  // Thresholds 0.50, 0.55, 0.60 (3 of 10): A matches first, B finds the gt taken -> TP, FP.
  //   rc = [1, 1]; pr = [1/(1+eps), 1/2]; every r_i maps to index 0 -> AP_t = 1/(1+eps) ~ 1.
  // Thresholds 0.65 .. 0.95 (7): A fails, B matches -> FP, TP.
  //   rc = [0, 1]; pr = [0, 1/2] -> envelope [1/2, 1/2] -> AP_t = 1/2.
  // AP = (3*1 + 7*0.5)/10 = 0.65; AP50 = 1; AP75 = 0.5. Recall is 1 at every threshold.
  // Large (the gt's range): where A is unmatched, its area 6200 is outside [96^2, 1e10], so it is
  // ignored rather than a FP -> APl = 1. AR1 keeps only A per image: recall 1 at 3 thresholds -> 0.3.
  const CocoDataset gt = make_gt({1}, {1}, {{1, 1, 0, 0, 100, 100}});
  const std::vector<CocoDetection> dets = {det(1, 1, 0, 0, 100, 62, 0.9), det(1, 1, 0, 0, 100, 100, 0.8)};
  const CocoEvalResult r = evaluate_coco(gt, dets);
  expect_stats(r, {0.65, 1, 0.5, -1, -1, 1, 0.3, 1, 1, -1, -1, 1});
}

TEST(CocoEval, OneHundredOnePointInterpolation) {
  // Two gts; detections by score: TP (0.9), FP (0.8), TP (0.7).
  //   rc = [.5, .5, 1]; pr = [1/(1+eps), 1/2, 2/3] -> envelope [1, 2/3, 2/3] (first stays 1/(1+eps)).
  //   r_0..r_50 (51 points, r_50 = 0.5 exactly) -> index 0 -> 1; r_51..r_100 (50 points) -> index 2 -> 2/3.
  //   AP = (51 + 50 * 2/3) / 101 = 253/303 at every threshold (the boxes are exact).
  const CocoDataset gt = make_gt({1}, {1}, {{1, 1, 0, 0, 100, 100}, {1, 1, 300, 0, 100, 100}});
  const std::vector<CocoDetection> dets = {det(1, 1, 0, 0, 100, 100, 0.9), det(1, 1, 150, 200, 50, 50, 0.8),
                                           det(1, 1, 300, 0, 100, 100, 0.7)};
  const CocoEvalResult r = evaluate_coco(gt, dets);
  EXPECT_NEAR(r.stats[AP], 253.0 / 303.0, kTol);
  EXPECT_NEAR(r.stats[AP50], 253.0 / 303.0, kTol);
  EXPECT_NEAR(r.stats[AR100], 1.0, 0);
  // AR10 = 1 too; AR1: only the top detection per image and category -> recall 1/2.
  EXPECT_NEAR(r.stats[AR1], 0.5, 0);
}

TEST(CocoEval, CrowdRegionAbsorbsDetections) {
  // Image with a regular gt [0,0,100,100] and a crowd region [200,0,300,300], both category 1.
  // Detections: 0.95, 0.8, 0.7 are 50x50 boxes inside the crowd region, 0.9 is the regular box.
  // Crowd IoU = intersection / detection area = 1 >= every threshold: the three are matched to the
  // crowd gt (ignored, and a crowd gt can be matched repeatedly) and are ignored.
  //   order: ign, TP, ign, ign -> tp = [0,1,1,1], fp = 0 -> rc = [0,1,1,1], pr = [0, 1/(1+eps), ...]
  //   envelope -> 1/(1+eps) everywhere: AP = 1 (to 2e-16), recall 1.
  std::vector<Gt> boxes = {{1, 1, 0, 0, 100, 100}, {1, 1, 200, 0, 300, 300, true}};
  const std::vector<CocoDetection> dets = {det(1, 1, 210, 10, 50, 50, 0.95), det(1, 1, 0, 0, 100, 100, 0.9),
                                           det(1, 1, 300, 100, 50, 50, 0.8), det(1, 1, 400, 200, 50, 50, 0.7)};
  const CocoEvalResult r = evaluate_coco(make_gt({1}, {1}, boxes), dets);
  EXPECT_NEAR(r.stats[AP], 1.0, kTol);
  EXPECT_NEAR(r.stats[AR100], 1.0, 0);
  EXPECT_EQ(r.class_num_gt[0], 1);  // the crowd box is not an instance

  // Control: the same region as a regular gt. The small boxes have IoU 2500/90000 < .5 with it: FPs.
  //   order: FP, TP, FP, FP; npig = 2 -> rc = [0, .5, .5, .5], pr = [0, 1/2, 1/3, 1/4]
  //   envelope [1/2, 1/2, 1/3, 1/4]; r_0..r_50 -> 1/2, beyond -> 0: AP = 51 * 0.5 / 101.
  boxes[1].crowd = false;
  const CocoEvalResult c = evaluate_coco(make_gt({1}, {1}, boxes), dets);
  EXPECT_NEAR(c.stats[AP], 51 * 0.5 / 101, kTol);
}

TEST(CocoEval, AreaRanges) {
  // One image, category 1: gts of area 400 (small), 2500 (medium), 22500 (large); detections exact
  // with scores 0.9 (large), 0.8 (medium), 0.7 (small).
  // In each range the other two gts are ignored, and so are the detections matched to them; the
  // range's own detection is a single TP -> AP = 1/(1+eps), recall 1.
  std::vector<Gt> boxes = {{1, 1, 0, 0, 20, 20}, {1, 1, 100, 0, 50, 50}, {1, 1, 300, 0, 150, 150}};
  std::vector<CocoDetection> dets = {det(1, 1, 300, 0, 150, 150, 0.9), det(1, 1, 100, 0, 50, 50, 0.8),
                                     det(1, 1, 0, 0, 20, 20, 0.7)};
  CocoEvalResult r = evaluate_coco(make_gt({1}, {1}, boxes), dets);
  expect_stats(r, {1, 1, 1, 1, 1, 1, 1.0 / 3, 1, 1, 1, 1, 1});

  // Without the medium detection: medium has npig = 1 and only ignored detections -> AP 0, AR 0.
  // "all": TP (.9), TP (.7); rc = [1/3, 2/3], pr = [1/(1+eps), 1] -> envelope 1 up to recall 2/3:
  //   r_0..r_66 (67 points) -> AP = 67/101; AR100 = 2/3.
  dets.erase(dets.begin() + 1);
  r = evaluate_coco(make_gt({1}, {1}, boxes), dets);
  expect_stats(r, {67.0 / 101, 67.0 / 101, 67.0 / 101, 1, 0, 1, 1.0 / 3, 2.0 / 3, 2.0 / 3, 1, 0, 1});
}

TEST(CocoEval, AreaRangeUsesAnnotationAreaAndInclusiveBounds) {
  // gt bbox 40x40 (w*h = 1600, medium) but `area` = 900 (small): pycocotools ranges gt by ann['area']
  // -> small has the gt, medium has none (-1). The matched detection (w*h 1600) follows its gt.
  CocoEvalResult r = evaluate_coco(make_gt({1}, {1}, {{1, 1, 0, 0, 40, 40, false, 900}}), {det(1, 1, 0, 0, 40, 40, 0.5)});
  EXPECT_NEAR(r.stats[APs], 1, kTol);
  EXPECT_EQ(r.stats[APm], -1);
  // area exactly 32^2 lies in both small [0, 1024] and medium [1024, 9216].
  r = evaluate_coco(make_gt({1}, {1}, {{1, 1, 0, 0, 32, 32}}), {det(1, 1, 0, 0, 32, 32, 0.5)});
  EXPECT_NEAR(r.stats[APs], 1, kTol);
  EXPECT_NEAR(r.stats[APm], 1, kTol);
  EXPECT_EQ(r.stats[APl], -1);
  // An unmatched detection counts in the range of its own w*h: a 10x10 FP (.9) ranked before the
  // TP (.5) on a 20x20 gt. Small: FP, TP: rc [0,1], pr [0, 1/2] -> envelope 1/2 -> AP 1/2, as in
  // "all". Large has no gt (-1): the FP is out of its range there and would be ignored anyway.
  r = evaluate_coco(make_gt({1}, {1}, {{1, 1, 0, 0, 20, 20}}),
                    {det(1, 1, 200, 200, 10, 10, 0.9), det(1, 1, 0, 0, 20, 20, 0.5)});
  EXPECT_NEAR(r.stats[APs], 0.5, kTol);
  EXPECT_NEAR(r.stats[AP], 0.5, kTol);
}

TEST(CocoEval, ClassWithoutGroundTruthIsExcluded) {
  // Category 1: one gt detected exactly. Category 2: no gt, three FP detections; category 3: nothing.
  // Category 2 has evaluated images (its detections) but npig = 0, so its cells stay -1 and it is left
  // out of the mean, as is category 3: AP = AP(category 1) = 1/(1+eps).
  const CocoDataset gt = make_gt({1}, {1, 2, 3}, {{1, 1, 0, 0, 100, 100}});
  const std::vector<CocoDetection> dets = {det(1, 1, 0, 0, 100, 100, 0.5), det(1, 2, 0, 0, 100, 100, 0.9),
                                           det(1, 2, 200, 0, 100, 100, 0.8), det(1, 2, 300, 0, 50, 100, 0.7)};
  const CocoEvalResult r = evaluate_coco(gt, dets);
  EXPECT_NEAR(r.stats[AP], 1, kTol);
  EXPECT_EQ(r.class_ap[1], -1);
  EXPECT_EQ(r.class_ap[2], -1);
}

TEST(CocoEval, TiesInScoreKeepImageThenFileOrder) {
  // Two gts in image 3 (one per box); detections all score 0.5: a FP and a TP.
  // Ties are kept in evaluation order (mergesort): FP first -> rc [0, .5], pr [0, .5]
  //   -> envelope .5 up to recall .5: AP = 51 * .5 / 101.
  // TP first -> rc [.5, .5], pr [1/(1+eps), .5] -> AP = 51 * 1/(1+eps) / 101.
  const std::vector<Gt> boxes = {{3, 1, 0, 0, 100, 100}, {3, 1, 300, 0, 100, 100}};
  const CocoDataset gt = make_gt({3, 5}, {1}, boxes);
  const CocoDetection fp = det(3, 1, 150, 200, 100, 100, 0.5), tp = det(3, 1, 0, 0, 100, 100, 0.5);
  EXPECT_NEAR(evaluate_coco(gt, {fp, tp}).stats[AP], 51 * 0.5 / 101, kTol);
  EXPECT_NEAR(evaluate_coco(gt, {tp, fp}).stats[AP], 51.0 / 101, kTol);
  // Across images, accumulate() concatenates images by ascending id before the stable sort: the FP
  // on image 3 precedes a TP on image 5 even when the file lists image 5 first.
  const std::vector<Gt> two_images = {{5, 1, 0, 0, 100, 100}, {3, 1, 300, 0, 100, 100}};
  const CocoDataset gt2 = make_gt({3, 5}, {1}, two_images);
  EXPECT_NEAR(evaluate_coco(gt2, {det(5, 1, 0, 0, 100, 100, 0.5), det(3, 1, 0, 300, 50, 50, 0.5)}).stats[AP],
              51 * 0.5 / 101, kTol);
}

TEST(CocoEval, MoreThanMaxDetsPerImageAndCategory) {
  // Category 1: one gt, 99 FPs with scores above the TP (rank 100): kept by maxDets=100.
  //   rc = [0 x 99, 1]; pr[99] = 1/100 -> envelope 1/100 everywhere: AP = 0.01 exactly as 1/(100+eps)
  //   rounds to 0.01. AR100 = 1, AR10 = AR1 = 0 (the TP is beyond the first 10).
  std::vector<CocoDetection> dets;
  for (int i = 0; i < 99; ++i) dets.push_back(det(1, 1, 200 + i, 200, 10, 10, 0.99 - i * 0.001));
  dets.push_back(det(1, 1, 0, 0, 100, 100, 0.5));
  const CocoDataset gt = make_gt({1}, {1, 2}, {{1, 1, 0, 0, 100, 100}, {1, 2, 0, 0, 100, 100}});
  // Category 2 on the same image: 150 FPs and the TP last (rank 151): maxDets counts per category,
  // so category 1 keeps its TP while category 2 loses its own: AP 0, recall 0.
  for (int i = 0; i < 150; ++i) dets.push_back(det(1, 2, 200 + i, 200, 10, 10, 0.99 - i * 0.001));
  dets.push_back(det(1, 2, 0, 0, 100, 100, 0.5));
  const CocoEvalResult r = evaluate_coco(gt, dets);
  EXPECT_NEAR(r.class_ap[0], 0.01, kTol);
  EXPECT_EQ(r.class_ap[1], 0.0);
  EXPECT_NEAR(r.stats[AP], 0.005, kTol);
  EXPECT_NEAR(r.stats[AR100], 0.5, 0);
  EXPECT_EQ(r.stats[AR10], 0.0);
}

TEST(CocoEval, GroundTruthIdZeroQuirk) {
  // pycocotools stores the matched gt id and tests it for truthiness: a match to id 0 reads as "no
  // match". The detection becomes a FP (rc [0], pr [0] -> AP 0) and the gt is used up (recall 0).
  const CocoDataset gt = make_gt({1}, {1}, {{1, 1, 0, 0, 100, 100, false, -1, 0}});
  const std::vector<CocoDetection> dets = {det(1, 1, 0, 0, 100, 100, 0.9)};
  EXPECT_EQ(evaluate_coco(gt, dets).stats[AP], 0.0);
  CocoEvalParams fixed = CocoEvalParams::bbox();
  fixed.zero_gt_id_quirk = false;
  EXPECT_NEAR(evaluate_coco(gt, dets, fixed).stats[AP], 1.0, kTol);
}

TEST(CocoEval, SummaryFormatIsPycocotools) {
  std::array<double, 12> s{};
  s.fill(-1);
  s[0] = 0.47512, s[1] = 0.6449, s[8] = 1;
  const std::string text = format_coco_summary(s);
  const std::string expected_head =
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.475\n"
      " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.645\n"
      " Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = -1.000\n"
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000\n"
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000\n"
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = -1.000\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = -1.000\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000\n";
  EXPECT_EQ(text.substr(0, expected_head.size()), expected_head);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 12);
}

// ---------------------------------------------------------------------------------------------
// Results files and errors
// ---------------------------------------------------------------------------------------------

TEST(CocoResults, RoundTripIsBitExact) {
  const CocoDataset gt = make_gt({7}, {3}, {});
  const std::vector<CocoDetection> dets = {det(7, 3, 0.1, 1.0 / 3, 12.345, 99.999, 0.123456789012345678),
                                           det(7, 3, 1e-9, 2, 3, 4, 1.0)};
  const std::vector<CocoDetection> back = parse_coco_results(coco_results_to_json(dets), "p.json", gt);
  ASSERT_EQ(back.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back[i].score, dets[i].score);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(back[i].bbox[j], dets[i].bbox[j]);
  }
  EXPECT_TRUE(parse_coco_results("[]", "p.json", gt).empty());
}

TEST(CocoResults, ErrorsNameFileEntryAndField) {
  const CocoDataset gt = make_gt({1}, {1, 2}, {});
  auto err = [&](const std::string& text) { return error_of([&] { parse_coco_results(text, "predictions.json", gt); }); };
  EXPECT_NE(err("[{\"image_id\": 1,").find("predictions.json: invalid JSON"), std::string::npos);
  EXPECT_NE(err("{}").find("must be a JSON array"), std::string::npos);
  const std::string ok = R"({"image_id": 1, "category_id": 1, "bbox": [0,0,1,1], "score": 0.5})";
  EXPECT_EQ(err("[" + ok + ", {\"image_id\": 1, \"category_id\": 1, \"bbox\": [0,0,1,1]}]"),
            "predictions.json: entry 1: missing field 'score'");
  EXPECT_EQ(err(R"([{"category_id": 1, "bbox": [0,0,1,1], "score": 0.5}])"),
            "predictions.json: entry 0: missing field 'image_id'");
  EXPECT_EQ(err(R"([{"image_id": 1, "category_id": 1, "bbox": [0,0,1], "score": 0.5}])"),
            "predictions.json: entry 0: field 'bbox' must be [x, y, w, h]");
  EXPECT_EQ(err(R"([{"image_id": 1, "category_id": 1, "bbox": [0,0,1,1], "score": "high"}])"),
            "predictions.json: entry 0: field 'score' must be a number");
  EXPECT_NE(err(R"([{"image_id": 9, "category_id": 1, "bbox": [0,0,1,1], "score": 0.5}])")
                .find("entry 0: field 'image_id': 9 is not an image of"),
            std::string::npos);
  EXPECT_NE(err(R"([{"image_id": 1, "category_id": 5, "bbox": [0,0,1,1], "score": 0.5}])")
                .find("entry 0: field 'category_id': 5 is not a category of"),
            std::string::npos);
}

TEST(CocoDatasetJson, ParsesAndReportsErrors) {
  const std::string good = R"({"images": [{"id": 4, "file_name": "a.jpg", "width": 10, "height": 20}],
    "categories": [{"id": 9, "name": "dog"}, {"id": 2, "name": "cat"}],
    "annotations": [{"id": 1, "image_id": 4, "category_id": 9, "bbox": [1,2,3,4]}]})";
  const CocoDataset d = parse_coco_json(good, "instances.json");
  // Categories sorted by id -> contiguous indices: cat (2) = 0, dog (9) = 1; ids map back.
  EXPECT_EQ(d.names(), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(d.class_index(9), 1);
  EXPECT_EQ(d.category_id(0), 2);
  EXPECT_EQ(d.annotations[0].area, 12.0);  // defaulted to w*h, with a note
  EXPECT_EQ(d.notes.size(), 2u);          // area and iscrowd defaulted
  EXPECT_EQ(d.images[0].height, 20);

  auto err = [](const std::string& text) { return error_of([&] { parse_coco_json(text, "instances.json"); }); };
  EXPECT_NE(err("{\"images\": [").find("instances.json: invalid JSON"), std::string::npos);
  EXPECT_EQ(err(R"({"images": [], "annotations": []})"), "instances.json: missing field 'categories'");
  EXPECT_EQ(err(R"({"images": [{"id": 1}], "categories": [{"id": 1}],
                    "annotations": [{"id": 1, "image_id": 1, "category_id": 1}]})"),
            "instances.json: annotations[0]: missing field 'bbox'");
  EXPECT_EQ(err(R"({"images": [{"id": 1}], "categories": [{"id": 1}],
                    "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0,0,1,1]}]})"),
            "instances.json: annotations[0]: image_id 2 is not in 'images'");
  EXPECT_EQ(err(R"({"images": [{"id": 1}], "categories": [{"id": 1}],
                    "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0,0,1,1]}]})"),
            "instances.json: annotations[0]: category_id 3 is not in 'categories'");
  EXPECT_EQ(err(R"({"images": [{"id": "x"}], "categories": [], "annotations": []})"),
            "instances.json: images[0]: field 'id' must be an integer");
  EXPECT_EQ(err(R"({"images": [{"id": 1}, {"id": 1}], "categories": [], "annotations": []})"),
            "instances.json: images: duplicate id 1");
}

// ---------------------------------------------------------------------------------------------
// Debian's labelme-examples COCO json
// ---------------------------------------------------------------------------------------------

class Labelme : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kLabelmeJson))
      GTEST_SKIP() << kLabelmeJson << " not found (apt-get install labelme-examples)";
    gt = load_coco_json(kLabelmeJson);
  }
  // Every annotation as a detection with score 1; odd ids shifted right by half their width
  // (IoU 1/3 with their own box) with score 0.5 when `shift` is set; category `drop` left out.
  std::vector<CocoDetection> self_detections(bool shift = false, int64_t drop = -1) const {
    std::vector<CocoDetection> out;
    for (const auto& a : gt.annotations) {
      if (a.category_id == drop) continue;
      CocoDetection d = det(a.image_id, a.category_id, a.bbox[0], a.bbox[1], a.bbox[2], a.bbox[3], 1.0);
      if (shift && a.id % 2 == 1) d.bbox[0] += a.bbox[2] / 2, d.score = 0.5;
      out.push_back(d);
    }
    return out;
  }
  CocoEvalParams no_quirk() const {
    CocoEvalParams p = CocoEvalParams::bbox();
    p.zero_gt_id_quirk = false;
    return p;
  }
  CocoDataset gt;
};

// The file: 3 images, 21 categories, 12 annotations in 6 categories: person (ids 0,1,6,7,8,10),
// bottle (2), bus (3,4), car (5), chair (9), sofa (11). Areas (the `area` field, polygon areas):
// small: 2 (873), 10 (996); medium: 5 (7256), 8 (7597); the rest large.
TEST_F(Labelme, ScoresOneAgainstItself) {
  EXPECT_EQ(gt.images.size(), 3u);
  EXPECT_EQ(gt.categories.size(), 21u);
  EXPECT_EQ(gt.annotations.size(), 12u);
  const CocoEvalResult r = evaluate_coco(gt, self_detections(), no_quirk());
  // Everything is found: AP = AR = 1 in every range. AR1 (one detection per image and category,
  // file order among the score ties): person 2 of 6 (one per image with persons), bus 1 of 2, the
  // other four categories 1: (1/3 + 1/2 + 4) / 6 = 29/36.
  expect_stats(r, {1, 1, 1, 1, 1, 1, 29.0 / 36, 1, 1, 1, 1, 1});
}

TEST_F(Labelme, AnnotationIdZeroAsPycocotoolsScoresIt) {
  // Annotation id 0 (a large person in image 0) is "unmatched" for pycocotools. Person, area all,
  // detections in image order (all score 1): FP (id 0), then 5 TPs.
  //   rc = [0, 1/6, .., 5/6], pr = [0, 1/2, 2/3, 3/4, 4/5, 5/6] -> envelope 5/6 up to recall 5/6:
  //   r_0..r_83 (84 points): AP_person = 84 * (5/6) / 101 = 70/101 at every threshold.
  //   AP = (70/101 + 5) / 6 = 575/606. AR100 = (5/6 + 5) / 6 = 35/36.
  // Large: person has 4 large gts (0, 1, 6, 7); FP, TP, TP, TP (the other two matched to ignored
  //   gts): rc up to 3/4, pr 3/4 -> 76 points * 3/4 / 101 = 57/101; with bus, chair, sofa at 1:
  //   APl = (57/101 + 3) / 4 = 360/404, ARl = (3/4 + 3) / 4 = 0.9375.
  // AR1: person image 0's single allowed detection is the id-0 FP: person 1/6 -> (1/6 + 1/2 + 4)/6.
  const CocoEvalResult r = evaluate_coco(gt, self_detections());
  expect_stats(r, {575.0 / 606, 575.0 / 606, 575.0 / 606, 1, 1, 360.0 / 404, 28.0 / 36, 35.0 / 36, 35.0 / 36, 1, 1,
                   0.9375});
}

TEST_F(Labelme, PerturbedCopiesDropAsExpected) {
  // Dropping every person detection: person AP 0, the other five categories 1 -> AP = 5/6.
  // Small: bottle 1, person 0 -> 0.5; medium: car 1, person 0 -> 0.5; large: person 0, bus, chair,
  // sofa 1 -> 0.75.
  expect_stats(evaluate_coco(gt, self_detections(false, 15), no_quirk()),
               {5.0 / 6, 5.0 / 6, 5.0 / 6, 0.5, 0.5, 0.75, 0.75, 5.0 / 6, 5.0 / 6, 0.5, 0.5, 0.75});

  // Shifting the odd ids by half a width (IoU 1/3 < .5, score 0.5 so they rank after the exact ones):
  // per category the exact ones are TPs at precision 1, then only FPs. AP = (floor(100 m/n) + 1)/101
  // for m of n found: person 4 of 6 (ids 1, 7 shifted) -> 67/101; bottle 1 of 1 -> 1; bus 1 of 2
  // -> 51/101; car, chair, sofa 0 of 1 -> 0. AP = (67 + 101 + 51) / 606 = 219/606.
  // Small: bottle, person (id 10) found -> 1. Medium: car 0, person (id 8) 1 -> 0.5.
  // Large: person 2 of 4 -> 51/101, bus 51/101, chair 0, sofa 0 -> 102/404.
  // Recall: AR100 = (4/6 + 1 + 1/2) / 6 = 13/36, ARl = (1/2 + 1/2) / 4 = 0.25; AR1: person 2 of 6,
  // bottle 1, bus 1/2 -> (1/3 + 1 + 1/2) / 6 = 11/36.
  expect_stats(evaluate_coco(gt, self_detections(true), no_quirk()),
               {219.0 / 606, 219.0 / 606, 219.0 / 606, 1, 0.5, 102.0 / 404, 11.0 / 36, 13.0 / 36, 13.0 / 36, 1, 0.5,
                0.25});
}

// ---------------------------------------------------------------------------------------------
// SuperGradients DetectionMetrics
// ---------------------------------------------------------------------------------------------

namespace {
SgBox sgbox(float x1, float y1, float x2, float y2, int cls, float score = 0) {
  SgBox b;
  b.x1 = x1, b.y1 = y1, b.x2 = x2, b.y2 = y2, b.cls = cls, b.score = score;
  return b;
}
}  // namespace

TEST(SgMetrics, PerfectAndDuplicate) {
  // One target, the exact box (0.9) and a duplicate (0.8): TP then FP at every threshold.
  //   recall [1, 1], precision [1, 1/2] (float eps vanishes) -> all 101 samples at index 0 -> AP 1.
  // At score_thres 0.1 both count: P = 1/2, R = 1, F1 = 2/3.
  SgImage img;
  img.targets = {sgbox(0, 0, 100, 100, 0)};
  img.preds = {sgbox(0, 0, 100, 100, 0, 0.9f), sgbox(0, 0, 100, 100, 0, 0.8f)};
  const SgMetricsResult r = sg_detection_metrics({img}, 2);
  EXPECT_DOUBLE_EQ(r.map, 1.0);
  EXPECT_DOUBLE_EQ(r.precision, 0.5);
  EXPECT_DOUBLE_EQ(r.recall, 1.0);
  EXPECT_NEAR(r.f1, 2.0 / 3, 1e-6);
  EXPECT_EQ(r.present_classes, std::vector<int>{0});  // class 1 has no target: not averaged
  // The best score threshold keeps only the TP: the first grid point above 0.8 is 0.81
  // (P = R = 1, F1 = 1).
  EXPECT_NEAR(r.best_score_threshold, 0.81, 1e-6);
}

TEST(SgMetrics, TopKPerClassDiffersFromCocoMaxDets) {
  // One target; 120 FPs outscore the TP (rank 121). COCO keeps 100 per image and category: AP 0.
  // SG keeps 300 per class: rc = [0 x 120, 1], precision at the TP 1/121 -> envelope 1/121: AP = 1/121.
  SgImage img;
  img.targets = {sgbox(0, 0, 100, 100, 0)};
  CocoDataset gt = make_gt({1}, {0}, {{1, 0, 0, 0, 100, 100}});
  std::vector<CocoDetection> dets;
  for (int i = 0; i < 120; ++i) {
    const float s = 0.99f - i * 0.001f;
    img.preds.push_back(sgbox(200.f + i, 200, 210.f + i, 210, 0, s));
    dets.push_back(det(1, 0, 200 + i, 200, 10, 10, s));
  }
  img.preds.push_back(sgbox(0, 0, 100, 100, 0, 0.5f));
  dets.push_back(det(1, 0, 0, 0, 100, 100, 0.5));
  EXPECT_NEAR(sg_detection_metrics({img}, 1).map, 1.0 / 121, 1e-6);
  EXPECT_EQ(evaluate_coco(gt, dets).stats[AP], 0.0);
  // The same through the COCO -> SG adapter.
  EXPECT_NEAR(sg_detection_metrics(sg_images_from_coco(gt, dets), 1).map, 1.0 / 121, 1e-6);
  // top_k = 100 cuts the TP: AP 0.
  SgMetricsParams p;
  p.top_k = 100;
  EXPECT_EQ(sg_detection_metrics({img}, 1, p).map, 0.0);
}

TEST(SgMetrics, CrowdIgnoresUnmatchedPredictions) {
  // A target and a crowd region; a prediction inside the crowd (IoA 1 > every threshold) is ignored,
  // so the single TP gives AP 1; without the crowd it would be a FP ranked first: recall [0, 1],
  // precision [0, 1/2] -> envelope 1/2 -> AP 1/2.
  SgImage img;
  img.targets = {sgbox(0, 0, 100, 100, 0)};
  img.crowd = {sgbox(200, 0, 500, 300, 0)};
  img.preds = {sgbox(210, 10, 260, 60, 0, 0.95f), sgbox(0, 0, 100, 100, 0, 0.9f)};
  EXPECT_DOUBLE_EQ(sg_detection_metrics({img}, 1).map, 1.0);
  img.crowd.clear();
  EXPECT_NEAR(sg_detection_metrics({img}, 1).map, 0.5, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Curves, table, confusion matrix, plots
// ---------------------------------------------------------------------------------------------

TEST(EvalPlots, CurvesTableAndConfusionMatrix) {
  // Category 1: two gts found at scores 0.9 and 0.8, plus a FP at 0.3; category 2: one gt found at 0.7.
  const CocoDataset gt = make_gt({1}, {1, 2}, {{1, 1, 0, 0, 100, 100}, {1, 1, 200, 0, 100, 100}, {1, 2, 0, 200, 100, 100}});
  const std::vector<CocoDetection> dets = {det(1, 1, 0, 0, 100, 100, 0.9), det(1, 1, 200, 0, 100, 100, 0.8),
                                           det(1, 1, 400, 400, 50, 50, 0.3), det(1, 2, 0, 200, 100, 100, 0.7)};
  const CocoEvalResult r = evaluate_coco(gt, dets);
  // Curves on a 101-point grid (conf i/100). Points of category 1: (score, recall, precision) =
  // (.9, 1/2, 1), (.8, 1, 1), (.3, 1, 2/3), interpolated linearly in score:
  //   conf .85: recall (1/2 + 1)/2 = 3/4, precision 1;  conf .5: recall 1, precision 1 - (.3/.5)/3 = 0.8.
  // Category 2 has one point (.7, 1, 1): above .7 recall 0 / precision 1, at or below it 1 / 1.
  const PrfCurves c = compute_prf_curves(r, 101);
  ASSERT_EQ(c.classes, (std::vector<int>{0, 1}));
  EXPECT_NEAR(c.r[0][85], 0.75, 1e-9);
  EXPECT_NEAR(c.p[0][85], 1.0, 1e-9);
  EXPECT_NEAR(c.r[0][50], 1.0, 1e-9);
  EXPECT_NEAR(c.p[0][50], 0.8, 1e-9);
  EXPECT_NEAR(c.f1[0][50], 2 * 0.8 / 1.8, 1e-9);
  EXPECT_EQ(c.r[1][85], 0.0);
  EXPECT_NEAR(c.f1[1][50], 1.0, 1e-9);
  // The class-mean F1 peaks where category 2 is found and category 1's precision is still high.
  EXPECT_GT(c.best_conf, 0.3);
  EXPECT_LE(c.best_conf, 0.8);
  // A class with ground truth but no detection scores P = R = 0, not a precision of 1.
  {
    const CocoDataset gt3 = make_gt({1}, {1, 2}, {{1, 1, 0, 0, 100, 100}, {1, 2, 0, 200, 100, 100}});
    const PrfCurves c3 = compute_prf_curves(evaluate_coco(gt3, {det(1, 1, 0, 0, 100, 100, 0.9)}), 101);
    ASSERT_EQ(c3.classes, (std::vector<int>{0, 1}));
    EXPECT_EQ(c3.best_p[1], 0.0);
    EXPECT_EQ(c3.best_r[1], 0.0);
    EXPECT_NEAR(c3.mean_p, 0.5, 1e-9);
  }
  const std::string table = format_class_table(r, c, 1);
  EXPECT_NE(table.find("mAP50-95"), std::string::npos);
  EXPECT_NE(table.find("cat2"), std::string::npos);

  // Confusion matrix (conf > 0.25, IoU > 0.45): the three exact boxes are diagonal, the 0.3 FP lands
  // in [cat 0][background]. A wrong-class detection and a missed gt in a second image:
  ConfusionMatrix cm(2);
  cm.add_coco(gt, dets);
  EXPECT_EQ(cm.at(0, 0), 2);
  EXPECT_EQ(cm.at(1, 1), 1);
  EXPECT_EQ(cm.at(0, 2), 1);
  cm.add_image({{0, 0, 10, 10, 0, 1}, {50, 50, 60, 60, 1, 1}}, {{0, 0, 10, 10, 1, 0.9}});
  EXPECT_EQ(cm.at(1, 0), 1);  // predicted 1, truth 0
  EXPECT_EQ(cm.at(2, 1), 1);  // truth 1 missed: background predicted
  EXPECT_EQ(cm.true_positives(), (std::vector<int64_t>{2, 1}));

  // The PNGs are written and readable.
  const fs::path dir = temp_dir("plots");
  save_pr_curve_png((dir / "PR_curve.png").string(), r);
  save_conf_curve_png((dir / "F1_curve.png").string(), c, gt.names(), CurveKind::F1);
  save_confusion_matrix_png((dir / "cm.png").string(), cm, gt.names(), true);
  for (const char* f : {"PR_curve.png", "F1_curve.png", "cm.png"}) {
    const cv::Mat img = cv::imread((dir / f).string());
    EXPECT_FALSE(img.empty()) << f;
    EXPECT_GT(img.cols, 400) << f;
  }
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// YOLO data.yaml reader
// ---------------------------------------------------------------------------------------------

TEST(YoloDataset, LabelPathRule) {
  EXPECT_EQ(image_to_label_path("/d/images/train/a.jpg"), "/d/labels/train/a.txt");
  EXPECT_EQ(image_to_label_path("/d/images/x/images/b.v2.PNG"), "/d/images/x/labels/b.v2.txt");
  EXPECT_EQ(image_to_label_path("/d/imgs.v1/c"), "/d/imgs.v1/c.txt");
}

TEST(YoloDataset, ReadsSplitsNamesAndReportsBadRows) {
  const fs::path root = temp_dir("yolo");
  // images: train/ folder (2 images + a non-image), val via a .txt list, test as a list of folders.
  for (const char* f : {"images/train/a.jpg", "images/train/sub/b.PNG", "images/train/notes.md", "images/val/c.jpg",
                        "images/val/d.jpg", "images/t1/e.jpg", "images/t2/f.jpg"})
    write_text(root / f, "x");
  write_text(root / "val.txt", "images/val/d.jpg\n./images/val/c.jpg\n\n");
  write_text(root / "labels/train/a.txt", "0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.1 0.1\n");
  write_text(root / "labels/val/c.txt",
             "0 0.5 0.5 0.2 0.4\n"        // 1: ok
             "0 0.5 0.5 0.2\n"            // 2: 4 values
             "3 0.5 0.5 0.2 0.2\n"        // 3: class 3 >= 2 names
             "1 0.5 1.5 0.2 0.2\n"        // 4: not normalized
             "1 0.5 0.5 0 0.2\n"          // 5: zero width
             "0 0.5 0.5 0.2 0.4\n"        // 6: duplicate of line 1
             "1 0.1 0.1 0.3 0.1 0.2 0.5\n"  // 7: polygon -> box x 0.1..0.3, y 0.1..0.5
             "x 0.5 0.5 0.2 0.2\n");      // 8: not a number
  // d.jpg has no label file: an image without objects.
  write_text(root / "data.yaml", "path: .\ntrain: images/train\nval: val.txt\ntest: [images/t1, images/t2]\n"
                                 "names: [cat, dog]\n");
  const DataYaml data = load_data_yaml((root / "data.yaml").string());
  EXPECT_EQ(data.names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(list_split_images(data, "train").size(), 2u);  // notes.md is not an image
  EXPECT_EQ(list_split_images(data, "test").size(), 2u);

  const DataSplit val = load_yolo_split(data, "val");
  ASSERT_EQ(val.samples.size(), 2u);  // sorted: c, d
  EXPECT_EQ(fs::path(val.samples[0].image).filename(), "c.jpg");
  EXPECT_EQ(val.missing_label_files, 1);
  EXPECT_FALSE(val.samples[1].has_label_file);
  EXPECT_TRUE(val.samples[1].labels.empty());
  ASSERT_EQ(val.samples[0].labels.size(), 2u);  // line 1 and the polygon
  const BoxLabel& poly = val.samples[0].labels[1];
  EXPECT_EQ(poly.cls, 1);
  EXPECT_NEAR(poly.cx, 0.2, 1e-12);
  EXPECT_NEAR(poly.cy, 0.3, 1e-12);
  EXPECT_NEAR(poly.w, 0.2, 1e-12);
  EXPECT_NEAR(poly.h, 0.4, 1e-12);
  ASSERT_EQ(val.issues.size(), 6u);
  const std::vector<std::pair<int, IssueKind>> want = {{2, IssueKind::BadRow},   {3, IssueKind::BadClass},
                                                       {4, IssueKind::OutOfBounds}, {5, IssueKind::ZeroSize},
                                                       {6, IssueKind::Duplicate}, {8, IssueKind::BadRow}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(val.issues[i].line, want[i].first);
    EXPECT_EQ(val.issues[i].kind, want[i].second);
  }
  const std::string s = val.issues[1].str();
  EXPECT_NE(s.find("labels/val/c.txt:3: bad_class: class 3 >= 2 names"), std::string::npos) << s;

  // Pixel boxes and COCO form: 200x100 image, cx .5 cy .5 w .2 h .4 -> x 80, y 30, w 40, h 40.
  const CocoDataset coco = coco_from_yolo(val, {{200, 100}, {50, 50}});
  ASSERT_EQ(coco.annotations.size(), 2u);
  EXPECT_EQ(coco.annotations[0].id, 1);  // never 0 (pycocotools' unmatched marker)
  EXPECT_EQ(coco.images[1].id, 1);
  EXPECT_NEAR(coco.annotations[0].bbox[0], 80, 1e-9);
  EXPECT_NEAR(coco.annotations[0].bbox[1], 30, 1e-9);
  EXPECT_NEAR(coco.annotations[0].bbox[2], 40, 1e-9);
  EXPECT_NEAR(coco.annotations[0].area, 1600, 1e-9);
  EXPECT_EQ(coco.category_id(1), 1);

  EXPECT_NE(error_of([&] { list_split_images(data, "minival"); }).find("no 'minival' split (has: test, train, val)"),
            std::string::npos);
  fs::remove_all(root);
}

TEST(YoloDataset, NamesMapRoboflowPathsAndErrors) {
  const fs::path root = temp_dir("yolo_rf");
  write_text(root / "train/images/a.jpg", "x");
  write_text(root / "valid/images/b.jpg", "x");
  // Roboflow: data.yaml in the dataset root but splits written as "../train/images".
  write_text(root / "data.yaml", "train: ../train/images\nval: ../valid/images\nnc: 2\nnames: {0: person, 1: car}\n");
  const DataYaml data = load_data_yaml((root / "data.yaml").string());
  EXPECT_EQ(data.names, (std::vector<std::string>{"person", "car"}));
  EXPECT_EQ(list_split_images(data, "val").size(), 1u);

  write_text(root / "gap.yaml", "val: valid/images\nnames: {0: a, 2: c}\n");
  EXPECT_NE(error_of([&] { load_data_yaml((root / "gap.yaml").string()); }).find("index 1 is missing"),
            std::string::npos);
  write_text(root / "nc.yaml", "val: valid/images\nnc: 3\nnames: [a, b]\n");
  EXPECT_NE(error_of([&] { load_data_yaml((root / "nc.yaml").string()); }).find("nc is 3 but 'names' has 2"),
            std::string::npos);
  write_text(root / "missing.yaml", "val: nowhere\nnames: [a]\n");
  const DataYaml m = load_data_yaml((root / "missing.yaml").string());
  EXPECT_NE(error_of([&] { list_split_images(m, "val"); }).find("does not exist"), std::string::npos);
  EXPECT_NE(error_of([&] { load_data_yaml((root / "none.yaml").string()); }).find("cannot open data file"),
            std::string::npos);
  fs::remove_all(root);
}
