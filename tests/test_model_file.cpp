// Model files (.ynas) from LibTorch models: what the runtime reads gives what the in-memory engines
// give (FP32 bit for bit, INT8 with the same plan), on the golden image too; the fixture that
// writes S, M and L model files for test_runtime; the CLI's export format=ynas and predict on a file.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "torch_test_util.h"
#include "yolonas/api/detector.h"
#include "yolonas/api/quantize.h"
#include "yolonas/detect/decode.h"
#include "yolonas/detect/tta.h"
#include "yolonas/eval/evaluator.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/model/fusion.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/runtime/int8.h"
#include "yolonas/runtime/model_file.h"
#include "yolonas/runtime/onednn_engine.h"
#include "yolonas/runtime/rt_detector.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

LoadedModel random_model(const std::string& variant, int classes = 80) {
  ModelSource s;
  s.model = variant;
  s.random_init = true;
  s.num_classes = classes;
  torch::manual_seed(7);
  LoadedModel lm = load_model(s);
  fuse_for_inference(lm.model, "full");
  return lm;
}

std::vector<float> run_engine(InferenceEngine& e, const std::vector<float>& x, int b, int h, int w,
                              std::vector<float>* scores = nullptr) {
  std::vector<float> boxes, s;
  e.run(x.data(), b, h, w, boxes, s);
  if (scores) *scores = s;
  return boxes;
}

}  // namespace

// Writes random-weight S, M and L model files for test_runtime (ctest runs this first: a fixture).
TEST(Fixtures, DISABLED_WriteRandomModelFiles) {
  fs::create_directories(YOLONAS_FIXTURES);
  for (const char* v : {"yolo_nas_s", "yolo_nas_m", "yolo_nas_l"}) {
    LoadedModel lm = random_model(v);
    const DnnGraph graph = build_dnn_graph(lm.model);
    write_model_file(std::string(YOLONAS_FIXTURES) + "/" + v + ".ynas", graph, nullptr, lm.meta.to_json(), "",
                     "yolonas tests");
    if (std::string(v) != "yolo_nas_s") continue;
    // And S in INT8, calibrated on two random 640 images.
    torch::manual_seed(9);
    const torch::Tensor calib = torch::rand({2, 3, 640, 640}).contiguous();
    const float* c = calib.data_ptr<float>();
    const DnnInt8 plan = plan_int8(graph, calibrate_ranges(graph, 640, 640, {c, c + 3 * 640 * 640}));
    write_model_file(std::string(YOLONAS_FIXTURES) + "/yolo_nas_s_int8.ynas", graph, &plan, lm.meta.to_json(),
                     "calibrated on 2 random images", "yolonas tests");
  }
}

TEST(ModelFile, Fp32FileGivesTheInMemoryEngineOutputs) {
  TempRoot t("model_file_fp32");
  LoadedModel lm = random_model("yolo_nas_s", 5);
  const DnnGraph graph = build_dnn_graph(lm.model);
  const std::string path = t.str("s.ynas");
  write_model_file(path, graph, nullptr, lm.meta.to_json());
  const ModelFile mf = read_model_file(path);
  EXPECT_FALSE(mf.int8.has_value());
  EXPECT_EQ(mf.info.names.size(), 5u);
  EXPECT_EQ(mf.graph.ops.size(), graph.ops.size());
  OnednnEngine from_memory(graph), from_file(mf.graph);
  const torch::Tensor xt = torch::rand({2, 3, 96, 128}).contiguous();
  const std::vector<float> x(xt.data_ptr<float>(), xt.data_ptr<float>() + xt.numel());
  std::vector<float> sa, sb;
  EXPECT_EQ(run_engine(from_memory, x, 2, 96, 128, &sa), run_engine(from_file, x, 2, 96, 128, &sb));
  EXPECT_EQ(sa, sb);
  // The file's metadata is the checkpoint's.
  const ModelMeta back = ModelMeta::from_json(mf.meta_json, path);
  EXPECT_EQ(back.arch.to_json(), lm.meta.arch.to_json());
  EXPECT_EQ(back.preprocessing.describe(), lm.meta.preprocessing.describe());
}

