// The LibTorch YOLO-NAS against SuperGradients: state_dict layout (S/M/L/tiny), eval outputs,
// intermediates stage by stage, train-mode outputs and BN running statistics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "torch_test_util.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/core/error.h"
#include "yolonas/model/fusion.h"
#include "yolonas/model/model.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/model/state_dict.h"

using namespace yolonas;
using namespace yolonas::test;

namespace {

void expect_keys_equal(const StateDict& sd, const std::vector<KeyEntry>& golden, const std::string& what) {
  ASSERT_EQ(sd.size(), golden.size()) << what << ": number of state_dict entries";
  for (size_t i = 0; i < sd.size(); ++i) {
    ASSERT_EQ(sd[i].first, golden[i].key) << what << ": entry " << i << " (order matters)";
    ASSERT_EQ(sd[i].second.sizes().vec(), golden[i].shape) << what << ": " << golden[i].key;
    const std::string dt = sd[i].second.dtype() == torch::kInt64 ? "int64" : "float32";
    ASSERT_EQ(dt, golden[i].dtype) << what << ": " << golden[i].key;
  }
}

ArchParams tiny_arch() { return ArchParams::from_file(tiny_dir() + "/tiny_arch.json"); }

YoloNAS load_tiny() {
  YoloNAS m(tiny_arch());
  m->eval();
  load_state_dict(*m, read_checkpoint(tiny_dir() + "/tiny_det.pth").weights, "tiny_det.pth");
  return m;
}

YoloNAS load_golden_s() {
  YoloNAS m(ArchParams::yolo_nas_s());
  m->eval();
  load_state_dict(*m, read_checkpoint(golden_dir() + "/yolo_nas_s_det.pth").weights, "yolo_nas_s_det.pth");
  return m;
}

// Compares every tensor SG's eval forward returns.
void expect_outputs(const YoloNASOutput& o, const std::string& dir, bool raw, double box_tol_px) {
  SCOPED_TRACE(dir);
  EXPECT_LT(max_abs(o.pred_bboxes, load_tensor(dir + "/pred_bboxes.npy")), box_tol_px);
  EXPECT_LT(max_abs(o.pred_scores, load_tensor(dir + "/pred_scores.npy")), 1e-5);
  if (!raw) return;
  EXPECT_LT(rel_err(o.cls_logits, load_tensor(dir + "/cls_logits.npy")), 2e-5);
  EXPECT_LT(rel_err(o.reg_distri, load_tensor(dir + "/reg_distri.npy")), 2e-5);
  EXPECT_TRUE(torch::equal(o.anchors, load_tensor(dir + "/anchors.npy")));
  EXPECT_TRUE(torch::equal(o.anchor_points, load_tensor(dir + "/anchor_points.npy")));
  EXPECT_TRUE(torch::equal(o.stride_tensor, load_tensor(dir + "/stride_tensor.npy")));
  auto nal = load_tensor(dir + "/num_anchors_list.npy");
  ASSERT_EQ(static_cast<int64_t>(o.num_anchors_list.size()), nal.numel());
  for (int i = 0; i < nal.numel(); ++i) EXPECT_EQ(o.num_anchors_list[i], nal[i].item<int64_t>());
}

}  // namespace

// ---- layout ---------------------------------------------------------------------------------------

TEST(ModelLayout, TinyKeysShapesAndCountsEqualSG) {
  YoloNAS m(tiny_arch());
  expect_keys_equal(state_dict(*m), load_key_list(tiny_dir() + "/tiny_keys.txt"), "tiny");
  EXPECT_EQ(count_parameters(*m), 360441);  // tiny_keys.txt header
}

