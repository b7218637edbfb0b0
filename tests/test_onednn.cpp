// The oneDNN runtime against LibTorch: the same fused model gives the same boxes and scores (tiny arch
// on random input, any batch and non-square size; YOLO-NAS S on SG's golden image), and a model that
// is not fully fused is refused naming the module.
#include <gtest/gtest.h>

#include "torch_test_util.h"
#include "yolonas/checkpoint.h"
#include "yolonas/dnn_graph_builder.h"
#include "yolonas/error.h"
#include "yolonas/fusion.h"
#include "yolonas/model_loader.h"
#include "yolonas/onednn_net.h"
#include "yolonas/state_dict.h"

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