TEST(ModelFile, Int8FileStoresQuantizedWeightsAndGivesTheSameOutputs) {
  TempRoot t("model_file_int8");
  LoadedModel lm = random_model("yolo_nas_s", 3);
  const DnnGraph graph = build_dnn_graph(lm.model);
  torch::manual_seed(3);
  const torch::Tensor calib = torch::rand({2, 3, 64, 64}).contiguous();
  const float* c = calib.data_ptr<float>();
  const DnnInt8 plan = plan_int8(graph, calibrate_ranges(graph, 64, 64, {c, c + 3 * 64 * 64}));
  const std::string fp32 = t.str("s.ynas"), int8 = t.str("s_int8.ynas");
  write_model_file(fp32, graph, nullptr, lm.meta.to_json());
  write_model_file(int8, graph, &plan, lm.meta.to_json(), "calibrated on 2 random images");
  // s8 weights: the INT8 file is about a quarter of the FP32 one.
  EXPECT_LT(fs::file_size(int8), fs::file_size(fp32) * 0.35) << fs::file_size(int8) << " vs " << fs::file_size(fp32);
  const ModelFile mf = read_model_file(int8);
  ASSERT_TRUE(mf.int8.has_value());
  EXPECT_EQ(mf.int8_note, "calibrated on 2 random images");
  OnednnEngine mem(graph, plan), file(mf.graph, mf.int8);
  EXPECT_EQ(mem.describe(), "oneDNN INT8");
  const std::vector<float> x(c, c + 3 * 64 * 64);
  std::vector<float> sa, sb;
  EXPECT_EQ(run_engine(mem, x, 1, 64, 64, &sa), run_engine(file, x, 1, 64, 64, &sb));
  EXPECT_EQ(sa, sb);
}

TEST(ModelFile, DefaultModelOnTheRuntimeMatchesLibTorch) {
  // The built-in default model exported to a model file and run by the runtime library (rt::Detector)
  // gives the LibTorch path's detections on a real photo.
  const std::string weights = repo_dir() + "/models/yolonas_default.pth";
  const std::string image = data_dir() + "/synth/000003.jpg";
  TempRoot t("model_file_default");
  ModelSource s;
  s.model = "";
  s.weights = weights;
  LoadedModel lm = load_model(s);
  fuse_for_inference(lm.model, "full");
  const std::string path = t.str("default.ynas");
  write_model_file(path, build_dnn_graph(lm.model), nullptr, lm.meta.to_json());
  const rt::Detector rt = rt::Detector::load(path, 2);
  DetectorOptions o;
  o.model = "";
  o.weights = weights;
  o.engine = "libtorch";
  o.threads = 2;
  Detector ref = Detector::load(o);
  const cv::Mat im = cv::imread(image, cv::IMREAD_COLOR);
  const ImageResult a = rt.predict(im), b = ref.predict(im, ref.default_nms());
  ASSERT_FALSE(b.detections.empty());
  ASSERT_EQ(a.detections.size(), b.detections.size());
  for (size_t i = 0; i < a.detections.size(); ++i) {
    EXPECT_EQ(a.detections[i].cls, b.detections[i].cls);
    EXPECT_NEAR(a.detections[i].score, b.detections[i].score, 1e-4);
    EXPECT_NEAR(a.detections[i].x1, b.detections[i].x1, 5e-3);
    EXPECT_NEAR(a.detections[i].y2, b.detections[i].y2, 5e-3);
  }
  // The library Detector takes the file too (weights=model.ynas), and so does `yolonas predict`.
  DetectorOptions fo;
  fo.weights = path;
  Detector from_file = Detector::load(fo);
  EXPECT_NE(from_file.describe().find("[model file]"), std::string::npos) << from_file.describe();
  EXPECT_EQ(from_file.predict(im, from_file.default_nms()).detections.size(), a.detections.size());
  fo.engine = "libtorch";
  EXPECT_NE(error_of([&] { Detector::load(fo); }).find("oneDNN runtime"), std::string::npos);
}

