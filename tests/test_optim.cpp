// Parameter groups and the AdamW step against SG (tiny/optimizer_step), LR schedule and EMA.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "torch_test_util.h"
#include "yolonas/checkpoint.h"
#include "yolonas/error.h"
#include "yolonas/model.h"
#include "yolonas/optim.h"

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
  EXPECT_DOUBLE_EQ(s.lr_at(3, 0), 5e-4);                             // cosine starts at lr0
  EXPECT_NEAR(s.lr_at(12, 9), 0.1 * 5e-4 + 0.9 * 0.5 * 5e-4 * (1 + std::cos(M_PI * 99 / 101.0)), 1e-15);
  for (int e = 3; e < 13; ++e)
    for (int st = 1; st < 10; ++st) EXPECT_LE(s.lr_at(e, st), s.lr_at(e, st - 1));  // monotone decay
  EXPECT_GT(s.lr_at(12, 9), 0.1 * 5e-4);                                             // floors at the ratio
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
