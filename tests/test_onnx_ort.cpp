// The ONNX exports run in ONNX Runtime (npm onnxruntime-node through scripts/ort_run.js) at batch
// 1, 2 and 3, with and without NMS inside, and in float16, against our engine. Skips with a message
// where node or onnxruntime-node is absent (scripts/setup.sh installs it where npm is).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "test_util.h"
#include "torch_test_util.h"
#include "yolonas/data/dataset.h"
#include "yolonas/detect/pipeline.h"
#include "yolonas/export/onnx_export.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/model/fusion.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/runtime/onednn_engine.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

std::string ort_script() { return repo_dir() + "/scripts/ort_run.js"; }

// Why ONNX Runtime cannot run here, or "".
std::string ort_missing() {
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  if (!fs::exists(repo_dir() + "/third_party/ort/node_modules/onnxruntime-node"))
    return "onnxruntime-node is not in third_party/ort (scripts/setup.sh installs it where npm is)";
  return "";
}

#define REQUIRE_ORT()                                              \
  do {                                                             \
    const std::string why = ort_missing();                         \
    if (!why.empty()) GTEST_SKIP() << "ONNX Runtime checks: " << why; \
  } while (0)

struct OrtOutputs {
  std::map<std::string, std::vector<int64_t>> dims;
  std::map<std::string, std::vector<float>> data;
  std::vector<double> ms;
};

OrtOutputs run_ort(const std::string& onnx, const std::vector<float>& input, int b, int h, int w, const TempRoot& t,
                   const std::string& tag) {
  const std::string in = t.str(tag + ".in.f32"), out = t.str(tag + ".out");
  {
    std::ofstream f(in, std::ios::binary);
    f.write(reinterpret_cast<const char*>(input.data()), static_cast<std::streamsize>(input.size() * sizeof(float)));
  }
  const std::string cmd = "node '" + ort_script() + "' '" + onnx + "' '" + in + "' " + std::to_string(b) + " 3 " +
                          std::to_string(h) + " " + std::to_string(w) + " '" + out + "' 2 > '" + t.str(tag + ".log") + "' 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << [&] {
    std::ifstream l(t.str(tag + ".log"));
    return std::string(std::istreambuf_iterator<char>(l), {});
  }();
  OrtOutputs r;
  std::ifstream j(out + "/outputs.json");
  if (!j) return r;
  const nlohmann::json doc = nlohmann::json::parse(j);
  for (const auto& [name, d] : doc.at("outputs").items()) {
    r.dims[name] = d.get<std::vector<int64_t>>();
    std::ifstream f(out + "/" + name + ".f32", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), {});
    r.data[name].resize(bytes.size() / sizeof(float));
    std::memcpy(r.data[name].data(), bytes.data(), bytes.size());
  }
  r.ms = doc.at("ms").get<std::vector<double>>();
  return r;
}

// The built-in default model (real weights) and three real validation images, preprocessed.
struct DefaultModel {
  LoadedModel lm;
  DnnGraph graph;
  std::vector<cv::Mat> images;
};

DefaultModel default_model() {
  DefaultModel s;
  ModelSource src;
  src.model = "";
  src.weights = repo_dir() + "/models/yolonas_default.pth";
  s.lm = load_model(src);
  fuse_for_inference(s.lm.model, "full");
  s.graph = build_dnn_graph(s.lm.model);
  const DataSplit split = load_split(open_dataset(data_dir() + "/synth_val/data.yaml"), "val");
  for (size_t i = 0; i < 3; ++i) s.images.push_back(read_image(split.samples[i].image, Orientation::ApplyExif));
  return s;
}

}  // namespace

TEST(OnnxRuntime, ExportGivesOurOutputsAtBatch1To3) {
  REQUIRE_ORT();
  DefaultModel s = default_model();
  TempRoot t("ort_plain");
  OnnxExportOptions eo;
  eo.height = eo.width = 320;
  const std::string onnx = t.str("m.onnx");
  std::ofstream(onnx, std::ios::binary) << export_onnx(s.graph, eo);
  OnednnEngine ours(s.graph);
  for (int b = 1; b <= 3; ++b) {
    const PreparedBatch pb = prepare_batch(std::vector<cv::Mat>(s.images.begin(), s.images.begin() + b), s.lm.meta.preprocessing);
    std::vector<float> boxes, scores;
    ours.run(pb.input.data(), b, 320, 320, boxes, scores);
    const OrtOutputs o = run_ort(onnx, pb.input, b, 320, 320, t, "b" + std::to_string(b));
    ASSERT_EQ(o.dims.at("boxes"), (std::vector<int64_t>{b, 2100, 4}));
    const int64_t nc = static_cast<int64_t>(s.lm.meta.names.size());  // the default model's classes
    ASSERT_EQ(o.dims.at("scores"), (std::vector<int64_t>{b, 2100, nc}));
    double db = 0, ds = 0;
    for (size_t i = 0; i < boxes.size(); ++i) db = std::max(db, double(std::fabs(boxes[i] - o.data.at("boxes")[i])));
    for (size_t i = 0; i < scores.size(); ++i) ds = std::max(ds, double(std::fabs(scores[i] - o.data.at("scores")[i])));
    std::printf("ONNX Runtime vs oneDNN, batch %d: boxes within %.2e px, scores within %.2e\n", b, db, ds);
    EXPECT_LT(db, 5e-3) << "batch " << b;
    EXPECT_LT(ds, 1e-4) << "batch " << b;
  }
}