// SG's YOLO-NAS S (the golden checkpoint) as FP32 and INT8 model files, run by the runtime library on
// SG's golden image, against the LibTorch path: FP32 to today's tolerances; INT8's differences
// measured and reported (calibrated on the two golden images and the six synthetic test images).
TEST(ModelFile, GoldenSAsFp32AndInt8FilesOnTheGoldenImage) {
  REQUIRE_GOLDEN();
  TempRoot t("model_file_golden");
  ModelSource s;
  s.model = "yolo_nas_s";
  s.weights = golden_dir() + "/yolo_nas_s_det.pth";
  LoadedModel lm = load_model(s);
  fuse_for_inference(lm.model, "full");
  const DnnGraph graph = build_dnn_graph(lm.model);
  std::vector<std::string> calib = {golden_dir() + "/image_640_src_000000444010.jpg",
                                    golden_dir() + "/image_320_src_000000475546.jpg"};
  for (const auto& e : fs::directory_iterator(data_dir() + "/synth")) calib.push_back(e.path().string());
  size_t used = 0;
  const DnnInt8 plan = calibrate_int8(graph, lm.meta.preprocessing, calib, 32, &used);
  const std::string fp32 = t.str("s.ynas"), int8 = t.str("s_int8.ynas");
  write_model_file(fp32, graph, nullptr, lm.meta.to_json());
  write_model_file(int8, graph, &plan, lm.meta.to_json(), "golden + synth");

  DetectorOptions o;
  o.model = "yolo_nas_s";
  o.weights = s.weights;
  o.engine = "libtorch";
  Detector ref = Detector::load(o);
  const cv::Mat im = read_image(golden_dir() + "/image_640_src_000000444010.jpg", Orientation::AsStored);
  const ImageResult want = ref.predict(im, ref.default_nms());
  ASSERT_FALSE(want.detections.empty());
  const ImageResult a = rt::Detector::load(fp32).predict(im), q = rt::Detector::load(int8).predict(im);
  ASSERT_EQ(a.detections.size(), want.detections.size());
  for (size_t i = 0; i < a.detections.size(); ++i) {
    EXPECT_EQ(a.detections[i].cls, want.detections[i].cls);
    EXPECT_NEAR(a.detections[i].score, want.detections[i].score, 1e-4);
    for (float d : {a.detections[i].x1 - want.detections[i].x1, a.detections[i].y1 - want.detections[i].y1,
                    a.detections[i].x2 - want.detections[i].x2, a.detections[i].y2 - want.detections[i].y2})
      EXPECT_LT(std::fabs(d), 5e-3);
  }
  // INT8: each FP32 detection's best same-class INT8 match.
  auto iou = [](const Detection& x, const Detection& y) {
    const float iw = std::max(0.0f, std::min(x.x2, y.x2) - std::max(x.x1, y.x1));
    const float ih = std::max(0.0f, std::min(x.y2, y.y2) - std::max(x.y1, y.y1));
    const float i = iw * ih;
    return i / ((x.x2 - x.x1) * (x.y2 - x.y1) + (y.x2 - y.x1) * (y.y2 - y.y1) - i);
  };
  int matched = 0;
  double worst_px = 0, worst_score = 0;
  for (const Detection& w : want.detections) {
    const Detection* best = nullptr;
    for (const Detection& d : q.detections)
      if (d.cls == w.cls && (!best || iou(d, w) > iou(*best, w))) best = &d;
    if (!best || iou(*best, w) < 0.8f) continue;
    ++matched;
    worst_score = std::max(worst_score, double(std::fabs(best->score - w.score)));
    for (float d : {best->x1 - w.x1, best->y1 - w.y1, best->x2 - w.x2, best->y2 - w.y2})
      worst_px = std::max(worst_px, double(std::fabs(d)));
  }
  std::printf("golden S on the golden image: FP32 model file = LibTorch (%zu detections); INT8 model file (%zu calibration "
              "images): %zu detections, %d of %zu FP32 ones matched at IoU >= 0.8, boxes within %.2f px, scores within %.3f\n",
              a.detections.size(), used, q.detections.size(), matched, want.detections.size(), worst_px, worst_score);
  // Plain PTQ (every layer but the heads quantized) loses some of SG's COCO detections here: the
  // number this test holds it to is what it measured (4 of 7); selective INT8 is to raise it.
  EXPECT_GE(matched, 4);
}

