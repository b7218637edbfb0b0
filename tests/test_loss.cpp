// PPYoloELoss and its assigners against SuperGradients: loss components (TAL and ATSS, one image and a
// batch of 2) on SG's stored train-mode outputs, the TAL assignment SG captured inside that loss call,
// the loss's gradient w.r.t. those outputs (through SG's pred-conv bias gradients), and the parameter
// gradients of a full train-mode forward + backward (tiny model; S with ../shared/golden).
// Each comparison prints its measured error ("[ loss ]", "[ assigner ]", "[ grads ]" lines).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "torch_test_util.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/core/error.h"
#include "yolonas/train/loss.h"
#include "yolonas/model/model.h"
#include "yolonas/model/state_dict.h"

using namespace yolonas;
using namespace yolonas::test;

namespace {

using Components = std::array<double, 4>;  // loss_cls, loss_iou, loss_dfl, loss

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(f);
}

Components components_from(const nlohmann::json& c) {
  return {c.at("loss_cls").get<double>(), c.at("loss_iou").get<double>(), c.at("loss_dfl").get<double>(),
          c.at("loss").get<double>()};
}

Components components_npy(const std::string& path) {  // loss_components.npy: [4] float32
  auto t = load_tensor(path);
  return {t[0].item<double>(), t[1].item<double>(), t[2].item<double>(), t[3].item<double>()};
}

// SG's raw train-mode outputs: logits from `train_dir`, the anchor tensors from `grid_dir`.
YoloNASOutput load_outputs(const std::string& train_dir, const std::string& grid_dir) {
  YoloNASOutput o;
  o.cls_logits = load_tensor(train_dir + "/cls_logits.npy");
  o.reg_distri = load_tensor(train_dir + "/reg_distri.npy");
  o.anchors = load_tensor(grid_dir + "/anchors.npy");
  o.anchor_points = load_tensor(grid_dir + "/anchor_points.npy");
  o.stride_tensor = load_tensor(grid_dir + "/stride_tensor.npy");
  auto n = load_tensor(grid_dir + "/num_anchors_list.npy");
  for (int64_t i = 0; i < n.numel(); ++i) o.num_anchors_list.push_back(n[i].item<int64_t>());
  return o;
}

YoloNASOutput tiny_outputs(const std::string& c) {
  return load_outputs(tiny_dir() + "/" + c + "/train", tiny_dir() + "/" + c + "/eval_unfused");
}

// Returns the largest relative error; each component must be within `tol` of SG's.
double expect_components(const torch::Tensor& got, const Components& want, double tol, const std::string& what) {
  static const char* names[4] = {"loss_cls", "loss_iou", "loss_dfl", "loss"};
  EXPECT_EQ(got.numel(), 4);
  double worst = 0;
  for (int i = 0; i < 4; ++i) {
    const double g = got[i].item<double>();
    const double rel = std::abs(g - want[i]) / std::abs(want[i]);
    worst = std::max(worst, rel);
    EXPECT_LT(rel, tol) << what << " " << names[i] << ": " << g << " vs SG " << want[i];
  }
  std::printf("[ loss     ] %s: max rel err of the components %.3g\n", what.c_str(), worst);
  return worst;
}

PPYoloELoss make_loss(int64_t num_classes, bool atss) {
  PPYoloELossOptions o;
  o.num_classes = num_classes;
  o.use_static_assigner = atss;
  return PPYoloELoss(o);
}

// Per-channel constants removed by a following train-mode BatchNorm: their gradient is 0 up to
// rounding (tiny README, "Mathematically-zero gradients").
bool math_zero_grad(const std::string& name) {
  auto ends = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends("branch_3x3.bn.bias") || ends("branch_1x1.bias") || ends("upsample.bias");
}

bool is_alpha(const std::string& name) {
  return name.size() >= 6 && name.compare(name.size() - 6, 6, ".alpha") == 0;
}

