// PPYoloEPostPredictionCallback + torchvision NMS: bit-exact against SuperGradients' own results on the
// stored network outputs (tiny set always, full-size golden set when present), plus hand-made cases for
// each rule (thresholds, top-k, classes filter, agnostic NMS, max_det, batched_nms' coordinate trick).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "test_util.h"
#include "yolonas/core/error.h"
#include "yolonas/core/npy.h"
#include "yolonas/detect/postprocess.h"
#include "yolonas/detect/preprocess.h"

using yolonas::Detection;
using yolonas::NmsParams;
using yolonas::test::golden_dir;
using yolonas::test::tiny_dir;

namespace {

// Network outputs for a batch: boxes [B,A,4], scores [B,A,C].
struct Outputs {
  std::vector<float> boxes, scores;
  int batch = 0, anchors = 0, classes = 0;
  const float* boxes_of(int b) const { return boxes.data() + static_cast<size_t>(b) * anchors * 4; }
  const float* scores_of(int b) const { return scores.data() + static_cast<size_t>(b) * anchors * classes; }
};

Outputs load_outputs(const std::string& dir) {
  const yolonas::NpyArray bx = yolonas::load_npy(dir + "/pred_bboxes.npy");
  const yolonas::NpyArray sc = yolonas::load_npy(dir + "/pred_scores.npy");
  Outputs o;
  EXPECT_EQ(bx.shape.size(), 3u);
  EXPECT_EQ(sc.shape.size(), 3u);
  o.batch = static_cast<int>(bx.shape[0]);
  o.anchors = static_cast<int>(bx.shape[1]);
  o.classes = static_cast<int>(sc.shape[2]);
  EXPECT_EQ(sc.shape[0], o.batch);
  EXPECT_EQ(sc.shape[1], o.anchors);
  o.boxes = bx.to_float();
  o.scores = sc.to_float();
  return o;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// SG's [N,6] rows must come out identically: same count, same order, bit-identical floats, same classes.
void expect_same_rows(const std::vector<Detection>& got, const std::string& expected_npy) {
  SCOPED_TRACE(expected_npy);
  const yolonas::NpyArray ref = yolonas::load_npy(expected_npy);
  ASSERT_EQ(ref.shape.size(), 2u);
  ASSERT_EQ(ref.shape[1], 6);
  const std::vector<float> r = ref.to_float();
  ASSERT_EQ(static_cast<int64_t>(got.size()), ref.shape[0]) << "detection count differs";
  int mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const float* e = &r[6 * i];
    const Detection& d = got[i];
    const bool same = same_bits(d.x1, e[0]) && same_bits(d.y1, e[1]) && same_bits(d.x2, e[2]) &&
                      same_bits(d.y2, e[3]) && same_bits(d.score, e[4]) && static_cast<float>(d.cls) == e[5];
    if (!same && ++mismatches <= 5)
      ADD_FAILURE() << "row " << i << ": got [" << d.x1 << ", " << d.y1 << ", " << d.x2 << ", " << d.y2 << ", "
                    << d.score << ", " << d.cls << "], SG [" << e[0] << ", " << e[1] << ", " << e[2] << ", " << e[3]
                    << ", " << e[4] << ", " << e[5] << "]";
  }
  EXPECT_EQ(mismatches, 0);
}

NmsParams params(float conf, float iou, int top_k, int max_det, bool multi_label = true, bool agnostic = false) {
  NmsParams p;
  p.conf = conf;
  p.iou = iou;
  p.top_k = top_k;
  p.max_det = max_det;
  p.multi_label = multi_label;
  p.agnostic = agnostic;
  return p;
}

// The four configurations of tests/data/tiny/README.md ("Post-processing configurations").
struct Config {
  std::string name;
  NmsParams p;
};
std::vector<Config> tiny_configs() {
  return {{"predict", params(0.25f, 0.7f, 1024, 300)},
          {"valid", params(0.01f, 0.7f, 1000, 300)},
          {"extra_topk64_iou04_max16", params(0.01f, 0.4f, 64, 16)},
          {"extra_single_label_agnostic_iou04", params(0.25f, 0.4f, 1024, 300, false, true)}};
}

void check_case(const std::string& outputs_dir, const std::string& expected_dir, const std::vector<Config>& configs,
                const std::string& prefix = "") {
  const Outputs o = load_outputs(outputs_dir);
  for (const Config& c : configs) {
    for (int b = 0; b < o.batch; ++b) {
      const std::vector<Detection> got =
          yolonas::postprocess(o.boxes_of(b), o.scores_of(b), o.anchors, o.classes, c.p);
      expect_same_rows(got, expected_dir + "/" + prefix + c.name + "_img" + std::to_string(b) + ".npy");
    }
  }
}

// A small single-image problem built by hand: one box per anchor and a dense score matrix.
struct Toy {
  explicit Toy(int num_classes) : classes(num_classes) {}
  int classes;
  std::vector<float> boxes, scores;
  void add(std::vector<float> box, std::vector<float> s) {
    boxes.insert(boxes.end(), box.begin(), box.end());
    s.resize(classes, 0.0f);
    scores.insert(scores.end(), s.begin(), s.end());
  }
  int anchors() const { return static_cast<int>(boxes.size() / 4); }
  std::vector<Detection> run(const NmsParams& p) const {
    return yolonas::postprocess(boxes.data(), scores.data(), anchors(), classes, p);
  }
};

}  // namespace