// Selective INT8 on the built-in default model: the scan measures every quantized group, sorts
// them by loss, and keeps the most sensitive ones in FP32 (here at most 3, with a budget of 0 so the
// selection has to act); the plan keeps exactly those groups' buffers in FP32.
TEST(Quantize, SelectiveScanKeepsTheMostSensitiveGroupsInFp32) {
  ModelSource s;
  s.model = "";
  s.weights = repo_dir() + "/models/yolonas_default.pth";
  LoadedModel lm = load_model(s);
  fuse_for_inference(lm.model, "full");
  const DnnGraph graph = build_dnn_graph(lm.model);
  std::vector<std::string> calib;
  for (const auto& e : fs::directory_iterator(data_dir() + "/synth")) calib.push_back(e.path().string());
  std::sort(calib.begin(), calib.end());
  QuantizeOptions q;
  q.method = CalibMethod::Mse;
  q.selective = true;
  q.budget = 0;
  q.max_fp32_groups = 3;
  q.max_scan_images = 3;
  q.verbose = false;
  QuantizeReport rep;
  const DnnInt8 plan = quantize_graph(graph, lm.meta, calib, q, &rep);
  EXPECT_EQ(rep.calibration_images, calib.size());
  EXPECT_EQ(rep.measure, "output error on 3 images");
  ASSERT_GT(rep.rows.size(), 20u);
  for (size_t i = 1; i < rep.rows.size(); ++i) EXPECT_GE(rep.rows[i - 1].loss, rep.rows[i].loss);
  int kept = 0;
  const std::vector<int> group = scale_groups(graph);
  for (const QuantizeScanRow& r : rep.rows) {
    kept += r.fp32;
    for (size_t b = 0; b < group.size(); ++b)
      if (group[b] == r.group && r.fp32) EXPECT_EQ(plan.is_f32[b], 1) << "group " << r.group;
  }
  EXPECT_EQ(kept, 3);
  EXPECT_TRUE(rep.rows[0].fp32 && rep.rows[1].fp32 && rep.rows[2].fp32);  // the three most sensitive
  EXPECT_NE(rep.table().find("INT8 sensitivity scan (mse"), std::string::npos);
  EXPECT_NE(rep.note().find("3 of"), std::string::npos) << rep.note();
  // The plan runs, and is stored in and read back from a model file with its report.
  TempRoot t("quantize_selective");
  write_model_file(t.str("sel.ynas"), graph, &plan, lm.meta.to_json(), rep.note(), "tests", rep.to_json().dump());
  const ModelFile mf = read_model_file(t.str("sel.ynas"));
  EXPECT_NE(mf.int8_report.find("\"scan\""), std::string::npos);
  const rt::Detector det = rt::Detector::load(t.str("sel.ynas"), 2);
  EXPECT_FALSE(det.predict(cv::imread(calib[0])).detections.empty());
}

// The INT8 regression bound (llama.cpp's rule: a quantization reports its accuracy): the built-in
// default model, calibrated on the six synthetic test images, loses at most one point of mAP50-95 on
// the 24 synthetic validation images (measured: FP32 0.297, INT8 0.304 with max and with mse).
TEST(Quantize, DefaultModelInt8StaysWithinOnePointOfFp32) {
  const EvalSet set = open_eval_set(data_dir() + "/synth_val/data.yaml", "val");
  std::vector<std::string> calib;
  for (const auto& e : fs::directory_iterator(data_dir() + "/synth")) calib.push_back(e.path().string());
  std::sort(calib.begin(), calib.end());
  EvalOptions eo;
  eo.nms.conf = 0.001f;
  eo.progress = false;
  auto map_of = [&](const std::string& engine, CalibMethod m) {
    DetectorOptions o;
    o.model = "";
    o.weights = repo_dir() + "/models/yolonas_default.pth";
    o.engine = engine;
    o.threads = 2;
    o.calibration_images = calib;
    o.quantize.method = m;
    o.quantize.verbose = false;
    Detector det = Detector::load(o);
    return evaluate(det.engine(), det.names(), det.preprocessing(), set, eo).coco->stats[0];
  };
  const double fp32 = map_of("onednn", CalibMethod::Max), max = map_of("int8", CalibMethod::Max),
               mse = map_of("int8", CalibMethod::Mse);
  std::printf("default model on synth_val: mAP50-95 FP32 %.4f, INT8 max %.4f, INT8 mse %.4f\n", fp32, max, mse);
  EXPECT_GT(fp32, 0.2);
  EXPECT_GE(max, fp32 - 0.01);
  EXPECT_GE(mse, fp32 - 0.01);
}

