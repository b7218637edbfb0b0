// The one preprocessing and the one evaluation path: training-time validation, `predict` and the
// loader's validation batches feed the network the same tensor; the cost of SG's two resize
// roundings, measured; class matching.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_util.h"
#include "yolonas/api/detector.h"
#include "yolonas/data/dataset.h"
#include "yolonas/data/loader.h"
#include "yolonas/detect/pipeline.h"
#include "yolonas/eval/evaluator.h"

using namespace yolonas;
using yolonas::test::data_dir;

namespace {

// An engine that records the inputs it is given and detects nothing.
class RecordingEngine : public InferenceEngine {
 public:
  explicit RecordingEngine(int num_classes) : classes_(num_classes) {}
  void run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
           std::vector<float>& scores) override {
    const size_t per_image = static_cast<size_t>(3) * height * width;
    for (int b = 0; b < batch; ++b) inputs.emplace_back(input + b * per_image, input + (b + 1) * per_image);
    const size_t anchors = static_cast<size_t>(height / 8) * (width / 8);
    boxes.assign(static_cast<size_t>(batch) * anchors * 4, 0.0f);
    scores.assign(static_cast<size_t>(batch) * anchors * classes_, 0.0f);
  }
  int num_classes() const override { return classes_; }
  std::string describe() const override { return "recording"; }
  std::vector<std::vector<float>> inputs;

 private:
  int classes_;
};

std::string synth_val() { return data_dir() + "/synth_val/data.yaml"; }

// A copy of synth_val whose images are resized to odd sizes (43% .. 89% of the original, a different
// factor per image), so that round() and int() of the resize size disagree on many of them. YOLO
// labels are normalized: they stay valid as they are.
std::string odd_sized_copy(const test::TempRoot& t) {
  const DataSplit split = load_split(open_dataset(synth_val()), "val");
  std::string yaml = "train: images/val\nval: images/val\nnames:\n";
  for (const std::string& n : split.names) yaml += "  - \"" + n + "\"\n";
  t.write("data.yaml", yaml);
  for (size_t i = 0; i < split.samples.size(); ++i) {
    const LabeledImage& s = split.samples[i];
    const cv::Mat im = cv::imread(s.image, cv::IMREAD_COLOR);
    const double f = 0.43 + 0.023 * static_cast<double>(i);
    cv::Mat out;
    cv::resize(im, out, cv::Size(static_cast<int>(im.cols * f) | 1, static_cast<int>(im.rows * f) | 1), 0, 0, cv::INTER_AREA);
    const std::string stem = std::filesystem::path(s.image).stem().string();
    std::vector<uchar> png;
    cv::imencode(".png", out, png);
    t.write("images/val/" + stem + ".png", std::string(png.begin(), png.end()));
    std::ifstream label(s.label);
    t.write("labels/val/" + stem + ".txt", std::string(std::istreambuf_iterator<char>(label), {}));
  }
  return t.str("data.yaml");
}

// The default model's preprocessing (320 input, longest side 318, centre pad, RGB).
PreprocessParams default_preprocessing() {
  PreprocessParams pp = PreprocessParams::for_imgsz(320, 320);
  pp.rgb = true;
  return pp;
}

}  // namespace

TEST(Eval, ValidationPredictAndLoaderFeedTheSameTensor) {
  const PreprocessParams pp = default_preprocessing();
  test::TempRoot t("eval_same_tensor");
  DataSplit split = load_split(open_dataset(odd_sized_copy(t)), "val");
  const size_t n = split.samples.size();
  ASSERT_EQ(n, 24u);
  const std::vector<std::string> names = split.names;

  // Training-time validation: the evaluation library (what ValidationHook and `yolonas val` run).
  RecordingEngine val(static_cast<int>(names.size()));
  EvalOptions opt;
  opt.batch = 4;
  opt.progress = false;
  evaluate(val, names, pp, eval_set_from_split(split, "synth_val"), opt);
  ASSERT_EQ(val.inputs.size(), n);

  // predict: the CLI reads the file (EXIF orientation ignored, as SG's predict) and the Detector
  // runs the pipeline on it (detect_images).
  RecordingEngine pred(static_cast<int>(names.size()));
  for (const LabeledImage& s : split.samples)
    detect_images(pred, {read_image(s.image, Orientation::AsStored)}, pp, NmsParams::predict_defaults());
  ASSERT_EQ(pred.inputs.size(), n);

  // The loader's validation batches with the model's preprocessing.
  LoaderConfig lc;
  lc.height = lc.width = 320;
  lc.batch_size = static_cast<int>(n);
  lc.workers = 0;
  lc.train = false;
  lc.drop_last = false;
  lc.ignore_empty = false;
  lc.val_preprocess = pp;
  DataLoader loader(split, lc);
  const Batch b = loader.make_batch(0, 0);
  ASSERT_EQ(b.batch_size, static_cast<int>(n));

  std::set<int> heights;
  int round_up = 0;  // images whose resized size round() takes up where int() would not
  for (size_t i = 0; i < n; ++i) {
    const cv::Mat im = read_image(split.samples[i].image, Orientation::AsStored);
    PreprocessParams trunc = pp;
    trunc.rounding = Rounding::Truncate;
    const Letterbox lr = compute_letterbox(im.rows, im.cols, pp), lt = compute_letterbox(im.rows, im.cols, trunc);
    round_up += lr.new_h != lt.new_h || lr.new_w != lt.new_w;
    EXPECT_EQ(val.inputs[i], pred.inputs[i]) << split.samples[i].image;
    const std::vector<float> from_loader(b.images.begin() + i * 3 * 320 * 320, b.images.begin() + (i + 1) * 3 * 320 * 320);
    EXPECT_EQ(from_loader, pred.inputs[i]) << split.samples[i].image;
    heights.insert(b.letterboxes[i].new_h);
  }
  EXPECT_GE(heights.size(), 3u) << "the images should have several shapes";
  EXPECT_GT(round_up, 0) << "some image should be one where SG's two roundings differ";
}