// ---- SuperGradients reference results ------------------------------------------------------------

TEST(Postprocess, TinyRandomBatchMatchesSgExactly) {
  check_case(tiny_dir() + "/random_b2_96x128/eval_unfused", tiny_dir() + "/random_b2_96x128/postprocess",
             tiny_configs());
}

TEST(Postprocess, TinyImageMatchesSgExactly) {
  check_case(tiny_dir() + "/image_128/eval_unfused", tiny_dir() + "/image_128/postprocess", tiny_configs());
}

TEST(Postprocess, TinyCountsMatchReadme) {
  // Guards against the reference files silently changing: the README's counts per configuration.
  const Outputs o = load_outputs(tiny_dir() + "/random_b2_96x128/eval_unfused");
  const std::vector<Config> c = tiny_configs();
  const int expect[4][2] = {{132, 162}, {300, 300}, {16, 16}, {84, 103}};
  for (size_t k = 0; k < c.size(); ++k)
    for (int b = 0; b < 2; ++b)
      EXPECT_EQ(yolonas::postprocess(o.boxes_of(b), o.scores_of(b), o.anchors, o.classes, c[k].p).size(),
                static_cast<size_t>(expect[k][b]))
          << c[k].name << " img" << b;
}

std::vector<Config> golden_configs() {
  return {{"predict", params(0.25f, 0.7f, 1024, 300)}, {"valid", params(0.01f, 0.7f, 1000, 300)}};
}

TEST(Postprocess, GoldenRandom640MatchesSgExactly) {
  REQUIRE_GOLDEN();
  check_case(golden_dir() + "/eval_random_640_unfused", golden_dir() + "/postprocess_random_640", golden_configs());
}

TEST(Postprocess, GoldenImage640MatchesSgExactly) {
  REQUIRE_GOLDEN();
  check_case(golden_dir() + "/eval_image_640_unfused", golden_dir() + "/postprocess_image_640", golden_configs());
}

TEST(Postprocess, GoldenBatch320MatchesSgExactly) {
  REQUIRE_GOLDEN();
  check_case(golden_dir() + "/eval_batch2_320_unfused", golden_dir() + "/postprocess_batch2_320", golden_configs());
}