TEST(ModelFile, FlipAveragedEngineIsMirrorEquivariant) {
  // augment=flip (detect/tta.h) on the oneDNN engine: the output for a mirrored input is the mirrored
  // output, anchor for anchor (anchor (y, x) of a level w cells wide <-> (y, w - 1 - x)), whatever
  // the network; without the averaging it is not.
  ModelSource src;
  src.model = tiny_dir() + "/tiny_arch.json";
  src.weights = tiny_dir() + "/tiny_det.pth";
  LoadedModel lm = load_model(src);
  fuse_for_inference(lm.model, "full");
  const std::vector<int> strides = lm.meta.arch.strides();
  const int B = 2, H = 64, W = 96, C = 3;
  torch::manual_seed(11);
  const torch::Tensor xt = torch::rand({B, 3, H, W}).contiguous();
  const torch::Tensor mt = xt.flip({3}).contiguous();
  const std::vector<float> x(xt.data_ptr<float>(), xt.data_ptr<float>() + xt.numel());
  const std::vector<float> m(mt.data_ptr<float>(), mt.data_ptr<float>() + mt.numel());
  FlipAverageEngine flip(std::make_unique<OnednnEngine>(build_dnn_graph(lm.model)), strides);
  std::vector<float> sx, sm;
  const std::vector<float> bx = run_engine(flip, x, B, H, W, &sx), bm = run_engine(flip, m, B, H, W, &sm);
  const int A = count_anchors(H, W, strides);
  ASSERT_EQ(bx.size(), static_cast<size_t>(B * A * 4));
  double worst_score = 0, worst_box = 0;
  for (int i = 0; i < B; ++i) {
    int level = 0;
    for (int s : strides) {
      const int gh = H / s, gw = W / s;
      for (int y = 0; y < gh; ++y)
        for (int c = 0; c < gw; ++c) {
          const size_t a = static_cast<size_t>(i) * A + level + y * gw + c, r = static_cast<size_t>(i) * A + level + y * gw + (gw - 1 - c);
          for (int k = 0; k < C; ++k) worst_score = std::max(worst_score, double(std::fabs(sx[a * C + k] - sm[r * C + k])));
          worst_box = std::max({worst_box, double(std::fabs(bx[a * 4 + 0] - (W - bm[r * 4 + 2]))),
                                double(std::fabs(bx[a * 4 + 2] - (W - bm[r * 4 + 0]))), double(std::fabs(bx[a * 4 + 1] - bm[r * 4 + 1])),
                                double(std::fabs(bx[a * 4 + 3] - bm[r * 4 + 3]))});
        }
      level += gh * gw;
    }
  }
  EXPECT_LT(worst_score, 1e-5);
  EXPECT_LT(worst_box, 1e-3);
  // The same comparison without the averaging: the model itself is not mirror-equivariant.
  OnednnEngine plain(build_dnn_graph(lm.model));
  std::vector<float> px, pm;
  run_engine(plain, x, B, H, W, &px);
  run_engine(plain, m, B, H, W, &pm);
  double plain_worst = 0;
  for (int i = 0; i < B; ++i)
    for (int y = 0; y < H / 8; ++y)
      for (int c = 0; c < W / 8; ++c)
        plain_worst = std::max(plain_worst, double(std::fabs(px[(static_cast<size_t>(i) * A + y * (W / 8) + c) * C] -
                                                             pm[(static_cast<size_t>(i) * A + y * (W / 8) + W / 8 - 1 - c) * C])));
  EXPECT_GT(plain_worst, 1e-3);
}