// How close a float32 gradient can get to SG's float32 gradient (see check_gradients).
struct GradTolerances {
  double norm;   // relative, on the L2 norm of each parameter's gradient
  double full;   // max |ours - SG| / max |SG| over a selected full gradient
  double alpha;  // both of the above for the bottleneck `alpha` scalars
  double zero;   // absolute bound on the norms of the mathematically-zero gradients
  std::map<std::string, double> exceptions = {};  // per-parameter norm tolerance, each justified where set
};

// loss.backward() on a fresh train-mode model, then every parameter gradient against SG's.
// Parameters without an SG gradient (rbr_reparam placeholders) must get none here.
//
// Why the tolerances differ by parameter: the loss's own gradient matches SG to ~1e-6 (see
// OutputGradientsEqualSG), but it is back-propagated through a float32 network whose train-mode
// BatchNorms amplify rounding (our and SG's train outputs differ by ~5e-5 relative). A bottleneck
// `alpha` gets the full-tensor reduction sum(x * dL/dout), which cancels heavily: recomputing in
// float64 moves SG's own float32 alpha gradients by up to 1.3e-2 (tiny) and 21% (S, stage4), so no
// float32 port can match them to 1e-3. The other S gradients move by up to 3e-3 in float64.
void check_gradients(YoloNAS& m, const torch::Tensor& x, const torch::Tensor& targets, int64_t num_classes,
                     const Components& want, const std::string& norms_json, const std::string& grads_dir,
                     size_t expected_count, const GradTolerances& tol, const std::string& what) {
  m->train();
  auto out = m->forward(x);
  auto r = make_loss(num_classes, false)(out, targets);
  // Chained through our train-mode forward (~1e-4 relative on outputs), so a looser bound here.
  // 3e-4: on the AMD EPYC (Zen 4, AVX-512) machines S's loss_cls lands at 2.01e-4 (1.6e-4 elsewhere).
  expect_components(r.components, want, 3e-4, what + " (our forward)");
  r.loss.backward();

  const auto norms = read_json(norms_json);
  size_t matched = 0, zeros = 0;
  double worst = 0, worst_alpha = 0, worst_zero = 0;
  std::string worst_name, worst_alpha_name;
  for (const auto& item : m->named_parameters()) {
    const std::string& name = item.key();
    const auto& g = item.value().grad();
    if (!norms.contains(name)) {
      EXPECT_FALSE(g.defined() && g.abs().max().item<double>() > 0) << what << ": unexpected gradient for " << name;
      continue;
    }
    ++matched;
    ASSERT_TRUE(g.defined()) << what << ": no gradient for " << name;
    const double got = g.norm().item<double>(), ref = norms[name].get<double>();
    if (math_zero_grad(name)) {
      ++zeros;
      worst_zero = std::max(worst_zero, got);
      EXPECT_LT(got, tol.zero) << what << ": " << name << " should be ~0 (SG: " << ref << ")";
      continue;
    }
    const double rel = std::abs(got - ref) / ref;
    const bool alpha = is_alpha(name);
    if (alpha && rel > worst_alpha) worst_alpha = rel, worst_alpha_name = name;
    if (!alpha && rel > worst) worst = rel, worst_name = name;
    const double limit = tol.exceptions.count(name) ? tol.exceptions.at(name) : alpha ? tol.alpha : tol.norm;
    EXPECT_LT(rel, limit) << what << ": grad norm of " << name << ": " << got << " vs SG " << ref;
  }
  EXPECT_EQ(matched, expected_count) << what << ": parameters with a gradient";
  EXPECT_GT(zeros, 0u);
  std::printf("[ grads    ] %s: %zu norms; max rel err %.3g (%s), alphas %.3g (%s); %zu ~zero entries, max norm %.3g\n",
              what.c_str(), matched, worst, worst_name.c_str(), worst_alpha, worst_alpha_name.c_str(), zeros, worst_zero);

  std::map<std::string, torch::Tensor> params;
  for (const auto& item : m->named_parameters()) params[item.key()] = item.value();
  size_t selected = 0;
  for (const auto& e : std::filesystem::directory_iterator(grads_dir)) {
    if (e.path().extension() != ".npy") continue;
    const std::string name = e.path().stem().string();
    ASSERT_TRUE(params.count(name)) << name;
    auto ref = load_tensor(e.path().string());
    const auto& g = params[name].grad();
    ASSERT_TRUE(g.defined()) << name;
    ASSERT_EQ(g.sizes(), ref.sizes()) << name;
    const double err = rel_err(g, ref);
    EXPECT_LT(err, is_alpha(name) ? tol.alpha : tol.full) << what << ": full gradient of " << name;
    std::printf("[ grads    ] %s: full %s: rel err %.3g\n", what.c_str(), name.c_str(), err);
    ++selected;
  }
  EXPECT_GT(selected, 0u);
}

