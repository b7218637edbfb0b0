#include "yolonas/model/model.h"

#include <cmath>

#include "yolonas/core/error.h"
#include "yolonas/model/decode_torch.h"

namespace nn = torch::nn;

namespace yolonas {

nn::BatchNorm2d make_bn(int channels, const ArchParams& a) {
  return nn::BatchNorm2d(nn::BatchNorm2dOptions(channels).eps(a.bn_eps).momentum(a.bn_momentum));
}

void check_input_size(int64_t h, int64_t w) {
  if (h < 32 || w < 32 || h % 32 != 0 || w % 32 != 0)
    throw Error("input size " + std::to_string(h) + "x" + std::to_string(w) +
                " is not supported: YOLO-NAS needs height and width that are multiples of 32 (e.g. imgsz=640)");
}

// ---- ConvBN / ConvBNReLU -------------------------------------------------------------------------

ConvBNImpl::ConvBNImpl(int cin, int cout, int k, int stride, bool relu_, const ArchParams& a) : relu(relu_) {
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(cin, cout, k).stride(stride).padding(k / 2).bias(false)));
  bn = register_module("bn", make_bn(cout, a));
}

namespace {
BatchNormOverride& bn_override() {
  static BatchNormOverride f;
  return f;
}
}  // namespace

void set_batch_norm_override(BatchNormOverride f) { bn_override() = std::move(f); }

torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  const BatchNormOverride& f = bn_override();
  if (f && bn.is_training()) return f(bn, x);
  return bn.forward(x);
}

torch::Tensor ConvBNImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = folded ? conv->forward(x) : batch_norm(*bn, conv->forward(x));
  return relu ? torch::relu_(y) : y;
}

void ConvBNImpl::fold_bn() {
  if (folded) return;
  torch::NoGradGuard ng;
  const auto std_ = torch::sqrt(bn->running_var + bn->options.eps());
  const auto t = bn->weight / std_;
  auto w = conv->weight * t.reshape({-1, 1, 1, 1});
  auto b = bn->bias - bn->weight * bn->running_mean / std_;
  const auto& o = conv->options;
  auto fused = nn::Conv2d(nn::Conv2dOptions(o.in_channels(), o.out_channels(), o.kernel_size())
                              .stride(o.stride())
                              .padding(o.padding())
                              .bias(true));
  fused->weight.set_data(w.contiguous());
  fused->bias.set_data(b.contiguous());
  unregister_module("conv");
  unregister_module("bn");
  conv = register_module("conv", fused);
  bn = nullptr;
  folded = true;
}

ConvBNReLUImpl::ConvBNReLUImpl(int cin, int cout, int k, const ArchParams& a) {
  seq = register_module("seq", ConvBN(cin, cout, k, 1, true, a));
}

// ---- QARepVGGBlock ------------------------------------------------------------------------------

QARepVGGBlockImpl::QARepVGGBlockImpl(int cin_, int cout_, int stride_, bool residual, const ArchParams& a)
    : cin(cin_), cout(cout_), stride(stride_), identity(residual) {
  if (residual && (cin != cout || stride != 1))
    throw Error("QARepVGGBlock: identity branch needs cin == cout and stride 1");
  branch_3x3 = register_module("branch_3x3", ConvBN(cin, cout, 3, stride, false, a));
  branch_1x1 = register_module("branch_1x1", nn::Conv2d(nn::Conv2dOptions(cin, cout, 1).stride(stride).bias(true)));
  post_bn = register_module("post_bn", make_bn(cout, a));
  rbr_reparam =
      register_module("rbr_reparam", nn::Conv2d(nn::Conv2dOptions(cin, cout, 3).stride(stride).padding(1).bias(true)));
}

torch::Tensor QARepVGGBlockImpl::forward(const torch::Tensor& x) {
  switch (state) {
    case RepState::kFull:
      return rbr_reparam->forward(x).relu_();
    case RepState::kPartial:
      return batch_norm(*post_bn, rbr_reparam->forward(x)).relu_();
    case RepState::kUnfused:
      break;
  }
  // SG: branches = x_3x3 + alpha * x_1x1 + id_out, alpha = 1.0 (a python float).
  torch::Tensor y = branch_3x3->forward(x) + branch_1x1->forward(x);
  if (identity) y = y + x;
  return batch_norm(*post_bn, y).relu_();
}

