// Multi-process training over Gloo on loopback (2 CPU processes), mixed precision on the CPU
// (bf16 autocast) and the gradient scaler.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "shapes_dataset.h"
#include "test_util.h"
#include "train_test_util.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/model/state_dict.h"
#include "yolonas/train/amp.h"
#include "yolonas/train/distill.h"
#include "yolonas/train/trainer.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

std::string fresh(const std::string& name) { return fresh_run_dir("yolonas_dist", name); }

// Runs `yolonas args...`; returns the exit code and fills `output` (stdout + stderr, also in `log`).
int run_cli(const std::vector<std::string>& args, std::string& output, const std::string& log) {
  const int code = wait_exit(spawn_cli(args, log));
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  output = ss.str();
  return code;
}

std::map<std::string, torch::Tensor> weights_of(const std::string& path) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : read_checkpoint(path, /*prefer_ema=*/false).weights) out[k] = v;
  return out;
}

}  // namespace

TEST(Distributed, TwoGlooProcessesEqualOneProcessOnTheUnionBatch) {
  const std::string root = fresh("ddp");
  const std::string data = write_shapes_dataset(root + "/data", 16, 4, 128, 5);
  auto args = [&](const std::string& name, std::vector<std::string> extra, int steps = 2) {
    std::vector<std::string> a{"train", "data=" + data, "model=" + tiny_dir() + "/tiny_arch.json", "imgsz=128",
                               "epochs=1", "max_batches=" + std::to_string(steps), "augment=false", "ema=false",
                               "plots=false", "optimizer=SGD", "warmup_epochs=0", "project=" + root + "/runs",
                               "name=" + name};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  // Largest difference between two runs' weights, and how far the steps moved `b` from `init`.
  auto compare = [](const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b,
                    const std::map<std::string, torch::Tensor>& init, double& diff, double& moved) {
    diff = moved = 0;
    for (const auto& [k, w] : b)
      if (w.is_floating_point() && k.find("running_") == std::string::npos) {
        diff = std::max(diff, (a.at(k) - w).abs().max().item<double>());
        moved = std::max(moved, (w - init.at(k)).abs().max().item<double>());
      }
  };
  std::string out;
  // Two ranks of 2 images with synchronized BatchNorm, and one process with the 4 images of each step.
  ASSERT_EQ(run_cli(args("ddp", {"batch=2", "nproc=2", "sync_bn=true", "lr0=0.01"}), out, root + "/ddp.log"), 0) << out;
  EXPECT_NE(out.find("distributed: 2 processes over gloo"), std::string::npos) << out;
  EXPECT_NE(out.find("weights identical on all 2 ranks"), std::string::npos) << out;
  EXPECT_EQ(out.find("run folder"), out.rfind("run folder")) << "only rank 0 reports\n" << out;
  ASSERT_EQ(run_cli(args("one", {"batch=4", "threads=1", "lr0=0.01"}), out, root + "/one.log"), 0) << out;
  ASSERT_EQ(run_cli(args("init", {"batch=4", "threads=1", "lr0=0"}), out, root + "/init.log"), 0) << out;

  // The same gradients, up to float rounding (the sums run in other orders), give the same SGD steps:
  // the two runs' weights differ by less than 1% of how far the steps moved them. Two steps only:
  // the assigner's top-k and argmax turn rounding-level differences into different assignments
  // after a few steps (a one-process run with 1 or 2 threads drifts apart the same way). SGD, not
  // AdamW: a conv bias right before a BatchNorm has a zero gradient in exact arithmetic, and AdamW
  // turns its rounding noise into full-size steps of either sign.
  const auto ddp = weights_of(root + "/runs/ddp/weights/last.pth");
  const auto one = weights_of(root + "/runs/one/weights/last.pth");
  const auto init = weights_of(root + "/runs/init/weights/last.pth");
  ASSERT_EQ(ddp.size(), one.size());
  double diff = 0, moved = 0, stats_diff = 0;
  std::string worst_key;
  for (const auto& [k, w] : one) {
    const torch::Tensor& d = ddp.at(k);
    ASSERT_EQ(d.sizes(), w.sizes()) << k;
    if (!w.is_floating_point()) {
      EXPECT_TRUE(torch::equal(d, w)) << k;  // num_batches_tracked
      continue;
    }
    if (k.find("running_") != std::string::npos) {  // BatchNorm statistics of the global batch
      stats_diff = std::max(stats_diff, ((d - w).abs() / (w.abs() + 1e-3)).max().item<double>());
      continue;
    }
    const double dk = (d - w).abs().max().item<double>();
    if (dk > diff) diff = dk, worst_key = k;
    moved = std::max(moved, (w - init.at(k)).abs().max().item<double>());
  }
  std::printf("2 processes vs 1: weights differ by %.2e (%s), the steps moved them by %.2e; BatchNorm "
              "statistics differ by %.2e (relative)\n", diff, worst_key.c_str(), moved, stats_diff);
  EXPECT_GT(moved, 1e-3);
  EXPECT_LT(diff, 0.01 * moved) << worst_key;
  EXPECT_LT(stats_diff, 1e-3);

  // After one step the two agree to float rounding, on any data: a tight bound. (Measured on other
  // datasets of this helper: one step 4.1e-6 and 2.2e-7 of moves of 1.8e-2 and 2.6e-2; two steps
  // 3.5e-4 and 1.5e-4, while one process with 1 vs 2 threads also drifts by 3.3e-4 in two steps:
  // the second step's difference is rounding amplified by the assigner, not the sharding.)
  ASSERT_EQ(run_cli(args("ddp1", {"batch=2", "nproc=2", "sync_bn=true", "lr0=0.01"}, 1), out, root + "/ddp1.log"), 0) << out;
  ASSERT_EQ(run_cli(args("one1", {"batch=4", "threads=1", "lr0=0.01"}, 1), out, root + "/one1.log"), 0) << out;
  double diff1 = 0, moved1 = 0;
  compare(weights_of(root + "/runs/ddp1/weights/last.pth"), weights_of(root + "/runs/one1/weights/last.pth"), init, diff1,
          moved1);
  std::printf("one step: 2 processes vs 1 differ by %.2e, the step moved the weights by %.2e\n", diff1, moved1);
  EXPECT_GT(moved1, 1e-3);
  EXPECT_LT(diff1, 1e-3 * moved1);

  // Without sync_bn the ranks still agree with each other (BatchNorm per process).
  ASSERT_EQ(run_cli(args("ddp_bn", {"batch=2", "nproc=2", "lr0=0.01"}), out, root + "/ddp_bn.log"), 0) << out;
  EXPECT_NE(out.find("weights identical on all 2 ranks"), std::string::npos) << out;
  EXPECT_NE(out.find("BatchNorm per process"), std::string::npos) << out;

  // Resume needs the same world size; with it, both ranks load the run (nothing left to train).
  const std::string last = root + "/runs/ddp/weights/last.pth";
  EXPECT_NE(run_cli({"train", "resume=" + last}, out, root + "/resume1.log"), 0);
  EXPECT_NE(out.find("resume it with the same world size"), std::string::npos) << out;
  ASSERT_EQ(run_cli({"train", "resume=" + last, "nproc=2"}, out, root + "/resume2.log"), 0) << out;
  EXPECT_NE(out.find("weights identical on all 2 ranks"), std::string::npos) << out;

  // A rank that cannot start its part stops the launch with a clear message (2 images: no global
  // batch of 2 x 2 with 1 left over per process... the loader says so).
  const std::string small = write_shapes_dataset(root + "/small", 3, 2, 128, 6);
  EXPECT_NE(run_cli({"train", "data=" + small, "model=" + tiny_dir() + "/tiny_arch.json", "imgsz=128", "batch=2",
                     "nproc=2", "epochs=1", "plots=false", "project=" + root + "/runs", "name=small"},
                    out, root + "/small.log"),
            0);
  EXPECT_NE(out.find("2 per process x 2 processes"), std::string::npos) << out;
}

TEST(Amp, Bf16AutocastOnTheCpuTrainsWithinTolerance) {
  const std::string root = fresh("amp");
  const std::string data = write_shapes_dataset(root + "/data", 8, 4, 128, 9);
  auto run = [&](const std::string& amp, const std::string& name) {
    TrainConfig c = tiny_train_config(data, root + "/runs", name);
    c.epochs = 2;
    c.lr0 = 0.002;
    c.warmup_epochs = 0;
    c.amp = amp;
    Trainer t(c);
    TrainResult r = t.train();
    EXPECT_EQ(t.amp().enabled, amp == "true");
    return std::make_pair(t.history(), r);
  };
  const auto [fp32, r32] = run("false", "fp32");
  const auto [bf16, r16] = run("true", "bf16");
  ASSERT_EQ(fp32.size(), 2u);
  ASSERT_EQ(bf16.size(), 2u);
  // bfloat16 keeps 8 bits of mantissa: the forward pass drifts by ~1e-2 relative; the losses of the
  // same steps stay within 3% and both runs learn (the loss falls).
  for (size_t e = 0; e < 2; ++e) {
    const double a = fp32[e].get_or("train/loss", -1), b = bf16[e].get_or("train/loss", -1);
    EXPECT_NEAR(b, a, 0.03 * a) << "epoch " << e + 1;
    std::printf("epoch %zu: train loss fp32 %.4f, bf16 autocast %.4f (%+.2f%%)\n", e + 1, a, b, 100 * (b - a) / a);
  }
  EXPECT_LT(bf16[1].get_or("train/loss", 0), bf16[0].get_or("train/loss", 0));
  // Weights stay float32 (master weights).
  for (const auto& [k, w] : weights_of(r16.last))
    if (w.is_floating_point()) EXPECT_EQ(w.scalar_type(), torch::kFloat32) << k;
}

TEST(Amp, SettingsAndClearRefusals) {
  EXPECT_FALSE(resolve_amp("auto", "auto", torch::kCPU).enabled);  // auto: CUDA only
  const AmpSettings cpu = resolve_amp("true", "auto", torch::kCPU);
  EXPECT_TRUE(cpu.enabled);
  EXPECT_EQ(cpu.dtype, torch::kBFloat16);
  EXPECT_FALSE(cpu.scaler);
  EXPECT_NE(error_of([] { resolve_amp("true", "fp16", torch::kCPU); }).find("needs a CUDA device"), std::string::npos);
  EXPECT_NE(error_of([] { resolve_amp("yes", "auto", torch::kCPU); }).find("amp=yes"), std::string::npos);
  // The scope turns autocast on and restores it.
  {
    AutocastScope s(cpu, torch::kCPU);
    auto y = torch::matmul(torch::ones({4, 4}), torch::ones({4, 4}));
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::matmul(torch::ones({4, 4}), torch::ones({4, 4})).scalar_type(), torch::kFloat32);
}

TEST(Amp, GradScalerSkipsNonFiniteStepsAndAdaptsTheScale) {
  GradScaler s(1024.0, 2.0, 0.5, 3);
  torch::Tensor p = torch::zeros({3}, torch::requires_grad());
  p.mutable_grad() = torch::tensor({1024.f, 2048.f, -512.f});
  ASSERT_TRUE(s.unscale_({p}));
  EXPECT_TRUE(torch::allclose(p.grad(), torch::tensor({1.f, 2.f, -0.5f})));
  s.update(true);
  p.mutable_grad() = torch::tensor({1.f, std::numeric_limits<float>::infinity(), 0.f});
  EXPECT_FALSE(s.unscale_({p}));
  s.update(false);
  EXPECT_DOUBLE_EQ(s.scale(), 512.0);
  EXPECT_EQ(s.skipped_steps(), 1);
  for (int i = 0; i < 3; ++i) s.update(true);  // growth_interval good steps double it
  EXPECT_DOUBLE_EQ(s.scale(), 1024.0);
  GradScaler t;
  t.load_state(s.state());
  EXPECT_DOUBLE_EQ(t.scale(), 1024.0);
  EXPECT_NE(error_of([&] { t.load_state({-1, 0, 0}); }).find("scale > 0"), std::string::npos);
}

// ---- knowledge distillation ----------------------------------------------------------------------

TEST(Distill, LossIsZeroForTheTeacherItselfAndPositiveOtherwise) {
  torch::manual_seed(4);
  YoloNAS a(ArchParams::from_file(tiny_dir() + "/tiny_arch.json")), b(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  a->train();
  b->train();
  const torch::Tensor x = torch::rand({2, 3, 64, 64});
  const YoloNASOutput oa = a->forward(x), ob = b->forward(x);
  const DistillationLoss same = distillation_loss(oa, oa, 2.0);
  EXPECT_NEAR(same.loss.item<double>(), 0.0, 1e-5);
  const DistillationLoss other = distillation_loss(oa, ob, 2.0);
  EXPECT_GT(other.cls.item<double>(), 1e-4);
  EXPECT_GT(other.dfl.item<double>(), 1e-4);
  other.loss.backward();  // gradients reach the student only (the teacher's outputs are detached)
  for (const auto& p : a->parameters())
    if (p.grad().defined() && p.grad().abs().sum().item<double>() > 0) goto student_has_grad;
  FAIL() << "no gradient reached the student";
student_has_grad:
  for (const auto& p : b->parameters()) EXPECT_FALSE(p.grad().defined() && p.grad().abs().sum().item<double>() > 0);
}

TEST(Distill, TheDistilledStudentLearnsTheTeachersOutputs) {
  // Teacher: the tiny model trained on 48 labelled images. Student: the same architecture with 6
  // labelled images, with and without the teacher. On 24 held-out images, the distilled student's
  // outputs are closer to the teacher's than the lone student's: the teacher's signal reaches the
  // student. (Whether that wins mAP depends on the data: see the note printed; not asserted, since
  // with 6 images the mAP of either student swings with float rounding across thread counts.)
  const std::string root = fresh("kd");
  const std::string big = write_shapes_dataset(root + "/big", 48, 4, 128, 31);
  const std::string small = write_shapes_dataset(root + "/small", 6, 24, 128, 32);
  auto config = [&](const std::string& data, const std::string& name, int epochs) {
    TrainConfig c = tiny_train_config(data, root + "/runs", name);
    c.batch = 6;
    c.epochs = epochs;
    c.val_period = epochs;  // threads=1: the same numbers on every run
    return c;
  };
  const TrainResult teacher = train(config(big, "teacher", 30));
  const TrainResult alone = train(config(small, "alone", 60));
  TrainConfig kd = config(small, "kd", 60);
  kd.teacher = teacher.last;
  kd.kd_temperature = 2.0;
  const TrainResult distilled = train(kd);

  auto load = [](const std::string& path) {
    ArchParams arch = ArchParams::from_file(tiny_dir() + "/tiny_arch.json");
    arch.num_classes = 2;  // rectangle, circle
    YoloNAS m(arch);
    load_state_dict(*m, read_checkpoint(path).weights, path);
    m->eval();
    return m;
  };
  YoloNAS t = load(teacher.last), a = load(alone.last), d = load(distilled.last);
  std::vector<torch::Tensor> images;
  for (const auto& e : fs::directory_iterator(root + "/small/images/val")) {
    cv::Mat img = cv::imread(e.path().string());
    cv::resize(img, img, cv::Size(128, 128));
    img.convertTo(img, CV_32FC3, 1.0 / 255);
    images.push_back(torch::from_blob(img.data, {128, 128, 3}, torch::kFloat32).permute({2, 0, 1}).clone());
  }
  ASSERT_EQ(images.size(), 24u);
  torch::NoGradGuard ng;
  const torch::Tensor x = torch::stack(images);
  const YoloNASOutput ot = t->forward(x);
  const double gap_alone = distillation_loss(a->forward(x), ot, 2.0).loss.item<double>();
  const double gap_kd = distillation_loss(d->forward(x), ot, 2.0).loss.item<double>();
  std::printf("held-out images, distance to the teacher's outputs (the KD loss): alone %.4f, distilled %.4f; "
              "mAP50-95 alone %.4f, distilled %.4f (teacher %.4f)\n",
              gap_alone, gap_kd, alone.best_map50_95, distilled.best_map50_95, teacher.best_map50_95);
  EXPECT_LT(gap_kd, 0.8 * gap_alone);
}