TEST(ModelLayout, SMLKeysShapesAndCountsEqualSG) {
  REQUIRE_GOLDEN();
  std::ifstream f(golden_dir() + "/param_counts.json");
  auto counts = nlohmann::json::parse(f);
  for (const std::string v : {"yolo_nas_s", "yolo_nas_m", "yolo_nas_l"}) {
    SCOPED_TRACE(v);
    YoloNAS m(ArchParams::by_name(v));
    StateDict sd = state_dict(*m);
    expect_keys_equal(sd, load_key_list(golden_dir() + "/" + v + "_keys.txt"), v);
    EXPECT_EQ(count_parameters(*m), counts[v]["parameters_total"].get<int64_t>());
    EXPECT_EQ(static_cast<int64_t>(sd.size()), counts[v]["state_dict_entries"].get<int64_t>());
    m->eval();
    fuse_qarepvgg(m, FuseMode::kPartial);
    expect_keys_equal(state_dict(*m), load_key_list(golden_dir() + "/" + v + "_fused_partial_keys.txt"), v + " partial");
    EXPECT_EQ(count_parameters(*m), counts[v]["fused_partial"]["parameters_total"].get<int64_t>());
    fuse_qarepvgg(m, FuseMode::kFull);
    expect_keys_equal(state_dict(*m), load_key_list(golden_dir() + "/" + v + "_fused_full_keys.txt"), v + " full");
    EXPECT_EQ(count_parameters(*m), counts[v]["fused_full"]["parameters_total"].get<int64_t>());
  }
}

TEST(ModelLayout, AnyNumberOfClassesAndInputSizes) {
  ArchParams a = tiny_arch();
  a.num_classes = 7;
  YoloNAS m(a);
  m->eval();
  torch::NoGradGuard ng;
  auto o = m->forward(torch::randn({1, 3, 64, 96}));
  // 64x96 -> 8x12 + 4x6 + 2x3 anchors
  EXPECT_EQ(o.pred_scores.sizes().vec(), (std::vector<int64_t>{1, 96 + 24 + 6, 7}));
  EXPECT_EQ(o.pred_bboxes.sizes().vec(), (std::vector<int64_t>{1, 126, 4}));
  EXPECT_THROW(m->forward(torch::randn({1, 3, 100, 96})), Error);
}

TEST(ModelLayout, FreshModelUsesSGInit) {
  YoloNAS m(tiny_arch());
  // prior probability 0.01 on every class logit; BN eps/momentum from the arch params
  EXPECT_NEAR(m->heads->head1->cls_pred->bias[0].item<float>(), -4.59512, 1e-4);
  EXPECT_DOUBLE_EQ(m->backbone->stem->conv->post_bn->options.eps(), 1e-3);
  EXPECT_DOUBLE_EQ(m->backbone->stem->conv->post_bn->options.momentum().value(), 0.03);
  EXPECT_FLOAT_EQ(m->backbone->stage1->blocks->bottlenecks[0]->as<BottleneckImpl>()->alpha.item<float>(), 1.0f);
}

// ---- tiny parity (data in the repo) ----------------------------------------------------------------

class TinyParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyParity, EvalOutputsEqualSG) {
  const std::string dir = tiny_dir() + "/" + GetParam();
  auto m = load_tiny();
  torch::NoGradGuard ng;
  auto o = m->forward(load_tensor(dir + "/input.npy"));
  expect_outputs(o, dir + "/eval_unfused", true, 1e-3);
}

TEST_P(TinyParity, IntermediatesEqualSGStageByStage) {
  const std::string dir = tiny_dir() + "/" + GetParam();
  const std::string id = dir + "/intermediates/";
  auto m = load_tiny();
  torch::NoGradGuard ng;
  auto x = load_tensor(dir + "/input.npy");
  auto& bb = m->backbone;
  auto stem = bb->stem->forward(x);
  EXPECT_LT(rel_err(stem, load_tensor(id + "stem_out.npy")), 1e-5);
  torch::Tensor cur = stem;
  Stage stages[4] = {bb->stage1, bb->stage2, bb->stage3, bb->stage4};
  for (int i = 0; i < 4; ++i) {
    auto ds = stages[i]->downsample->forward(cur);
    EXPECT_LT(rel_err(ds, load_tensor(id + "stage" + std::to_string(i + 1) + "_downsample_out.npy")), 1e-5) << i;
    cur = stages[i]->blocks->forward(ds);
  }
  auto feats = bb->forward(x);
  for (int i = 0; i < 4; ++i)
    EXPECT_LT(rel_err(feats[i], load_tensor(id + "backbone_out" + std::to_string(i) + ".npy")), 1e-5) << i;
  auto n = m->neck->forward(feats);
  EXPECT_LT(rel_err(n.neck1_inter, load_tensor(id + "neck1_inter.npy")), 1e-5);
  EXPECT_LT(rel_err(n.neck1_out, load_tensor(id + "neck1_out.npy")), 1e-5);
  EXPECT_LT(rel_err(n.neck2_inter, load_tensor(id + "neck2_inter.npy")), 1e-5);
  torch::Tensor p[3] = {n.p3, n.p4, n.p5};
  DFLHead heads[3] = {m->heads->head1, m->heads->head2, m->heads->head3};
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT(rel_err(p[i], load_tensor(id + "neck_out" + std::to_string(i) + ".npy")), 1e-5) << i;
    auto [reg, cls] = heads[i]->forward(p[i]);
    EXPECT_LT(rel_err(reg, load_tensor(id + "head" + std::to_string(i + 1) + "_reg_pred.npy")), 2e-5) << i;
    EXPECT_LT(rel_err(cls, load_tensor(id + "head" + std::to_string(i + 1) + "_cls_pred.npy")), 2e-5) << i;
  }
}

