// The oneDNN runtime against LibTorch: the same fused model gives the same boxes and scores (tiny arch
// on random input, any batch and non-square size; YOLO-NAS S on SG's golden image), and a model that
// is not fully fused is refused naming the module.
#include <gtest/gtest.h>

#include <opencv2/dnn.hpp>

#include "torch_test_util.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/core/error.h"
#include "yolonas/model/fusion.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/runtime/onednn_net.h"
#include "yolonas/export/onnx_export.h"
#include "yolonas/detect/postprocess.h"
#include "yolonas/api/detector.h"

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include "yolonas/model/state_dict.h"

using namespace yolonas;
using namespace yolonas::test;

namespace {

YoloNAS load(const std::string& arch_file, const std::string& weights) {
  YoloNAS m(arch_file.empty() ? ArchParams::by_name("yolo_nas_s") : ArchParams::from_file(arch_file));
  load_state_dict(*m, read_checkpoint(weights).weights, weights);
  m->eval();
  fuse_for_inference(m, "full");
  return m;
}

// LibTorch and oneDNN outputs of `m` on `x` (NCHW).
void both(YoloNAS& m, const torch::Tensor& x, torch::Tensor& tb, torch::Tensor& ts, torch::Tensor& db,
          torch::Tensor& ds) {
  {
    c10::InferenceMode g;
    std::tie(tb, ts) = m->forward_decoded(x);
  }
  OnednnNet net(build_dnn_graph(m), static_cast<int>(x.size(0)), static_cast<int>(x.size(2)),
                static_cast<int>(x.size(3)));
  std::vector<float> boxes, scores;
  const torch::Tensor xc = x.contiguous();
  net.run(xc.data_ptr<float>(), boxes, scores);
  ASSERT_EQ(boxes.size(), static_cast<size_t>(tb.numel()));
  ASSERT_EQ(scores.size(), static_cast<size_t>(ts.numel()));
  db = torch::from_blob(boxes.data(), tb.sizes(), torch::kFloat32).clone();
  ds = torch::from_blob(scores.data(), ts.sizes(), torch::kFloat32).clone();
}

}  // namespace

TEST(Onednn, TinyEqualsLibTorchOnAnyBatchAndSize) {
  YoloNAS m = load(tiny_dir() + "/tiny_arch.json", tiny_dir() + "/tiny_det.pth");
  torch::manual_seed(0);
  for (auto shape : {std::vector<int64_t>{1, 3, 64, 64}, std::vector<int64_t>{3, 3, 96, 160}}) {
    const torch::Tensor x = torch::rand(shape);
    torch::Tensor tb, ts, db, ds;
    both(m, x, tb, ts, db, ds);
    EXPECT_LT(max_abs(db, tb), 2e-3) << "boxes, input " << x.sizes();
    EXPECT_LT(max_abs(ds, ts), 1e-5) << "scores, input " << x.sizes();
  }
}

TEST(Onednn, MediumAndLargeEqualLibTorch) {
  // Their module trees differ from S's (stage depths, neck widths, concat_intermediates): every
  // variant must map. Random initialization, small input.
  for (const char* variant : {"yolo_nas_m", "yolo_nas_l"}) {
    torch::manual_seed(1);
    YoloNAS m(ArchParams::by_name(variant));
    m->eval();
    fuse_for_inference(m, "full");
    const torch::Tensor x = torch::rand({1, 3, 64, 96});
    torch::Tensor tb, ts, db, ds;
    both(m, x, tb, ts, db, ds);
    EXPECT_LT(max_abs(db, tb), 2e-3) << variant;
    EXPECT_LT(max_abs(ds, ts), 1e-5) << variant;
  }
}

TEST(Onednn, YoloNasSEqualsLibTorchOnTheGoldenImage) {
  REQUIRE_GOLDEN();
  YoloNAS m = load("", golden_dir() + "/yolo_nas_s_det.pth");
  const torch::Tensor x = load_tensor(golden_dir() + "/input_image_640.npy");
  torch::Tensor tb, ts, db, ds;
  both(m, x, tb, ts, db, ds);
  EXPECT_LT(max_abs(db, tb), 5e-3) << "boxes (px)";
  {
    // Activations share arena slots by live range: far less than one buffer each.
    OnednnNet net(build_dnn_graph(m), 1, 640, 640);
    EXPECT_LT(net.activation_bytes() * 4, net.unshared_activation_bytes())
        << net.activation_bytes() << " of " << net.unshared_activation_bytes();
  }
  EXPECT_LT(max_abs(ds, ts), 1e-4) << "scores";
  // And SG's own fused output (../shared/golden/README.md: boxes within 1e-2 px of SG's fused model).
  const torch::Tensor sg_boxes = load_tensor(golden_dir() + "/eval_image_640_fused_full/pred_bboxes.npy");
  const torch::Tensor sg_scores = load_tensor(golden_dir() + "/eval_image_640_fused_full/pred_scores.npy");
  EXPECT_LT(max_abs(db, sg_boxes), 1e-2);
  EXPECT_LT(max_abs(ds, sg_scores), 1e-4);
  std::printf("[ onednn   ] S golden image: boxes %.3g px / scores %.3g from LibTorch, %.3g px / %.3g from SG fused\n",
              max_abs(db, tb), max_abs(ds, ts), max_abs(db, sg_boxes), max_abs(ds, sg_scores));
}

TEST(Onednn, RefusesAModelThatIsNotFullyFused) {
  YoloNAS m(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  m->eval();
  try {
    build_dnn_graph(m);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("backbone.stem.conv: QARepVGG block not fully fused"), std::string::npos)
        << e.what();
  }
}

