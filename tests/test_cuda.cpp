// The LibTorch paths on a CUDA device, compared with SG's golden data and with the CPU: forward
// parity, loss and gradients, the optimizer step, a short training run with mixed precision
// (float16 + grad scaler), and NCCL with one rank. Every test skips where LibTorch sees no GPU
// (Debian's LibTorch is CPU-only); scripts/gpu_check.sh runs them on a GPU machine.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "shapes_dataset.h"
#include "torch_test_util.h"
#include "train_test_util.h"
#include "yolonas/detect/arch_params.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/model/model.h"
#include "yolonas/model/state_dict.h"
#include "yolonas/train/distributed.h"
#include "yolonas/train/loss.h"
#include "yolonas/train/optim.h"
#include "yolonas/train/trainer.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

#define REQUIRE_CUDA()                                                                          \
  do {                                                                                          \
    if (!torch::cuda::is_available())                                                           \
      GTEST_SKIP() << "no CUDA device here (LibTorch CPU build or no GPU): scripts/gpu_check.sh " \
                      "runs these on a GPU machine";                                            \
    at::globalContext().setAllowTF32CuDNN(false); /* parity: full float32 convolutions */       \
    at::globalContext().setAllowTF32CuBLAS(false);                                              \
  } while (0)

YoloNAS golden_s() {
  YoloNAS m(ArchParams::yolo_nas_s());
  load_state_dict(*m, read_checkpoint(golden_dir() + "/yolo_nas_s_det.pth").weights, "yolo_nas_s_det.pth");
  return m;
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a.cpu().to(torch::kFloat64) - b.cpu().to(torch::kFloat64)).abs().max() /
          (b.cpu().to(torch::kFloat64).abs().max() + 1e-12))
      .item<double>();
}

}  // namespace

TEST(Cuda, SForwardEqualsGoldenOnTheGpu) {
  REQUIRE_CUDA();
  if (!have_golden()) GTEST_SKIP() << "../shared/golden missing";
  YoloNAS m = golden_s();
  m->eval();
  m->to(torch::kCUDA);
  torch::NoGradGuard ng;
  auto x = load_tensor(golden_dir() + "/input_image_640.npy").to(torch::kCUDA);
  auto [boxes, scores] = m->forward_decoded(x);
  const std::string d = golden_dir() + "/eval_image_640_unfused/";
  EXPECT_LT(max_abs(boxes.cpu(), load_tensor(d + "pred_bboxes.npy")), 5e-3);
  EXPECT_LT(max_abs(scores.cpu(), load_tensor(d + "pred_scores.npy")), 1e-4);
}

TEST(Cuda, LossAndGradientsEqualTheCpu) {
  REQUIRE_CUDA();
  if (!have_golden()) GTEST_SKIP() << "../shared/golden missing";
  auto x = load_tensor(golden_dir() + "/input_random_640.npy");
  auto targets = load_tensor(golden_dir() + "/loss_targets.npy");
  PPYoloELossOptions lo;
  lo.num_classes = 80;
  PPYoloELoss loss(lo);
  std::map<std::string, torch::Tensor> grads[2];
  torch::Tensor comps[2];
  for (int k = 0; k < 2; ++k) {
    const torch::Device dev = k == 0 ? torch::Device(torch::kCPU) : torch::Device(torch::kCUDA);
    YoloNAS m = golden_s();
    m->train();
    m->to(dev);
    auto r = loss(m->forward(x.to(dev)), targets.to(dev));
    r.loss.backward();
    comps[k] = r.components.cpu();
    for (const auto& p : m->named_parameters())
      if (p.value().grad().defined()) grads[k][p.key()] = p.value().grad().cpu();
  }
  EXPECT_LT(rel(comps[1], comps[0]), 1e-4) << comps[0] << comps[1];
  ASSERT_EQ(grads[0].size(), grads[1].size());
  int off = 0;
  for (const auto& [k, g] : grads[0]) {
    const double n0 = g.norm().item<double>(), n1 = grads[1].at(k).norm().item<double>();
    if (n0 > 1e-2 && std::abs(n1 - n0) > 2e-2 * n0) ++off;  // float32 noise of S (see LossGoldenS)
  }
  EXPECT_LE(off, 2) << "gradient norms off by more than 2% (of " << grads[0].size() << ")";
}

TEST(Cuda, AdamWStepEqualsTheCpu) {
  REQUIRE_CUDA();
  torch::manual_seed(1);
  YoloNAS cpu(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  YoloNAS gpu(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  load_state_dict(*gpu, state_dict(*cpu), "cpu copy");
  gpu->to(torch::kCUDA);
  OptimConfig oc;
  oc.lr0 = 1e-3;
  auto oa = make_optimizer(*cpu, oc), ob = make_optimizer(*gpu, oc);
  auto pa = cpu->parameters(), pb = gpu->parameters();
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < pa.size(); ++i) {
      torch::Tensor g = torch::randn(pa[i].sizes());
      pa[i].mutable_grad() = g.clone();
      pb[i].mutable_grad() = g.to(torch::kCUDA);
    }
    oa->step();
    ob->step();
  }
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) worst = std::max(worst, max_abs(pa[i].detach(), pb[i].detach().cpu()));
  EXPECT_LT(worst, 1e-6);
}

TEST(Cuda, ShortTrainingRunFp16AmpTracksFp32) {
  REQUIRE_CUDA();
  const fs::path root = fs::temp_directory_path() / ("yolonas_cuda_" + std::to_string(::getpid()));
  fs::remove_all(root);
  const std::string data = write_shapes_dataset((root / "data").string(), 16, 4, 128, 21);
  auto run = [&](const std::string& amp) {
    TrainConfig c = tiny_train_config(data, (root / "runs").string(), amp);
    c.batch = 8;
    c.epochs = 3;
    c.lr0 = 0.002;
    c.warmup_epochs = 0;
    c.threads = 0;
    c.device = "cuda";
    c.amp = amp;
    Trainer t(c);
    t.train();
    EXPECT_EQ(t.amp().enabled, amp == "true");
    if (amp == "true") EXPECT_TRUE(t.amp().scaler);  // fp16 on CUDA
    return t.history();
  };
  const auto fp32 = run("false");
  const auto fp16 = run("true");
  ASSERT_EQ(fp32.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    const double a = fp32[e].get_or("train/loss", -1), b = fp16[e].get_or("train/loss", -1);
    EXPECT_NEAR(b, a, 0.03 * a) << "epoch " << e + 1;
  }
  EXPECT_LT(fp16[2].get_or("train/loss", 0), fp16[0].get_or("train/loss", 0));
  fs::remove_all(root);
}

TEST(Cuda, NcclWithOneRank) {
  REQUIRE_CUDA();
  DistOptions o;
  o.master_port = 29500 + static_cast<int>(::getpid() % 1000);
  std::unique_ptr<Distributed> d;
  try {
    d = Distributed::init(o, torch::Device(torch::kCUDA, 0));
  } catch (const Error& e) {
    if (std::string(e.what()).find("no NCCL") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  EXPECT_EQ(d->backend(), "nccl");
  torch::Tensor t = torch::arange(8, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA));
  d->allreduce_sum_(t);
  EXPECT_TRUE(torch::equal(t.cpu(), torch::arange(8, torch::kFloat32)));  // one rank: the sum is itself
  d->barrier();
}