TEST_P(TinyParity, FusedOutputsEqualSG) {
  const std::string dir = tiny_dir() + "/" + GetParam();
  auto m = load_tiny();
  torch::NoGradGuard ng;
  auto x = load_tensor(dir + "/input.npy");
  fuse_qarepvgg(m, FuseMode::kPartial);
  expect_outputs(m->forward(x), dir + "/eval_fused_partial", false, 1e-3);
  fuse_qarepvgg(m, FuseMode::kFull);
  expect_outputs(m->forward(x), dir + "/eval_fused_full", false, 1e-3);
  // Our inference path (also Conv/BN folded) must give the same numbers as SG's un-fused model.
  fold_conv_bn(m);
  expect_outputs(m->forward(x), dir + "/eval_unfused", false, 1e-3);
  auto [boxes, scores] = m->forward_decoded(x);
  EXPECT_LT(max_abs(boxes, load_tensor(dir + "/eval_unfused/pred_bboxes.npy")), 1e-3);
  EXPECT_LT(max_abs(scores, load_tensor(dir + "/eval_unfused/pred_scores.npy")), 1e-5);
}

TEST_P(TinyParity, TrainModeOutputsAndBNStatsEqualSG) {
  const std::string dir = tiny_dir() + "/" + GetParam();
  auto m = load_tiny();
  m->train();
  auto o = m->forward(load_tensor(dir + "/input.npy"));
  const std::string t = dir + "/train/";
  EXPECT_LT(rel_err(o.cls_logits, load_tensor(t + "cls_logits.npy")), 1e-4);
  EXPECT_LT(rel_err(o.reg_distri, load_tensor(t + "reg_distri.npy")), 1e-4);
  EXPECT_LT(max_abs(o.pred_scores, load_tensor(t + "pred_scores.npy")), 1e-4);
  const std::string bn = t + "bn_running_after_forward/";
  auto& pb = m->backbone->stem->conv->post_bn;
  EXPECT_LT(max_abs(pb->running_mean, load_tensor(bn + "backbone.stem.conv.post_bn.running_mean.npy")), 1e-5);
  EXPECT_LT(max_abs(pb->running_var, load_tensor(bn + "backbone.stem.conv.post_bn.running_var.npy")), 1e-5);
  EXPECT_EQ(pb->num_batches_tracked.item<int64_t>(), 1);
  auto& nb = m->neck->neck4->blocks->conv3->bn;
  EXPECT_LT(max_abs(nb->running_mean, load_tensor(bn + "neck.neck4.blocks.conv3.bn.running_mean.npy")), 1e-5);
  EXPECT_LT(max_abs(nb->running_var, load_tensor(bn + "neck.neck4.blocks.conv3.bn.running_var.npy")), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Cases, TinyParity, ::testing::Values("random_b2_96x128", "image_128"));

// ---- yolo_nas_s parity (../shared/golden) ----------------------------------------------------------

class SParity : public ::testing::TestWithParam<std::string> {};

TEST_P(SParity, EvalOutputsUnfusedPartialFullEqualSG) {
  REQUIRE_GOLDEN();
  const std::string input = GetParam();
  auto m = load_golden_s();
  torch::NoGradGuard ng;
  auto x = load_tensor(golden_dir() + "/input_" + input + ".npy");
  expect_outputs(m->forward(x), golden_dir() + "/eval_" + input + "_unfused", true, 1e-3);
  fuse_qarepvgg(m, FuseMode::kPartial);
  expect_outputs(m->forward(x), golden_dir() + "/eval_" + input + "_fused_partial", false, 2e-3);
  fuse_qarepvgg(m, FuseMode::kFull);
  expect_outputs(m->forward(x), golden_dir() + "/eval_" + input + "_fused_full", false, 2e-3);
  fold_conv_bn(m);
  auto [boxes, scores] = m->forward_decoded(x);
  EXPECT_LT(max_abs(boxes, load_tensor(golden_dir() + "/eval_" + input + "_unfused/pred_bboxes.npy")), 2e-3);
  EXPECT_LT(max_abs(scores, load_tensor(golden_dir() + "/eval_" + input + "_unfused/pred_scores.npy")), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Inputs, SParity, ::testing::Values("random_640", "image_640", "batch2_320"));

TEST(SParityIntermediates, Batch2x320StageByStage) {
  REQUIRE_GOLDEN();
  const std::string id = golden_dir() + "/intermediates_batch2_320_unfused/";
  auto m = load_golden_s();
  torch::NoGradGuard ng;
  auto x = load_tensor(golden_dir() + "/input_batch2_320.npy");
  auto stem = m->backbone->stem->forward(x.slice(0, 0, 1));
  EXPECT_LT(rel_err(stem, load_tensor(id + "stem_out_img0.npy")), 1e-5);
  auto feats = m->backbone->forward(x);
  for (int i = 0; i < 4; ++i)
    EXPECT_LT(rel_err(feats[i], load_tensor(id + "backbone_out" + std::to_string(i) + ".npy")), 1e-5) << i;
  auto n = m->neck->forward(feats);
  torch::Tensor p[3] = {n.p3, n.p4, n.p5};
  DFLHead heads[3] = {m->heads->head1, m->heads->head2, m->heads->head3};
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT(rel_err(p[i], load_tensor(id + "neck_out" + std::to_string(i) + ".npy")), 1e-5) << i;
    auto [reg, cls] = heads[i]->forward(p[i]);
    EXPECT_LT(rel_err(reg, load_tensor(id + "head" + std::to_string(i + 1) + "_reg_pred.npy")), 2e-5) << i;
    EXPECT_LT(rel_err(cls, load_tensor(id + "head" + std::to_string(i + 1) + "_cls_pred.npy")), 2e-5) << i;
  }
}

// Tensors the forward creates (anchor points, strides, the DFL projection) follow the input's
// options: a float64 model gives the float32 result (a GPU model takes the same path with its device).
TEST(ModelLayout, ForwardFollowsTheInputsDtypeAndDevice) {
  torch::manual_seed(3);
  YoloNAS m(tiny_arch());
  m->eval();
  const torch::Tensor x = torch::rand({1, 3, 64, 96});
  torch::NoGradGuard ng;
  auto [b32, s32] = m->forward_decoded(x);
  m->to(torch::kFloat64);
  auto [b64, s64] = m->forward_decoded(x.to(torch::kFloat64));
  EXPECT_EQ(b64.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::allclose(b64.to(torch::kFloat32), b32, 1e-4, 1e-3));
  EXPECT_TRUE(torch::allclose(s64.to(torch::kFloat32), s32, 1e-4, 1e-5));
}

TEST(Device, ParseDeviceAcceptsUltralyticsSpellingsAndRefusesClearly) {
  EXPECT_TRUE(parse_device("").is_cpu());
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  EXPECT_TRUE(parse_device("CPU").is_cpu());
  auto error_of = [](const std::string& s) {
    try {
      parse_device(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of("0,1").find("several GPUs are not supported"), std::string::npos);
  EXPECT_NE(error_of("cuda:x").find("expected cpu, cuda, cuda:N"), std::string::npos);
  EXPECT_NE(error_of("tpu").find("expected cpu, cuda, cuda:N"), std::string::npos);
  if (torch::cuda::is_available()) {
    EXPECT_TRUE(parse_device("0").is_cuda());
    EXPECT_EQ(parse_device("cuda:0").index(), 0);
    EXPECT_NE(error_of("99").find("does not exist"), std::string::npos);
  } else {
    EXPECT_NE(error_of("cuda").find("no CUDA device is available"), std::string::npos);
    EXPECT_NE(error_of("0").find("use device=cpu"), std::string::npos);
  }
}