// SG's predict() rounds the resized size (round()), its datasets truncate (int()); we validate
// with predict's rounding (detect/preprocess.h). The cost of that choice, measured on the built-in
// default model and 24 synthetic validation images it was not trained on.
TEST(Eval, RoundingEffectOnMapIsSmall) {
  DetectorOptions o;
  o.model = "";
  o.weights = test::repo_dir() + "/models/yolonas_default.pth";
  o.threads = 2;
  Detector det = Detector::load(o);
  test::TempRoot t("eval_rounding");
  const EvalSet set = open_eval_set(odd_sized_copy(t), "val");
  EvalOptions opt;
  opt.coco = true;
  opt.sg = true;
  opt.progress = false;
  PreprocessParams round = det.preprocessing();
  ASSERT_EQ(round.rounding, Rounding::Python);
  PreprocessParams trunc = round;
  trunc.rounding = Rounding::Truncate;
  const EvalResult a = evaluate(det.engine(), det.names(), round, set, opt);
  const EvalResult b = evaluate(det.engine(), det.names(), trunc, set, opt);
  // Some images must be resized differently for this to measure anything.
  int differ = 0;
  for (const std::string& path : set.image_paths) {
    const cv::Mat im = read_image(path, Orientation::ApplyExif);
    differ += compute_letterbox(im.rows, im.cols, round).new_h != compute_letterbox(im.rows, im.cols, trunc).new_h ||
              compute_letterbox(im.rows, im.cols, round).new_w != compute_letterbox(im.rows, im.cols, trunc).new_w;
  }
  EXPECT_GT(differ, 0);
  std::printf("default model, 24 synthetic val images at odd sizes, %d resized differently: COCO AP %.4f (round) vs %.4f (int), "
              "SG mAP@0.50:0.95 %.4f vs %.4f\n",
              differ, a.coco->stats[0], b.coco->stats[0], a.sg->map, b.sg->map);
  EXPECT_GT(a.coco->stats[0], 0.1);  // the model detects something on these images
  EXPECT_NEAR(a.coco->stats[0], b.coco->stats[0], 0.01);
  EXPECT_NEAR(a.sg->map, b.sg->map, 0.01);
}

TEST(Eval, ClassesAreMatchedByNameWhenTheOrderDiffers) {
  const ClassMap same = map_classes({"a", "b"}, {"a", "b"});
  EXPECT_EQ(same.to_dataset, (std::vector<int>{0, 1}));
  EXPECT_TRUE(same.notes.empty());
  const ClassMap swapped = map_classes({"a", "b", "c"}, {"c", "a", "d"});
  EXPECT_EQ(swapped.to_dataset, (std::vector<int>{1, -1, 0}));
  ASSERT_EQ(swapped.notes.size(), 1u);
  EXPECT_NE(swapped.notes[0].find("by name (2 shared)"), std::string::npos) << swapped.notes[0];
  EXPECT_NE(swapped.notes[0].find("'d'"), std::string::npos) << swapped.notes[0];
  const ClassMap unrelated = map_classes({"x", "y", "z"}, {"p", "q"});
  EXPECT_EQ(unrelated.to_dataset, (std::vector<int>{0, 1, -1}));
  EXPECT_NE(unrelated.notes.at(0).find("compared by index"), std::string::npos);
}

TEST(Eval, UnreadableImagesAreLeftOutAndCounted) {
  test::TempRoot t("eval_unreadable");
  DataSplit split = load_split(open_dataset(synth_val()), "val");
  split.samples.resize(3);
  split.samples[1].image = t.write("broken.jpg", "not a jpeg");
  RecordingEngine rec(static_cast<int>(split.names.size()));
  EvalOptions opt;
  opt.progress = false;
  const EvalResult r = evaluate(rec, split.names, default_preprocessing(), eval_set_from_split(split, "x"), opt);
  EXPECT_EQ(r.images_read, 2u);
  ASSERT_EQ(r.image_issues.size(), 1u);
  EXPECT_EQ(r.image_issues[0].kind, IssueKind::UnreadableImage);
  EXPECT_EQ(r.gt.images.size(), 2u);
  split.samples.resize(1);
  split.samples[0].image = t.str("missing.jpg");
  EXPECT_THROW(evaluate(rec, split.names, default_preprocessing(), eval_set_from_split(split, "x"), opt), Error);
}