// model.predict() end to end after the network: callback on the fused model's outputs, then the letterbox
// of the 480x640 source undone. The golden README reports 6e-5 px between this route and SG's predict();
// that is what dividing by the scale gives. SG really multiplies by float32(1/scale) (_rescale_bboxes),
// and with that the result is bit-identical, so compare exactly.
TEST(Postprocess, GoldenPredictImage640EndToEnd) {
  REQUIRE_GOLDEN();
  const Outputs o = load_outputs(golden_dir() + "/eval_image_640_fused_partial");
  std::vector<Detection> dets =
      yolonas::postprocess(o.boxes_of(0), o.scores_of(0), o.anchors, o.classes, NmsParams::predict_defaults());
  const yolonas::Letterbox lb = yolonas::compute_letterbox(480, 640, yolonas::PreprocessParams());
  yolonas::undo_letterbox(dets, lb);

  const std::vector<float> boxes = yolonas::load_npy(golden_dir() + "/predict_image_640/bboxes_xyxy.npy").to_float();
  const std::vector<float> conf = yolonas::load_npy(golden_dir() + "/predict_image_640/confidence.npy").to_float();
  const std::vector<int64_t> labels = yolonas::load_npy(golden_dir() + "/predict_image_640/labels.npy").to_int64();
  ASSERT_EQ(dets.size(), 7u);
  ASSERT_EQ(conf.size(), 7u);
  for (size_t i = 0; i < dets.size(); ++i) {
    EXPECT_EQ(dets[i].x1, boxes[4 * i + 0]) << i;
    EXPECT_EQ(dets[i].y1, boxes[4 * i + 1]) << i;
    EXPECT_EQ(dets[i].x2, boxes[4 * i + 2]) << i;
    EXPECT_EQ(dets[i].y2, boxes[4 * i + 3]) << i;
    EXPECT_EQ(dets[i].score, conf[i]) << i;
    EXPECT_EQ(dets[i].cls, labels[i]) << i;
  }
}

// ---- Hand-made cases ------------------------------------------------------------------------------

TEST(Postprocess, EmptyInputGivesNoDetections) {
  EXPECT_TRUE(yolonas::postprocess(nullptr, nullptr, 0, 80, NmsParams::predict_defaults()).empty());
  Toy t(3);
  t.add({0, 0, 10, 10}, {0.1f, 0.2f, 0.24f});
  EXPECT_TRUE(t.run(NmsParams::predict_defaults()).empty());
  EXPECT_TRUE(yolonas::nms({}, {}, 0.5f).empty());
}

TEST(Postprocess, MultiLabelIsStrictSingleLabelIsInclusive) {
  Toy t(3);
  t.add({0, 0, 10, 10}, {0.25f, 0.25f, 0.1f});   // exactly at conf: ties for the max
  t.add({20, 0, 30, 10}, {0.3f, 0.4f, 0.1f});
  // multi-label: '>' drops both 0.25 scores; (1,0) and (1,1) are separate candidates.
  std::vector<Detection> m = t.run(NmsParams::predict_defaults());
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].cls, 1);
  EXPECT_EQ(m[0].score, 0.4f);
  EXPECT_EQ(m[1].cls, 0);
  EXPECT_EQ(m[1].score, 0.3f);
  // single-label: '>=' keeps anchor 0 with the first maximal class (0); anchor 1 keeps only class 1.
  NmsParams p = NmsParams::predict_defaults();
  p.multi_label = false;
  std::vector<Detection> s = t.run(p);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].cls, 1);
  EXPECT_EQ(s[0].score, 0.4f);
  EXPECT_EQ(s[1].cls, 0);
  EXPECT_EQ(s[1].score, 0.25f);
  EXPECT_EQ(s[1].x1, 0.0f);
}

TEST(Postprocess, ClassesFilterKeepsOnlyListedClasses) {
  Toy t(4);
  t.add({0, 0, 10, 10}, {0.9f, 0.8f, 0.7f, 0.6f});
  t.add({50, 50, 60, 60}, {0.3f, 0.0f, 0.95f, 0.0f});
  NmsParams p = NmsParams::predict_defaults();
  p.classes = {2, 3};
  const std::vector<Detection> d = t.run(p);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].cls, 2);
  EXPECT_EQ(d[0].score, 0.95f);
  EXPECT_EQ(d[1].cls, 2);
  EXPECT_EQ(d[1].score, 0.7f);
  EXPECT_EQ(d[2].cls, 3);
  // The filter runs before top-k: with top_k 1 the best *listed* class survives, not class 0 (0.9).
  p.top_k = 1;
  const std::vector<Detection> one = t.run(p);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].cls, 2);
  EXPECT_EQ(one[0].score, 0.95f);
}