// ---- ONNX export, checked by running the file in OpenCV's ONNX importer (an independent reader and
// runtime): the same boxes and scores as the LibTorch model.
namespace {

void onnx_matches_libtorch(YoloNAS& m, int batch, int h, int w, double box_tol, double score_tol) {
  OnnxExportOptions eo;
  eo.height = h, eo.width = w;
  eo.metadata = {{"names", "[\"a\"]"}};
  const std::string bytes = export_onnx(build_dnn_graph(m), eo);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
  ASSERT_FALSE(net.empty());
  torch::manual_seed(5);
  const torch::Tensor x = torch::rand({batch, 3, h, w});
  const int sizes[4] = {batch, 3, h, w};
  cv::Mat blob(4, sizes, CV_32F, const_cast<float*>(x.contiguous().data_ptr<float>()));
  net.setInput(blob, "images");
  std::vector<cv::Mat> outs;
  net.forward(outs, std::vector<cv::String>{"boxes", "scores"});
  ASSERT_EQ(outs.size(), 2u);
  torch::Tensor tb, ts;
  {
    c10::InferenceMode g;
    std::tie(tb, ts) = m->forward_decoded(x);
  }
  ASSERT_EQ(static_cast<int64_t>(outs[0].total()), tb.numel());
  ASSERT_EQ(static_cast<int64_t>(outs[1].total()), ts.numel());
  const torch::Tensor ob = torch::from_blob(outs[0].ptr<float>(), tb.sizes(), torch::kFloat32).clone();
  const torch::Tensor os = torch::from_blob(outs[1].ptr<float>(), ts.sizes(), torch::kFloat32).clone();
  EXPECT_LT(max_abs(ob, tb), box_tol);
  EXPECT_LT(max_abs(os, ts), score_tol);
}

}  // namespace

TEST(OnnxExport, TinyRunsInOpenCVWithLibTorchsOutputs) {
  YoloNAS m = load(tiny_dir() + "/tiny_arch.json", tiny_dir() + "/tiny_det.pth");
  onnx_matches_libtorch(m, 1, 64, 96, 2e-3, 1e-5);
  onnx_matches_libtorch(m, 1, 128, 64, 2e-3, 1e-5);
  // The batch is declared dynamic; OpenCV 4.6's Add does not broadcast over it, so batches > 1 are
  // not run here.
}

TEST(OnnxExport, YoloNasSRunsInOpenCVWithLibTorchsOutputs) {
  REQUIRE_GOLDEN();
  YoloNAS m = load("", golden_dir() + "/yolo_nas_s_det.pth");
  onnx_matches_libtorch(m, 1, 320, 320, 5e-3, 1e-4);
}

TEST(OnnxExport, RefusesSizesThatAreNotMultiplesOf32) {
  YoloNAS m = load(tiny_dir() + "/tiny_arch.json", tiny_dir() + "/tiny_det.pth");
  OnnxExportOptions eo;
  eo.height = 100;
  EXPECT_THROW(export_onnx(build_dnn_graph(m), eo), Error);
}

// ---- INT8 ----------------------------------------------------------------------------------------

TEST(OnednnInt8, DefaultModelKeepsItsDetections) {
  // The built-in model on images like the ones it was trained on (tests/data/synth: six validation
  // images of `yolonas synth`), calibrated on three of them and checked on the other three: every
  // FP32 detection has an INT8 detection of its class that overlaps it closely (one detection near
  // the confidence threshold may flip).
  const std::string root = std::string(YOLONAS_TEST_DATA) + "/../../";
  const std::string synth = std::string(YOLONAS_TEST_DATA) + "/synth/";
  DetectorOptions o;
  o.model = "";
  o.weights = root + "models/yolonas_default.pth";
  o.threads = 1;
  if (!std::filesystem::exists(o.weights)) GTEST_SKIP() << "models/yolonas_default.pth is missing";
  o.engine = "onednn";
  Detector fp32 = Detector::load(o);
  o.engine = "int8";
  EXPECT_THROW(Detector::load(o), Error);  // no calibration images
  o.calibration_images = {synth + "000003.jpg", synth + "000010.jpg", synth + "000017.jpg"};
  Detector int8 = Detector::load(o);
  EXPECT_NE(int8.describe().find("INT8 (max calibration on 3 images)"), std::string::npos) << int8.describe();
  NmsParams nms = NmsParams::predict_defaults();
  auto iou = [](const Detection& a, const Detection& b) {
    const float iw = std::max(0.f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
    const float ih = std::max(0.f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
    const float u = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - iw * ih;
    return u > 0 ? iw * ih / u : 0.f;
  };
  size_t total = 0;
  for (const char* name : {"000024.jpg", "000031.jpg", "000038.jpg"}) {
    const cv::Mat im = cv::imread(synth + name);
    ASSERT_FALSE(im.empty()) << name;
    const auto fd = fp32.predict(im, nms).detections, qd = int8.predict(im, nms).detections;
    int matched = 0;
    for (const Detection& d : fd) {
      float best = 0;
      for (const Detection& e : qd)
        if (e.cls == d.cls) best = std::max(best, iou(d, e));
      matched += best >= 0.8f;
    }
    std::printf("%s: FP32 %zu detections, INT8 %zu, %d FP32 detections matched at IoU >= 0.8\n", name, fd.size(),
                qd.size(), matched);
    total += fd.size();
    EXPECT_GE(matched + 1, static_cast<int>(fd.size())) << name;
    EXPECT_LE(std::abs(static_cast<int>(qd.size()) - static_cast<int>(fd.size())), 1) << name;
  }
  EXPECT_GE(total, 3u);  // the check saw detections
}