namespace {

// SG QARepVGGBlock._fuse_bn_tensor: kernel * gamma/std, bias * gamma/std + (beta - gamma*mean/std).
std::pair<torch::Tensor, torch::Tensor> fuse_bn_tensor(const torch::Tensor& kernel, const torch::Tensor& bias,
                                                       const nn::BatchNorm2d& bn) {
  const auto std_ = torch::sqrt(bn->running_var + bn->options.eps());
  const auto b = bn->bias - bn->weight * bn->running_mean / std_;
  const auto A = bn->weight / std_;
  auto k = kernel * A.reshape({-1, 1, 1, 1});
  auto fb = bias.defined() ? bias * A + b : b;
  return {k, fb};
}

}  // namespace

void QARepVGGBlockImpl::fuse_partial() {
  if (state != RepState::kUnfused) return;
  torch::NoGradGuard ng;
  auto [k3, b3] = fuse_bn_tensor(branch_3x3->conv->weight, torch::Tensor(), branch_3x3->bn);
  auto k1 = torch::constant_pad_nd(branch_1x1->weight, {1, 1, 1, 1});
  auto kernel = k3 + k1;  // alpha = 1.0
  if (identity) {
    auto id = torch::zeros_like(kernel);
    for (int i = 0; i < cout; ++i) id[i][i % cin][1][1] = 1.0f;
    kernel = kernel + id;
  }
  auto bias = b3 + branch_1x1->bias;
  // Re-register so the state_dict order matches SG after fusion: post_bn.* then rbr_reparam.*.
  auto reparam = rbr_reparam;
  reparam->weight.set_data(kernel.contiguous());
  reparam->bias.set_data(bias.contiguous());
  unregister_module("branch_3x3");
  unregister_module("branch_1x1");
  unregister_module("rbr_reparam");
  branch_3x3 = nullptr;
  branch_1x1 = nullptr;
  rbr_reparam = register_module("rbr_reparam", reparam);
  state = RepState::kPartial;
}

void QARepVGGBlockImpl::fuse_full() {
  fuse_partial();
  if (state == RepState::kFull) return;
  torch::NoGradGuard ng;
  auto [k, b] = fuse_bn_tensor(rbr_reparam->weight, rbr_reparam->bias, post_bn);
  rbr_reparam->weight.set_data(k.contiguous());
  rbr_reparam->bias.set_data(b.contiguous());
  unregister_module("post_bn");
  post_bn = nullptr;
  state = RepState::kFull;
}

// ---- Bottleneck / CSP ---------------------------------------------------------------------------

BottleneckImpl::BottleneckImpl(int c, bool qarepvgg, const ArchParams& a) {
  alpha = register_parameter("alpha", torch::ones({1}));
  if (qarepvgg) {
    qa1 = register_module("cv1", QARepVGGBlock(c, c, 1, true, a));
    qa2 = register_module("cv2", QARepVGGBlock(c, c, 1, true, a));
  } else {
    cb1 = register_module("cv1", ConvBN(c, c, 3, 1, true, a));
    cb2 = register_module("cv2", ConvBN(c, c, 3, 1, true, a));
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = qa1 ? qa2->forward(qa1->forward(x)) : cb2->forward(cb1->forward(x));
  return alpha * x + y;
}

CSPLayerImpl::CSPLayerImpl(int cin, int cout, int n, bool qarepvgg, int hidden, bool concat, const ArchParams& a)
    : concat_intermediates(concat) {
  conv1 = register_module("conv1", ConvBN(cin, hidden, 1, 1, true, a));
  conv2 = register_module("conv2", ConvBN(cin, hidden, 1, 1, true, a));
  conv3 = register_module("conv3", ConvBN(hidden * (2 + (concat ? n : 0)), cout, 1, 1, true, a));
  bottlenecks = register_module("bottlenecks", nn::ModuleList());
  for (int i = 0; i < n; ++i) bottlenecks->push_back(Bottleneck(hidden, qarepvgg, a));
}

torch::Tensor CSPLayerImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> parts;
  torch::Tensor y = conv1->forward(x);
  if (concat_intermediates) parts.push_back(y);
  for (const auto& b : *bottlenecks) {
    y = b->as<BottleneckImpl>()->forward(y);
    if (concat_intermediates) parts.push_back(y);
  }
  if (!concat_intermediates) parts.push_back(y);
  parts.push_back(conv2->forward(x));
  return conv3->forward(torch::cat(parts, 1));
}

// ---- Backbone -----------------------------------------------------------------------------------