TEST(Postprocess, AgnosticNmsSuppressesAcrossClasses) {
  Toy t(2);
  t.add({0, 0, 10, 10}, {0.9f, 0.0f});
  t.add({1, 0, 11, 10}, {0.0f, 0.8f});  // IoU 90/110 = 0.82 with the first, other class
  NmsParams p = NmsParams::predict_defaults();
  EXPECT_EQ(t.run(p).size(), 2u);  // per-class NMS keeps both
  p.agnostic = true;
  const std::vector<Detection> d = t.run(p);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].cls, 0);
  // Same class: suppressed even without agnostic.
  Toy same(2);
  same.add({0, 0, 10, 10}, {0.9f, 0.0f});
  same.add({1, 0, 11, 10}, {0.8f, 0.0f});
  EXPECT_EQ(same.run(NmsParams::predict_defaults()).size(), 1u);
}

TEST(Postprocess, TopKAndMaxDetKeepTheBestInDescendingOrder) {
  Toy t(1);
  const float s[10] = {0.5f, 0.9f, 0.3f, 0.7f, 0.6f, 0.95f, 0.4f, 0.8f, 0.35f, 0.65f};
  for (int i = 0; i < 10; ++i) t.add({100.0f * i, 0, 100.0f * i + 10, 10}, {s[i]});  // disjoint boxes
  NmsParams p = NmsParams::predict_defaults();
  p.max_det = 4;
  std::vector<Detection> d = t.run(p);
  ASSERT_EQ(d.size(), 4u);
  const float expect[4] = {0.95f, 0.9f, 0.8f, 0.7f};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(d[i].score, expect[i]);
  EXPECT_EQ(d[0].x1, 500.0f);  // boxes travel with their scores
  p.max_det = 300;
  p.top_k = 3;
  d = t.run(p);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[2].score, 0.8f);
  p.top_k = 1000;
  EXPECT_EQ(t.run(p).size(), 10u);
}

TEST(Nms, SuppressesOnlyAboveThresholdInDescendingScoreOrder) {
  // B overlaps A with IoU exactly 0.5 (inter 50, union 100): '>' keeps it at iou 0.5, drops it at 0.49.
  const std::vector<float> boxes = {0, 0, 10, 10, /*B*/ 0, 0, 10, 5, /*C*/ 20, 20, 30, 30};
  const std::vector<float> scores = {0.6f, 0.7f, 0.9f};
  EXPECT_EQ(yolonas::nms(boxes, scores, 0.5f), (std::vector<int>{2, 1, 0}));
  EXPECT_EQ(yolonas::nms(boxes, scores, 0.49f), (std::vector<int>{2, 1}));
  EXPECT_THROW(yolonas::nms(boxes, {0.5f}, 0.5f), yolonas::Error);
}

// torchvision compares the float IoU with the *double* threshold from Python. IoU 2/5 in float32 is
// 0.4000000060 > 0.4, so torch suppresses; comparing with 0.4f would keep the box.
TEST(Nms, ThresholdIsComparedAsPythonDouble) {
  const std::vector<float> boxes = {0, 0, 4, 1, /*area 3, inter 2, union 5*/ 2, 0, 5, 1};
  EXPECT_EQ(yolonas::nms(boxes, {0.9f, 0.8f}, 0.4f), (std::vector<int>{0}));
  // 0.7f < 0.7, so there the float and double comparisons agree: IoU 0.7f is not above 0.7.
  const std::vector<float> b7 = {0, 0, 10, 1, /*inter 7, union 10*/ 3, 0, 10, 1};
  EXPECT_EQ(yolonas::nms(b7, {0.9f, 0.8f}, 0.7f), (std::vector<int>{0, 1}));
}

