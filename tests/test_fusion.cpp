// QARepVGG re-parameterization arithmetic against SG's fused weights, and the fused inference
// path against the plain one.
#include <gtest/gtest.h>

#include "torch_test_util.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/core/error.h"
#include "yolonas/model/fusion.h"
#include "yolonas/model/model.h"
#include "yolonas/model/state_dict.h"

using namespace yolonas;
using namespace yolonas::test;

namespace {

torch::Tensor find(const StateDict& sd, const std::string& key) {
  for (const auto& kv : sd)
    if (kv.first == key) return kv.second;
  ADD_FAILURE() << "missing " << key;
  return {};
}

// fused_weights_examples: <mode>__<block>.rbr_reparam.{weight,bias}.npy for a block without an
// identity branch (stem) and one with it (first bottleneck's cv2).
void check_examples(YoloNAS m, const std::string& dir) {
  const std::vector<std::string> blocks = {"backbone.stem.conv", "backbone.stage1.blocks.bottlenecks.0.cv2"};
  m->eval();
  for (const std::string mode : {"partial", "full"}) {
    fuse_qarepvgg(m, mode == "partial" ? FuseMode::kPartial : FuseMode::kFull);
    StateDict sd = state_dict(*m);
    for (const auto& b : blocks) {
      for (const std::string p : {"weight", "bias"}) {
        const std::string key = b + ".rbr_reparam." + p;
        auto ref = load_tensor(dir + "/fused_" + mode + "__" + key + ".npy");
        auto got = find(sd, key);
        EXPECT_LT(rel_err(got, ref), 1e-6) << mode << " " << key;
      }
    }
  }
}

}  // namespace

TEST(Fusion, TinyFusedWeightsEqualSG) {
  YoloNAS m(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  load_state_dict(*m, read_checkpoint(tiny_dir() + "/tiny_det.pth").weights, "tiny");
  check_examples(m, tiny_dir() + "/fused_weights_examples");
}

TEST(Fusion, SFusedWeightsEqualSG) {
  REQUIRE_GOLDEN();
  YoloNAS m(ArchParams::yolo_nas_s());
  load_state_dict(*m, read_checkpoint(golden_dir() + "/yolo_nas_s_det.pth").weights, "s");
  check_examples(m, golden_dir() + "/fused_weights_examples");
}

TEST(Fusion, RefusesTrainingMode) {
  YoloNAS m(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  m->train();
  EXPECT_THROW(fuse_qarepvgg(m, FuseMode::kPartial), Error);
}

TEST(Fusion, IdempotentAndStateReported) {
  YoloNAS m(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  m->eval();
  EXPECT_EQ(rep_state(m), RepState::kUnfused);
  fuse_qarepvgg(m, FuseMode::kPartial);
  fuse_qarepvgg(m, FuseMode::kPartial);
  EXPECT_EQ(rep_state(m), RepState::kPartial);
  fuse_qarepvgg(m, FuseMode::kFull);
  EXPECT_EQ(rep_state(m), RepState::kFull);
}

TEST(Fusion, ConvBNFoldingMatchesReferencePathOnRandomInputs) {
  // Every fast path has a reference: the fully folded model against the un-fused one, random input.
  torch::manual_seed(3);
  YoloNAS ref(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  load_state_dict(*ref, read_checkpoint(tiny_dir() + "/tiny_det.pth").weights, "tiny");
  ref->eval();
  YoloNAS fast(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  load_state_dict(*fast, state_dict(*ref), "ref");
  fast->eval();
  fuse_qarepvgg(fast, FuseMode::kFull);
  fold_conv_bn(fast);
  torch::NoGradGuard ng;
  auto x = torch::rand({2, 3, 160, 96});
  auto a = ref->forward(x);
  auto [boxes, scores] = fast->forward_decoded(x);
  EXPECT_LT(max_abs(boxes, a.pred_bboxes), 1e-3);
  EXPECT_LT(max_abs(scores, a.pred_scores), 1e-5);
}