StemImpl::StemImpl(int cin, int cout, const ArchParams& a) {
  conv = register_module("conv", QARepVGGBlock(cin, cout, 2, false, a));
}

StageImpl::StageImpl(int cin, const StageParams& s, const ArchParams& a) {
  downsample = register_module("downsample", QARepVGGBlock(cin, s.out_channels, 2, false, a));
  blocks = register_module("blocks", CSPLayer(s.out_channels, s.out_channels, s.num_blocks, true, s.hidden_channels,
                                              s.concat_intermediates, a));
}

SPPImpl::SPPImpl(int cin, int cout, const std::vector<int>& k, const ArchParams& a) : kernels(k) {
  const int hidden = cin / 2;
  cv1 = register_module("cv1", ConvBN(cin, hidden, 1, 1, true, a));
  cv2 = register_module("cv2", ConvBN(hidden * static_cast<int>(k.size() + 1), cout, 1, 1, true, a));
}

torch::Tensor SPPImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = cv1->forward(x);
  std::vector<torch::Tensor> parts{y};
  for (int k : kernels) parts.push_back(torch::max_pool2d(y, {k, k}, {1, 1}, {k / 2, k / 2}));
  return cv2->forward(torch::cat(parts, 1));
}

BackboneImpl::BackboneImpl(const ArchParams& a) {
  stem = register_module("stem", Stem(a.in_channels, a.stem_out_channels, a));
  int c = a.stem_out_channels;
  Stage* slots[4] = {&stage1, &stage2, &stage3, &stage4};
  for (int i = 0; i < 4; ++i) {
    *slots[i] = register_module("stage" + std::to_string(i + 1), Stage(c, a.stages[i], a));
    c = a.stages[i].out_channels;
  }
  context_module = register_module("context_module", SPP(c, a.spp_out_channels, a.spp_kernels, a));
}

std::vector<torch::Tensor> BackboneImpl::forward(const torch::Tensor& x) {
  auto s1 = stage1->forward(stem->forward(x));
  auto s2 = stage2->forward(s1);
  auto s3 = stage3->forward(s2);
  auto c5 = context_module->forward(stage4->forward(s3));
  return {s1, s2, s3, c5};
}

// ---- Neck ---------------------------------------------------------------------------------------

UpStageImpl::UpStageImpl(int x_ch, int skip1_ch, int skip2_ch, const NeckStageParams& p, const ArchParams& a) {
  const int out = p.effective_out_channels();
  out_channels = out;
  reduce_skip1 = register_module("reduce_skip1", ConvBN(skip1_ch, out, 1, 1, true, a));
  reduce_skip2 = register_module("reduce_skip2", ConvBN(skip2_ch, out, 1, 1, true, a));
  conv = register_module("conv", ConvBN(x_ch, out, 1, 1, true, a));
  upsample = register_module("upsample", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(out, out, 2).stride(2).bias(true)));
  downsample = register_module("downsample", ConvBN(out, out, 3, 2, true, a));
  reduce_after_concat = register_module("reduce_after_concat", ConvBN(3 * out, out, 1, 1, true, a));
  blocks = register_module("blocks", CSPLayer(out, out, p.effective_num_blocks(), true, p.hidden_channels, false, a));
}

std::pair<torch::Tensor, torch::Tensor> UpStageImpl::forward(const torch::Tensor& x, const torch::Tensor& s1,
                                                             const torch::Tensor& s2) {
  auto x_inter = conv->forward(x);
  auto y = torch::cat({upsample->forward(x_inter), reduce_skip1->forward(s1),
                       downsample->forward(reduce_skip2->forward(s2))},
                      1);
  return {x_inter, blocks->forward(reduce_after_concat->forward(y))};
}

DownStageImpl::DownStageImpl(int x_ch, int skip_ch, const NeckStageParams& p, const ArchParams& a) {
  const int out = p.effective_out_channels();
  out_channels = out;
  conv = register_module("conv", ConvBN(x_ch, out / 2, 3, 2, true, a));
  blocks = register_module("blocks",
                           CSPLayer(out / 2 + skip_ch, out, p.effective_num_blocks(), false, p.hidden_channels, false, a));
}

torch::Tensor DownStageImpl::forward(const torch::Tensor& x, const torch::Tensor& skip) {
  return blocks->forward(torch::cat({conv->forward(x), skip}, 1));
}