// torchvision 0.14 batched_nms below 4000 box values shifts class c by c * (max coordinate + 1) in float32.
// Near 2^24 the float spacing is 2, so class-1 boxes [0,0,4,4] and [0,0,4,5] (IoU 0.8) both become
// [2^24, 2^24, 2^24+4, 2^24+4] (IoU 1) and the second one is suppressed at iou 0.9. SG inherits this.
TEST(Postprocess, BatchedNmsCoordinateTrickRoundingIsReproduced) {
  Toy t(3);
  t.add({16777000, 16777000, 16777215, 16777215}, {0.5f, 0.0f, 0.0f});  // sets the max coordinate
  t.add({0, 0, 4, 4}, {0.0f, 0.9f, 0.0f});
  t.add({0, 0, 4, 5}, {0.0f, 0.8f, 0.0f});
  NmsParams p = NmsParams::predict_defaults();
  p.iou = 0.9f;
  const std::vector<Detection> d = t.run(p);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].score, 0.9f);
  EXPECT_EQ(d[0].y2, 4.0f);  // output boxes are the original, un-shifted ones
  EXPECT_EQ(d[1].score, 0.5f);
  // Class-agnostic NMS has no offsets: IoU 0.8 < 0.9 keeps all three.
  p.agnostic = true;
  EXPECT_EQ(t.run(p).size(), 3u);
}

// Above 1000 candidates (4000 box values) torchvision switches to one nms per class on the raw boxes:
// the same pair as above is then kept, and the result is sorted by descending score.
TEST(Postprocess, BatchedNmsPerClassPathAboveThousandCandidates) {
  Toy t(3);
  t.add({16777000, 16777000, 16777215, 16777215}, {0.5f, 0.0f, 0.0f});
  t.add({0, 0, 4, 4}, {0.0f, 0.9f, 0.0f});
  t.add({0, 0, 4, 5}, {0.0f, 0.8f, 0.0f});
  for (int i = 0; i < 1000; ++i)  // disjoint class-2 filler boxes
    t.add({20.0f * i, 100, 20.0f * i + 10, 110}, {0.0f, 0.0f, 0.3f + 0.0001f * i});
  NmsParams p = NmsParams::predict_defaults();
  p.iou = 0.9f;
  p.max_det = 2000;
  p.top_k = 2000;
  const std::vector<Detection> d = t.run(p);
  ASSERT_EQ(d.size(), 1003u);
  EXPECT_EQ(d[0].score, 0.9f);
  EXPECT_EQ(d[1].score, 0.8f);  // kept on this path
  EXPECT_EQ(d[1].y2, 5.0f);
  EXPECT_EQ(d[2].score, 0.5f);
  for (size_t i = 1; i < d.size(); ++i) EXPECT_GE(d[i - 1].score, d[i].score);
  // top_k 1000 brings it back to 1000 candidates (coordinate trick): the pair collapses again.
  p.top_k = 1000;
  const std::vector<Detection> t1000 = t.run(p);
  ASSERT_EQ(t1000.size(), 999u);
  EXPECT_EQ(t1000[1].score, 0.5f);
}

TEST(Postprocess, UndoLetterboxMapsToSourcePixels) {
  const yolonas::Letterbox lb = yolonas::compute_letterbox(480, 640, yolonas::PreprocessParams());
  std::vector<Detection> d = {{2.0f, 81.0f, 638.0f, 558.0f, 0.9f, 3}};
  yolonas::undo_letterbox(d, lb);
  EXPECT_EQ(d[0].x1, 0.0f);
  EXPECT_EQ(d[0].y1, 0.0f);
  EXPECT_NEAR(d[0].x2, 640.0f, 1e-4);
  EXPECT_NEAR(d[0].y2, 480.0f, 1e-4);
  EXPECT_EQ(d[0].score, 0.9f);
  EXPECT_EQ(d[0].cls, 3);
  // No clipping (SG does not clip): a box in the padding maps outside the image.
  std::vector<Detection> out = {{0.0f, 0.0f, 1.0f, 1.0f, 0.5f, 0}};
  yolonas::undo_letterbox(out, lb);
  EXPECT_LT(out[0].x1, 0.0f);
  EXPECT_LT(out[0].y1, 0.0f);
}
