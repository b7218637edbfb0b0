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