NeckImpl::NeckImpl(const std::vector<int>& c, const ArchParams& a) {
  // c = channels of (c2, c3, c4, c5) = stage1, stage2, stage3, SPP
  neck1 = register_module("neck1", UpStage(c[3], c[2], c[1], a.neck1, a));
  neck2 = register_module("neck2", UpStage(neck1->out_channels, c[1], c[0], a.neck2, a));
  neck3 = register_module("neck3", DownStage(neck2->out_channels, neck2->out_channels, a.neck3, a));
  neck4 = register_module("neck4", DownStage(neck3->out_channels, neck1->out_channels, a.neck4, a));
  out_channels = {neck2->out_channels, neck3->out_channels, neck4->out_channels};
}

NeckOutput NeckImpl::forward(const std::vector<torch::Tensor>& f) {
  NeckOutput o;
  std::tie(o.neck1_inter, o.neck1_out) = neck1->forward(f[3], f[2], f[1]);
  std::tie(o.neck2_inter, o.p3) = neck2->forward(o.neck1_out, f[1], f[0]);
  o.p4 = neck3->forward(o.p3, o.neck2_inter);
  o.p5 = neck4->forward(o.p4, o.neck1_inter);
  return o;
}

// ---- Heads --------------------------------------------------------------------------------------

DFLHeadImpl::DFLHeadImpl(int cin, const HeadParams& h, int num_classes, int reg_max, const ArchParams& a) {
  const int inter = h.effective_inter_channels();
  stem = register_module("stem", ConvBNReLU(cin, inter, 1, a));
  cls_convs = register_module("cls_convs", nn::Sequential(ConvBNReLU(inter, inter, 3, a)));
  reg_convs = register_module("reg_convs", nn::Sequential(ConvBNReLU(inter, inter, 3, a)));
  cls_pred = register_module("cls_pred", nn::Conv2d(nn::Conv2dOptions(inter, num_classes, 1).bias(true)));
  reg_pred = register_module("reg_pred", nn::Conv2d(nn::Conv2dOptions(inter, 4 * (reg_max + 1), 1).bias(true)));
  // SG _initialize_biases: prior probability 0.01 for the class logits.
  torch::NoGradGuard ng;
  cls_pred->bias.fill_(-std::log((1.0 - 0.01) / 0.01));
}

std::pair<torch::Tensor, torch::Tensor> DFLHeadImpl::forward(const torch::Tensor& x) {
  auto s = stem->forward(x);
  auto reg = reg_pred->forward(reg_convs->forward(s));
  auto cls = cls_pred->forward(cls_convs->forward(s));
  return {reg, cls};
}

NDFLHeadsImpl::NDFLHeadsImpl(const std::vector<int>& c, const ArchParams& a)
    : num_classes(a.num_classes), reg_max(a.reg_max), strides(a.strides()) {
  head1 = register_module("head1", DFLHead(c[0], a.heads[0], a.num_classes, a.reg_max, a));
  head2 = register_module("head2", DFLHead(c[1], a.heads[1], a.num_classes, a.reg_max, a));
  head3 = register_module("head3", DFLHead(c[2], a.heads[2], a.num_classes, a.reg_max, a));
}

namespace {

struct LevelOutputs {
  std::vector<torch::Tensor> cls, reg_raw;
  torch::Tensor anchor_points_grid, stride_tensor;  // grid units, [A,2] / [A,1]
  std::vector<int64_t> hw;
};

}  // namespace

// Per level: reg [B,4*(reg_max+1),H,W] and cls [B,C,H,W], the heads' raw outputs.
static LevelOutputs levels_of(const std::vector<torch::Tensor>& regs, const std::vector<torch::Tensor>& clss,
                              const std::vector<int>& strides) {
  LevelOutputs o;
  std::vector<torch::Tensor> pts, strd;
  for (size_t i = 0; i < regs.size(); ++i) {
    const torch::Tensor &reg = regs[i], &cls = clss[i];
    const int64_t b = reg.size(0), hh = reg.size(2), ww = reg.size(3), hw = hh * ww;
    o.reg_raw.push_back(reg.flatten(2).permute({0, 2, 1}));  // [B,hw,4*(reg_max+1)], channel = side*bins+bin
    o.cls.push_back(cls.reshape({b, -1, hw}));
    // NDFLHeads._generate_anchors: (x + 0.5, y + 0.5) in grid units, row-major (detect/decode.h).
    auto sx = torch::arange(ww, torch::kFloat32) + 0.5;
    auto sy = torch::arange(hh, torch::kFloat32) + 0.5;
    auto grids = torch::meshgrid({sy, sx}, "ij");
    pts.push_back(torch::stack({grids[1], grids[0]}, -1).reshape({-1, 2}));
    strd.push_back(torch::full({hw, 1}, static_cast<float>(strides[i])));
    o.hw.push_back(hw);
  }
  o.anchor_points_grid = torch::cat(pts, 0).to(regs[0].options());
  o.stride_tensor = torch::cat(strd, 0).to(regs[0].options());
  return o;
}