// Network-free check of the loss's backward: a prediction conv's bias gradient is the sum of
// dL/d(output) over the batch and its level's anchors, so the gradients of the loss w.r.t. SG's
// stored outputs must reproduce SG's cls_pred/reg_pred bias gradients (norms for every head, plus
// the full arrays that are stored).
void check_output_gradients(YoloNASOutput o, const torch::Tensor& targets, int64_t num_classes,
                            const std::string& norms_json, const std::string& grads_dir, const std::string& what) {
  o.cls_logits.requires_grad_(true);
  o.reg_distri.requires_grad_(true);
  make_loss(num_classes, false)(o, targets).loss.backward();
  const auto norms = read_json(norms_json);
  double worst = 0;
  int64_t start = 0;
  for (size_t l = 0; l < o.num_anchors_list.size(); ++l) {
    const int64_t n = o.num_anchors_list[l];
    const std::string head = "heads.head" + std::to_string(l + 1);
    for (const auto& [out, conv] : {std::pair{o.cls_logits, ".cls_pred.bias"}, std::pair{o.reg_distri, ".reg_pred.bias"}}) {
      auto g = out.grad().narrow(1, start, n).sum(at::IntArrayRef{0, 1});
      const double ref = norms[head + conv].get<double>(), got = g.norm().item<double>();
      worst = std::max(worst, std::abs(got - ref) / ref);
      EXPECT_LT(std::abs(got - ref) / ref, 1e-5) << what << " " << head + conv;
      const std::string full = grads_dir + "/" + head + conv + ".npy";
      if (std::filesystem::exists(full)) {
        const double err = rel_err(g, load_tensor(full));
        worst = std::max(worst, err);
        EXPECT_LT(err, 1e-5) << what << " full " << head + conv;
      }
    }
    start += n;
  }
  std::printf("[ grads    ] %s: dL/d(outputs) vs SG's pred bias gradients: max rel err %.3g\n", what.c_str(), worst);
}

const char* kTinyCases[] = {"random_b2_96x128", "image_128"};

}  // namespace

// ---- tiny model (tests/data/tiny): 3 classes ----------------------------------------------------

class LossTiny : public ::testing::TestWithParam<const char*> {};

TEST_P(LossTiny, TalComponentsEqualSG) {
  const std::string dir = tiny_dir() + "/" + GetParam() + "/loss";
  auto r = make_loss(3, false)(tiny_outputs(GetParam()), load_tensor(dir + "/targets.npy"));
  expect_components(r.components, components_npy(dir + "/loss_components.npy"), 1e-5,
                    std::string(GetParam()) + " TAL");
  const auto j = read_json(dir + "/loss.json");
  EXPECT_NEAR(r.assigned_scores_sum.item<double>(), j["assigned_scores_sum"].get<double>(), 1e-5);
  EXPECT_NEAR(r.loss.item<double>(), j["loss"].get<double>(), 1e-5 * j["loss"].get<double>());
}

