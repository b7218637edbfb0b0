// Parameter groups and the AdamW step against SG (tiny/optimizer_step), LR schedule and EMA.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "torch_test_util.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/core/error.h"
#include "yolonas/model/model.h"
#include "yolonas/train/optim.h"

using namespace yolonas;
using namespace yolonas::test;

namespace {
YoloNAS load_tiny() {
  YoloNAS m(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  load_state_dict(*m, read_checkpoint(tiny_dir() + "/tiny_det.pth").weights, "tiny");
  return m;
}
}  // namespace

TEST(Optim, ParamGroupsEqualSG) {
  auto m = load_tiny();
  ParamGroups g = make_param_groups(*m);
  auto j = nlohmann::json::parse(std::ifstream(tiny_dir() + "/random_b2_96x128/optimizer_step/optimizer.json"));
  auto names = [](const nlohmann::json& grp) { return grp["params"].get<std::vector<std::string>>(); };
  ASSERT_EQ(j["param_groups"].size(), 2u);
  EXPECT_EQ(j["param_groups"][0]["weight_decay"].get<double>(), 0.0);
  EXPECT_EQ(g.no_decay_names, names(j["param_groups"][0]));  // 252 tensors
  EXPECT_EQ(g.decay_names, names(j["param_groups"][1]));     // 142 tensors, alphas included
  EXPECT_EQ(g.no_decay.size(), 252u);
  EXPECT_EQ(g.decay.size(), 142u);
}

TEST(Optim, AdamWStepEqualsSG) {
  for (const std::string c : {"random_b2_96x128", "image_128"}) {
    SCOPED_TRACE(c);
    auto m = load_tiny();
    const std::string dir = tiny_dir() + "/" + c;
    OptimConfig oc;
    oc.name = "AdamW";
    oc.lr0 = 1e-3;
    oc.weight_decay = 1e-5;
    auto opt = make_optimizer(*m, oc);
    // Install SG's stored gradients on the 8 parameters that have them; the rest get no grad (skipped).
    std::vector<std::pair<std::string, torch::Tensor>> selected;
    for (auto& p : m->named_parameters()) {
      const std::string f = dir + "/grads/" + p.key() + ".npy";
      if (std::filesystem::exists(f)) {
        p.value().mutable_grad() = load_tensor(f);
        selected.emplace_back(p.key(), p.value());
      }
    }
    ASSERT_EQ(selected.size(), 8u);
    opt->step();
    for (auto& [name, p] : selected) {
      auto expect = load_tensor(dir + "/optimizer_step/" + name + ".npy");
      auto g = load_tensor(dir + "/grads/" + name + ".npy");
      // README: 1e-6 absolute, except where |g| <~ 1e-6 (ill-conditioned step lr*g/(|g|+1e-8)).
      auto well = g.abs() > 1e-5;
      auto diff = (p.detach() - expect).abs();
      EXPECT_LT(diff.masked_select(well).max().item<double>(), 1e-6) << name;
    }
  }
}

TEST(Optim, SGDAndAdamBuildAndStep) {
  auto m = load_tiny();
  for (const std::string name : {"SGD", "Adam"}) {
    OptimConfig oc;
    oc.name = name;
    auto opt = make_optimizer(*m, oc);
    auto before = m->heads->head1->cls_pred->bias.detach().clone();
    m->heads->head1->cls_pred->bias.mutable_grad() = torch::ones_like(before);
    opt->step();
    EXPECT_TRUE((m->heads->head1->cls_pred->bias.detach() < before).all().item<bool>()) << name;
    opt->zero_grad();
  }
  OptimConfig bad;
  bad.name = "Lion";
  EXPECT_THROW(make_optimizer(*m, bad), Error);
}

namespace {
double sg_cosine(double it, double T, double lr0, double r) {
  return 0.5 * lr0 * (1 + std::cos(it / (T + 1) * M_PI)) * (1 - r) + r * lr0;
}
}  // namespace

TEST(Optim, LrScheduleWarmupThenCosine) {
  LrSchedule s;
  s.lr0 = 5e-4;
  s.warmup_initial_lr = 1e-6;
  s.warmup_epochs = 3;
  s.epochs = 13;
  s.steps_per_epoch = 10;
  s.final_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(s.lr_at(0, 5), 1e-6);                             // SG epoch warm-up: constant in an epoch
  EXPECT_DOUBLE_EQ(s.lr_at(1, 0), 1e-6 + (5e-4 - 1e-6) / 3);        // linear in epochs
  EXPECT_DOUBLE_EQ(s.lr_at(3, 0), 5e-4);                             // the warm-up's last value is lr0
  // The cosine runs after each step and sets the next one's lr: step (3,1) gets it = 0, (12,9) it = 98,
  // out of T = 10 * (13 - 3) = 100.
  EXPECT_DOUBLE_EQ(s.lr_at(3, 1), 5e-4);
  EXPECT_NEAR(s.lr_at(12, 9), sg_cosine(98, 100, 5e-4, 0.1), 1e-15);
  EXPECT_NEAR(s.lr_at(4, 0), sg_cosine(9, 100, 5e-4, 0.1), 1e-15);  // set after the last step of epoch 3
  for (int e = 3; e < 13; ++e)
    for (int st = 1; st < 10; ++st) EXPECT_LE(s.lr_at(e, st), s.lr_at(e, st - 1));  // monotone decay
  EXPECT_GT(s.lr_at(12, 9), 0.1 * 5e-4);                                             // floors at the ratio
}

// SG's roboflow recipe: epoch warm-up, but lr_warmup_steps 1000 (inherited) gates and offsets the cosine.
TEST(Optim, LrScheduleRoboflowWarmupStepsQuirk) {
  LrSchedule s;
  s.lr0 = 5e-4;
  s.warmup_initial_lr = 1e-6;
  s.warmup_epochs = 3;
  s.warmup_steps = 1000;
  s.epochs = 100;
  s.steps_per_epoch = 50;  // global step 1000 = epoch 20, step 0
  EXPECT_DOUBLE_EQ(s.lr_at(2, 7), 1e-6 + 2 * (5e-4 - 1e-6) / 3);
  EXPECT_DOUBLE_EQ(s.lr_at(3, 0), 5e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(10, 33), 5e-4);  // no decay before global step 1000
  EXPECT_DOUBLE_EQ(s.lr_at(20, 0), 5e-4);   // step 999 ran without the cosine
  // The cosine is enabled after step 1000 (epoch 20, step 0): it = max(0, 50*17 + 0 - 1000) = 0.
  EXPECT_DOUBLE_EQ(s.lr_at(20, 1), 5e-4);
  // After step (40, 10): it = 50*37 + 10 - 1000 = 860 of T = 50*97 - 1000 = 3850.
  EXPECT_NEAR(s.lr_at(40, 11), sg_cosine(860, 3850, 5e-4, 0.1), 1e-15);
}

// SG's COCO recipe: LinearBatchLRWarmup over min(1000, steps per epoch) steps, then the cosine after
// global step 1000.
TEST(Optim, LrScheduleBatchWarmup) {
  LrSchedule s;
  s.lr0 = 2e-4;
  s.warmup_initial_lr = 1e-6;
  s.warmup_epochs = 0;
  s.warmup_steps = 1000;
  s.batch_warmup = true;
  s.epochs = 300;
  s.steps_per_epoch = 2000;
  EXPECT_DOUBLE_EQ(s.lr_at(0, 0), 1e-6);
  EXPECT_DOUBLE_EQ(s.lr_at(0, 1), 1e-6 + (2e-4 - 1e-6) / 999);  // np.linspace(1e-6, 2e-4, 1000)[1]
  EXPECT_DOUBLE_EQ(s.lr_at(0, 999), 2e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(0, 1000), 2e-4);  // the cosine after step 1000 sets the next one
  EXPECT_NEAR(s.lr_at(0, 1001), sg_cosine(0, 2000.0 * 300 - 1000, 2e-4, 0.1), 1e-18);
  EXPECT_NEAR(s.lr_at(150, 0), sg_cosine(2000.0 * 150 - 1 - 1000, 2000.0 * 300 - 1000, 2e-4, 0.1), 1e-18);
  // A short epoch caps the linear part at its length (SG warns); the lr then holds until step 1000.
  s.steps_per_epoch = 100;
  EXPECT_DOUBLE_EQ(s.lr_at(0, 99), 2e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(0, 50), 1e-6 + 50 * (2e-4 - 1e-6) / 99);
  EXPECT_DOUBLE_EQ(s.lr_at(5, 0), 2e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(10, 1), 2e-4);  // after step 1000: it = 0
  EXPECT_LT(s.lr_at(10, 2), 2e-4);
}

TEST(Optim, EmaFollowsSGThresholdDecay) {
  torch::nn::Linear lin(2, 1);
  torch::NoGradGuard ng;
  lin->weight.fill_(0);
  lin->bias.fill_(0);
  ModelEMA ema(*lin, 0.9);
  EXPECT_DOUBLE_EQ(ema.current_decay(), 0.1);  // (1+0)/(10+0)
  lin->weight.fill_(1);
  ema.update(*lin);  // ema = 0*0.1 + 0.9*1
  EXPECT_NEAR(ema.state()[0].second[0][0].item<float>(), 0.9f, 1e-7);
  for (int i = 0; i < 200; ++i) ema.update(*lin);
  EXPECT_DOUBLE_EQ(ema.current_decay(), 0.9);  // capped at the configured decay
  EXPECT_NEAR(ema.state()[0].second[0][0].item<float>(), 1.0f, 1e-6);
}