TEST(OnnxRuntime, NmsInsideGivesOurDetections) {
  REQUIRE_ORT();
  DefaultModel s = default_model();
  TempRoot t("ort_nms");
  OnednnEngine ours(s.graph);
  const int nc = static_cast<int>(s.lm.meta.names.size());  // the default model's classes
  struct Case {
    float conf;
    int top_k, max_det;
  };
  // predict's defaults; then caps that bind: few candidates per image; few rows per image.
  for (const Case& c : {Case{0.25f, 1024, 300}, Case{0.01f, 40, 300}, Case{0.01f, 100000, 7}}) {
    OnnxExportOptions eo;
    eo.height = eo.width = 320;
    eo.nms = true;
    eo.conf = c.conf, eo.iou = 0.7f, eo.top_k = c.top_k, eo.max_det = c.max_det;
    const std::string tag = "top_k " + std::to_string(c.top_k) + ", max_det " + std::to_string(c.max_det);
    const std::string onnx = t.str("nms" + std::to_string(c.top_k) + "_" + std::to_string(c.max_det) + ".onnx");
    std::ofstream(onnx, std::ios::binary) << export_onnx(s.graph, eo);
    NmsParams nms;  // predict's rule (SG's PPYoloEPostPredictionCallback) with the same numbers
    nms.conf = c.conf, nms.iou = 0.7f, nms.top_k = c.top_k, nms.max_det = c.max_det;
    NmsParams uncapped = nms;
    uncapped.top_k = 100000, uncapped.max_det = 100000;
    bool caps_bind = false;
    for (int b = 1; b <= 3; ++b) {
      const PreparedBatch pb = prepare_batch(std::vector<cv::Mat>(s.images.begin(), s.images.begin() + b), s.lm.meta.preprocessing);
      std::vector<float> boxes, scores;
      ours.run(pb.input.data(), b, 320, 320, boxes, scores);
      const OrtOutputs o = run_ort(onnx, pb.input, b, 320, 320, t, "nms" + std::to_string(c.top_k) + "_" + std::to_string(c.max_det) + "_" + std::to_string(b));
      const std::vector<int64_t>& d = o.dims.at("detections");
      ASSERT_EQ(d.size(), 2u);
      ASSERT_EQ(d[1], 7);
      const std::vector<float>& rows = o.data.at("detections");
      size_t want_total = 0;
      for (int i = 0; i < b; ++i) {
        const float* bi = boxes.data() + size_t(i) * 2100 * 4;
        const float* si = scores.data() + size_t(i) * 2100 * nc;
        const std::vector<Detection> want = postprocess(bi, si, 2100, nc, nms);
        if (postprocess(bi, si, 2100, nc, uncapped).size() > want.size()) caps_bind = true;
        want_total += want.size();
        std::vector<const float*> got;
        for (int64_t r = 0; r < d[0]; ++r)
          if (rows[size_t(r) * 7] == i) got.push_back(&rows[size_t(r) * 7]);
        ASSERT_EQ(got.size(), want.size()) << tag << ", batch " << b << " image " << i;
        // Same detections (ours in descending score per image; ONNX's over the batch): each has its twin.
        for (const Detection& w : want) {
          const bool found = std::any_of(got.begin(), got.end(), [&](const float* g) {
            return int(g[6]) == w.cls && std::fabs(g[5] - w.score) < 1e-4 && std::fabs(g[1] - w.x1) < 5e-3 &&
                   std::fabs(g[4] - w.y2) < 5e-3;
          });
          EXPECT_TRUE(found) << tag << ", batch " << b << " image " << i << ": class " << w.cls << " score " << w.score;
        }
      }
      EXPECT_GT(want_total, 0u) << "the images should give detections";
      // Rows come best first.
      for (int64_t r = 1; r < d[0]; ++r) EXPECT_GE(rows[size_t(r - 1) * 7 + 5], rows[size_t(r) * 7 + 5]);
    }
    if (c.conf < 0.25f) EXPECT_TRUE(caps_bind) << tag << ": the cap should change the result, or this case tests nothing";
  }
}

TEST(OnnxRuntime, Float16ExportStaysCloseToFloat32) {
  REQUIRE_ORT();
  DefaultModel s = default_model();
  TempRoot t("ort_f16");
  OnnxExportOptions eo;
  eo.height = eo.width = 320;
  const std::string f32 = t.str("f32.onnx"), f16 = t.str("f16.onnx");
  std::ofstream(f32, std::ios::binary) << export_onnx(s.graph, eo);
  eo.half = true;
  std::ofstream(f16, std::ios::binary) << export_onnx(s.graph, eo);
  EXPECT_LT(fs::file_size(f16), fs::file_size(f32) * 0.55);
  const PreparedBatch pb = prepare_batch(s.images, s.lm.meta.preprocessing);
  const OrtOutputs a = run_ort(f32, pb.input, 3, 320, 320, t, "f32"), h = run_ort(f16, pb.input, 3, 320, 320, t, "f16");
  double db = 0, ds = 0;
  for (size_t i = 0; i < a.data.at("boxes").size(); ++i)
    db = std::max(db, double(std::fabs(a.data.at("boxes")[i] - h.data.at("boxes")[i])));
  for (size_t i = 0; i < a.data.at("scores").size(); ++i)
    ds = std::max(ds, double(std::fabs(a.data.at("scores")[i] - h.data.at("scores")[i])));
  std::printf("float16 export vs float32 in ONNX Runtime (default model, 3 images at 320): boxes within %.3f px, "
              "scores within %.4f\n", db, ds);
  EXPECT_LT(db, 2.0);   // float16 has 11 bits of mantissa: boxes of a 320 input to about a pixel
  EXPECT_LT(ds, 0.02);
}