TEST_P(LossTiny, AtssComponentsEqualSG) {
  const std::string dir = tiny_dir() + "/" + GetParam() + "/loss";
  auto r = make_loss(3, true)(tiny_outputs(GetParam()), load_tensor(dir + "/targets.npy"));
  const auto j = read_json(dir + "/loss.json");
  expect_components(r.components, components_from(j["extra_static_atss_class_default"]["components"]), 1e-5,
                    std::string(GetParam()) + " ATSS");
}

TEST_P(LossTiny, GradientsEqualSG) {
  const std::string dir = tiny_dir() + "/" + GetParam();
  YoloNAS m(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  load_state_dict(*m, read_checkpoint(tiny_dir() + "/tiny_det.pth").weights, "tiny_det.pth");
  const auto j = read_json(dir + "/loss/loss.json");
  // Zero entries: SG's own rounding noise reaches 1.5e-3 (image); every real norm is >= 1.8e-3.
  // Full gradients: 2e-3, as heads.head3.cls_pred.bias (3 sums over 24 anchors that cancel, smallest
  // element 1e-5) follows our forward's logits to 1.2e-3 (random); its loss-only value matches to 1e-6.
  // Norms: 1.5e-3; the worst, heads.head3.reg_convs.0 (image_128), is 1.02e-3 with the AVX-512
  // kernels of the AMD EPYC machines and below 1e-3 with AVX2 (same code, other float32 rounding).
  const GradTolerances tol{1.5e-3, 2e-3, 5e-2,
                           j["grads_mathematically_zero_in_train_mode"]["min_norm_of_other_params"].get<double>()};
  check_gradients(m, load_tensor(dir + "/input.npy"), load_tensor(dir + "/loss/targets.npy"), 3,
                  components_npy(dir + "/loss/loss_components.npy"), dir + "/grads/grad_norms.json", dir + "/grads", j["num_params_with_grad"].get<size_t>(), tol,
                  GetParam());
}

TEST_P(LossTiny, OutputGradientsEqualSG) {
  const std::string dir = tiny_dir() + "/" + GetParam();
  check_output_gradients(tiny_outputs(GetParam()), load_tensor(dir + "/loss/targets.npy"), 3,
                         dir + "/grads/grad_norms.json", dir + "/grads", GetParam());
}

INSTANTIATE_TEST_SUITE_P(Loss, LossTiny, ::testing::ValuesIn(kTinyCases));

class AssignerTiny : public ::testing::TestWithParam<const char*> {};

// The TaskAlignedAssigner alone, on the inputs PPYoloELoss gives it, against what SG's assigner
// returned inside the loss call; and the same assignment as reported by the loss.
TEST_P(AssignerTiny, TalOutputsEqualSG) {
  const std::string dir = tiny_dir() + "/" + GetParam() + "/loss";
  auto o = tiny_outputs(GetParam());
  auto targets = load_tensor(dir + "/targets.npy");
  auto gt = targets_to_gt_batch(targets, o.cls_logits.size(0));
  auto boxes_px = dfl_decode(o.reg_distri, o.anchor_points / o.stride_tensor) * o.stride_tensor;
  auto a = TaskAlignedAssigner{}(o.cls_logits.sigmoid(), boxes_px, o.anchor_points, gt, 3);

  auto labels = load_tensor(dir + "/assigned_labels.npy");
  auto bboxes = load_tensor(dir + "/assigned_bboxes.npy");
  auto scores = load_tensor(dir + "/assigned_scores.npy");
  ASSERT_EQ(a.labels.sizes(), labels.sizes());
  EXPECT_TRUE(torch::equal(a.labels, labels));
  const double box_err = max_abs(a.bboxes, bboxes), score_err = max_abs(a.scores, scores);
  EXPECT_LT(box_err, 1e-5 * bboxes.abs().max().item<double>());
  EXPECT_LT(score_err, 1e-5);
  std::printf("[ assigner ] %s TAL: labels equal %d, boxes max abs err %.3g px, scores max abs err %.3g\n",
              GetParam(), (int)torch::equal(a.labels, labels), box_err, score_err);

  // Foreground anchors per image and level, as SG counted them.
  const auto j = read_json(dir + "/loss.json");
  const auto& fg = j["foreground_anchors_per_image_per_level"];
  for (int64_t b = 0; b < a.labels.size(0); ++b) {
    int64_t start = 0;
    for (size_t l = 0; l < o.num_anchors_list.size(); ++l) {
      auto lv = a.labels[b].narrow(0, start, o.num_anchors_list[l]);
      EXPECT_EQ((lv != 3).sum().item<int64_t>(), fg[b][l].get<int64_t>()) << "image " << b << " level " << l;
      start += o.num_anchors_list[l];
    }
  }

  auto r = make_loss(3, false)(o, targets);
  EXPECT_TRUE(torch::equal(r.assignment.labels, labels));
  EXPECT_LT(max_abs(r.assignment.bboxes, bboxes), 1e-5 * bboxes.abs().max().item<double>());
  EXPECT_LT(max_abs(r.assignment.scores, scores), 1e-5);
}

// Zero-padding a batch must not change any image's assignment: each image alone gives the same rows.
TEST_P(AssignerTiny, BatchedEqualsPerImage) {
  const std::string dir = tiny_dir() + "/" + GetParam() + "/loss";
  auto o = tiny_outputs(GetParam());
  auto targets = load_tensor(dir + "/targets.npy");
  const int64_t B = o.cls_logits.size(0);
  auto boxes_px = dfl_decode(o.reg_distri, o.anchor_points / o.stride_tensor) * o.stride_tensor;
  auto scores = o.cls_logits.sigmoid();
  auto gt = targets_to_gt_batch(targets, B);
  auto tal = TaskAlignedAssigner{}(scores, boxes_px, o.anchor_points, gt, 3);
  auto atss = ATSSAssigner{}(o.anchors, o.num_anchors_list, gt, 3, 3, boxes_px);
  for (int64_t b = 0; b < B; ++b) {
    auto t = targets.index({targets.select(1, 0) == b}).clone();
    t.select(1, 0).fill_(0);
    auto gt1 = targets_to_gt_batch(t, 1);
    auto tal1 = TaskAlignedAssigner{}(scores.narrow(0, b, 1), boxes_px.narrow(0, b, 1), o.anchor_points, gt1, 3);
    auto atss1 = ATSSAssigner{}(o.anchors, o.num_anchors_list, gt1, 3, 3, boxes_px.narrow(0, b, 1));
    EXPECT_TRUE(torch::equal(tal1.labels, tal.labels.narrow(0, b, 1))) << b;
    EXPECT_TRUE(torch::allclose(tal1.scores, tal.scores.narrow(0, b, 1))) << b;
    EXPECT_TRUE(torch::equal(atss1.labels, atss.labels.narrow(0, b, 1))) << b;
    EXPECT_TRUE(torch::allclose(atss1.scores, atss.scores.narrow(0, b, 1))) << b;
    EXPECT_GT((atss1.labels != 3).sum().item<int64_t>(), 0) << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Assigner, AssignerTiny, ::testing::ValuesIn(kTinyCases));

TEST(AssignerUnit, TargetsToGtBatchPadsPerImage) {
  // image 1 has no boxes, image 2 has one; a row for image 5 (outside the batch) is ignored.
  auto t = torch::tensor({0.f, 2.f, 50.f, 40.f, 20.f, 10.f, 2.f, 1.f, 10.f, 10.f, 4.f, 6.f, 0.f, 0.f, 30.f, 30.f,
                          10.f, 10.f, 5.f, 1.f, 9.f, 9.f, 2.f, 2.f})
               .reshape({4, 6});
  auto gt = targets_to_gt_batch(t, 3);
  ASSERT_EQ(gt.bboxes.sizes(), (std::vector<int64_t>{3, 2, 4}));
  EXPECT_TRUE(torch::equal(gt.labels.squeeze(-1), torch::tensor({2, 0, 0, 0, 1, 0}, torch::kLong).reshape({3, 2})));
  EXPECT_TRUE(torch::equal(gt.bboxes[0], torch::tensor({40.f, 35.f, 60.f, 45.f, 25.f, 25.f, 35.f, 35.f}).reshape({2, 4})));
  EXPECT_TRUE(torch::equal(gt.bboxes[2][0], torch::tensor({8.f, 7.f, 12.f, 13.f})));
  EXPECT_TRUE(torch::equal(gt.pad_mask.squeeze(-1), torch::tensor({1.f, 1.f, 0.f, 0.f, 1.f, 0.f}).reshape({3, 2})));
  auto none = targets_to_gt_batch(torch::zeros({0, 6}), 2);
  EXPECT_EQ(none.bboxes.sizes(), (std::vector<int64_t>{2, 0, 4}));
}

// ---- edge cases ----------------------------------------------------------------------------------

// An image without boxes in the batch: all its anchors are background, the loss stays finite and
// the other image's assignment is unchanged.
TEST(LossEdge, ImageWithoutBoxesInBatch) {
  auto o = tiny_outputs("random_b2_96x128");
  auto targets = load_tensor(tiny_dir() + "/random_b2_96x128/loss/targets.npy");
  auto only0 = targets.index({targets.select(1, 0) == 0});
  for (bool atss : {false, true}) {
    o.cls_logits = o.cls_logits.detach().requires_grad_(true);
    o.reg_distri = o.reg_distri.detach().requires_grad_(true);
    auto r = make_loss(3, atss)(o, only0);
    EXPECT_TRUE(torch::isfinite(r.components).all().item<bool>());
    EXPECT_TRUE((r.assignment.labels[1] == 3).all().item<bool>()) << atss;
    EXPECT_EQ(r.assignment.scores[1].abs().sum().item<double>(), 0.0);
    EXPECT_GT((r.assignment.labels[0] != 3).sum().item<int64_t>(), 0);
    r.loss.backward();
    EXPECT_TRUE(torch::isfinite(o.reg_distri.grad()).all().item<bool>());
    // image 1 has no positive anchor: its DFL logits get no gradient
    EXPECT_EQ(o.reg_distri.grad()[1].abs().sum().item<double>(), 0.0);
    EXPECT_GT(o.cls_logits.grad()[1].abs().sum().item<double>(), 0.0);  // negatives still learn
  }
}

// No box in the whole batch: classification only (normalizer 1), iou and dfl exactly 0, and the
// backward pass still works (zero DFL gradient).
TEST(LossEdge, NoBoxesAtAll) {
  auto o = tiny_outputs("random_b2_96x128");
  for (bool atss : {false, true}) {
    o.cls_logits = o.cls_logits.detach().requires_grad_(true);
    o.reg_distri = o.reg_distri.detach().requires_grad_(true);
    auto r = make_loss(3, atss)(o, torch::zeros({0, 6}));
    EXPECT_TRUE(torch::isfinite(r.components).all().item<bool>());
    EXPECT_GT(r.components[0].item<double>(), 0.0);
    EXPECT_EQ(r.components[1].item<double>(), 0.0);
    EXPECT_EQ(r.components[2].item<double>(), 0.0);
    EXPECT_EQ(r.assigned_scores_sum.item<double>(), 1.0);
    EXPECT_TRUE((r.assignment.labels == 3).all().item<bool>());
    r.loss.backward();
    ASSERT_TRUE(o.reg_distri.grad().defined());
    EXPECT_EQ(o.reg_distri.grad().abs().sum().item<double>(), 0.0);
    // varifocal on all-background targets: sum 0.75 p^2 BCE(x, 0) — check the value directly
    auto x = o.cls_logits.detach();
    auto p = x.sigmoid();
    auto ref = (0.75 * p * p * torch::nn::functional::softplus(x)).sum().item<double>();
    EXPECT_NEAR(r.components[0].item<double>(), ref, 1e-5 * ref);
  }
  EXPECT_THROW(make_loss(3, false)(o, torch::zeros({2, 5})), Error);
}

// ---- ignore regions (our extension) ---------------------------------------------------------------

// The classification-loss gradient of every anchor, with and without ignore regions.
struct IgnoreRun {
  LossResult r;
  torch::Tensor cls_grad;  // [B,A,C]
};
IgnoreRun run_with_ignore(YoloNASOutput o, const torch::Tensor& targets, const torch::Tensor& ignore, bool atss) {
  o.cls_logits = o.cls_logits.detach().requires_grad_(true);
  o.reg_distri = o.reg_distri.detach().requires_grad_(true);
  IgnoreRun run{make_loss(3, atss)(o, targets, ignore), {}};
  run.r.loss.backward();
  run.cls_grad = o.cls_logits.grad().clone();
  return run;
}

// A background anchor whose point lies in an ignore region gets no classification gradient; every
// other anchor (positives inside the region included) gets exactly what it gets without regions, and
// the assignment, normalizer and box losses do not change. No region (or an empty tensor) = SG's loss.
TEST(LossIgnore, RegionExemptsOnlyItsBackgroundAnchors) {
  auto o = tiny_outputs("random_b2_96x128");
  auto targets = load_tensor(tiny_dir() + "/random_b2_96x128/loss/targets.npy");
  const auto pts = o.anchor_points;  // [A,2] input pixels
  for (bool atss : {false, true}) {
    const IgnoreRun plain = run_with_ignore(o, targets, {}, atss);
    const IgnoreRun empty = run_with_ignore(o, targets, torch::zeros({0, 6}), atss);
    EXPECT_TRUE(torch::equal(plain.r.components, empty.r.components));
    EXPECT_TRUE(torch::equal(plain.cls_grad, empty.cls_grad));

    // Image 0: a region over the left half, which holds positive anchors too; image 1: the whole image.
    auto ignore = torch::tensor({0.f, 1.f, 32.f, 48.f, 64.f, 96.f, 1.f, 0.f, 64.f, 48.f, 128.f, 96.f}).reshape({2, 6});
    const IgnoreRun ig = run_with_ignore(o, targets, ignore, atss);
    EXPECT_TRUE(torch::equal(ig.r.assignment.labels, plain.r.assignment.labels));
    EXPECT_EQ(ig.r.assigned_scores_sum.item<double>(), plain.r.assigned_scores_sum.item<double>());
    EXPECT_EQ(ig.r.components[1].item<double>(), plain.r.components[1].item<double>());
    EXPECT_EQ(ig.r.components[2].item<double>(), plain.r.components[2].item<double>());
    EXPECT_LT(ig.r.components[0].item<double>(), plain.r.components[0].item<double>());

    const auto x = pts.select(1, 0), y = pts.select(1, 1);
    const auto in0 = (x > 0) & (x < 64) & (y > 0) & (y < 96), in1 = (x > 0) & (x < 128) & (y > 0) & (y < 96);
    const auto bg = plain.r.assignment.labels == 3;  // [B,A]
    const auto exempt = torch::stack({in0, in1}) & bg;
    ASSERT_GT(exempt[0].sum().item<int64_t>(), 10);
    ASSERT_GT((torch::stack({in0, in1}) & ~bg).sum().item<int64_t>(), 0) << "no positive anchor inside a region";
    const auto g_abs = ig.cls_grad.abs().sum(-1), want = plain.cls_grad.abs().sum(-1);  // [B,A]
    EXPECT_EQ(g_abs.index({exempt}).sum().item<double>(), 0.0) << atss;
    EXPECT_GT(want.index({exempt}).sum().item<double>(), 0.0);
    const auto kept = ~exempt;
    EXPECT_TRUE(torch::allclose(ig.cls_grad.index({kept}), plain.cls_grad.index({kept}), 1e-6, 1e-9)) << atss;
  }
}

// ---- YOLO-NAS S (../shared/golden) ---------------------------------------------------------------

struct GoldenCase {
  const char* outputs;  // train_<name>/
  const char* targets;
  const char* manifest_key;
};
const GoldenCase kGolden[] = {{"train_random_640", "loss_targets.npy", "train"},
                              {"train_batch2_320", "loss_targets_batch2_320.npy", "train_batch2_320"}};

TEST(LossGoldenS, ComponentsEqualSG) {
  REQUIRE_GOLDEN();
  const auto manifest = read_json(golden_dir() + "/manifest.json");
  for (const auto& c : kGolden) {
    const std::string d = golden_dir() + "/" + c.outputs;
    auto o = load_outputs(d, d);
    auto targets = load_tensor(golden_dir() + "/" + c.targets);
    const auto& loss = manifest[c.manifest_key]["loss"];
    auto tal = make_loss(80, false)(o, targets);
    expect_components(tal.components, components_from(loss["recipe_tal"]["components"]), 1e-5,
                      std::string(c.outputs) + " TAL");
    auto atss = make_loss(80, true)(o, targets);
    expect_components(atss.components, components_from(loss["static_atss"]["components"]), 1e-5,
                      std::string(c.outputs) + " ATSS");
  }
}

TEST(LossGoldenS, GradientsEqualSG) {
  REQUIRE_GOLDEN();
  const auto manifest = read_json(golden_dir() + "/manifest.json");
  YoloNAS m(ArchParams::yolo_nas_s());
  load_state_dict(*m, read_checkpoint(golden_dir() + "/yolo_nas_s_det.pth").weights, "yolo_nas_s_det.pth");
  // S is deeper and its float32 gradients noisier than tiny's (see check_gradients): SG's own norms
  // move by up to 3e-3 (21% for backbone.stage4.blocks.bottlenecks.1.alpha) when recomputed in
  // float64. Zero entries: SG's are <= 4.9e-3, every real norm >= 5.8e-2.
  // That one alpha (norm 0.29, float64 0.293 vs SG 0.23) is rounding noise at the 30% level in
  // float32 in any implementation, so it is only checked to be of the same magnitude.
  // The other alphas: 0.15. backbone.stage2.blocks.bottlenecks.2.alpha is 9.3% off SG with the
  // AVX-512 kernels of the AMD EPYC machines (under 5% with AVX2): the same cancelling reduction.
  const GradTolerances tol{1e-2, 5e-2, 0.15, 2e-2, {{"backbone.stage4.blocks.bottlenecks.1.alpha", 1.0}}};
  check_gradients(m, load_tensor(golden_dir() + "/input_random_640.npy"), load_tensor(golden_dir() + "/loss_targets.npy"),
                  80, components_from(manifest["train"]["loss"]["recipe_tal"]["components"]),
                  golden_dir() + "/train_grad_norms.json", golden_dir() + "/train_grads_selected",
                  manifest["train"]["backward"]["num_params_with_grad"].get<size_t>(), tol, "S random_640");
}

TEST(LossGoldenS, OutputGradientsEqualSG) {
  REQUIRE_GOLDEN();
  const std::string d = golden_dir() + "/train_random_640";
  check_output_gradients(load_outputs(d, d), load_tensor(golden_dir() + "/loss_targets.npy"), 80,
                         golden_dir() + "/train_grad_norms.json", golden_dir() + "/train_grads_selected", "S random_640");
}