static LevelOutputs run_levels(NDFLHeadsImpl& h, const std::vector<torch::Tensor>& feats) {
  DFLHead heads[3] = {h.head1, h.head2, h.head3};
  std::vector<torch::Tensor> regs, clss;
  for (int i = 0; i < 3; ++i) {
    auto [reg, cls] = heads[i]->forward(feats[static_cast<size_t>(i)]);
    regs.push_back(reg);
    clss.push_back(cls);
  }
  return levels_of(regs, clss, h.strides);
}

// SG HEAD: softmax over the bins, expectation (p * proj).sum, xyxy around the cell centres, times
// the stride (model/decode_torch.h).
static torch::Tensor decode_boxes(const LevelOutputs& o, const torch::Tensor& reg_distri) {
  return dfl_decode(reg_distri, o.anchor_points_grid) * o.stride_tensor;
}

static YoloNASOutput outputs_of(const LevelOutputs& lv) {
  YoloNASOutput out;
  out.cls_logits = torch::cat(lv.cls, -1).permute({0, 2, 1});
  out.reg_distri = torch::cat(lv.reg_raw, 1);
  out.pred_scores = out.cls_logits.sigmoid();
  out.pred_bboxes = decode_boxes(lv, out.reg_distri);
  out.stride_tensor = lv.stride_tensor;
  out.num_anchors_list = lv.hw;
  // generate_anchors_for_grid_cell (grid_cell_size 5, offset 0.5): pixels.
  out.anchor_points = lv.anchor_points_grid * lv.stride_tensor;
  auto half = lv.stride_tensor * 2.5;
  auto ax = out.anchor_points.select(1, 0).unsqueeze(1), ay = out.anchor_points.select(1, 1).unsqueeze(1);
  out.anchors = torch::cat({ax - half, ay - half, ax + half, ay + half}, 1);
  return out;
}

YoloNASOutput NDFLHeadsImpl::forward(const std::vector<torch::Tensor>& feats) { return outputs_of(run_levels(*this, feats)); }

YoloNASOutput head_outputs(const std::vector<torch::Tensor>& reg, const std::vector<torch::Tensor>& cls,
                           const std::vector<int>& strides) {
  if (reg.size() != cls.size() || reg.size() != strides.size() || reg.empty())
    throw Error("head_outputs: one regression and one class output per stride expected");
  return outputs_of(levels_of(reg, cls, strides));
}


std::pair<torch::Tensor, torch::Tensor> NDFLHeadsImpl::forward_decoded(const std::vector<torch::Tensor>& feats) {
  LevelOutputs lv = run_levels(*this, feats);
  auto scores = torch::cat(lv.cls, -1).permute({0, 2, 1}).sigmoid();
  return {decode_boxes(lv, torch::cat(lv.reg_raw, 1)), scores};
}

// ---- YoloNAS -------------------------------------------------------------------------------------

YoloNASImpl::YoloNASImpl(const ArchParams& a) : arch(a) {
  a.validate();
  backbone = register_module("backbone", Backbone(a));
  std::vector<int> c = {a.stages[0].out_channels, a.stages[1].out_channels, a.stages[2].out_channels,
                        a.spp_out_channels};
  neck = register_module("neck", Neck(c, a));
  heads = register_module("heads", NDFLHeads(neck->out_channels, a));
}

YoloNASOutput YoloNASImpl::forward(const torch::Tensor& x) {
  check_input_size(x.size(2), x.size(3));
  auto n = neck->forward(backbone->forward(x));
  return heads->forward({n.p3, n.p4, n.p5});
}

std::pair<torch::Tensor, torch::Tensor> YoloNASImpl::forward_decoded(const torch::Tensor& x) {
  check_input_size(x.size(2), x.size(3));
  auto n = neck->forward(backbone->forward(x));
  return heads->forward_decoded({n.p3, n.p4, n.p5});
}

}  // namespace yolonas
