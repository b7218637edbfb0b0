// YOLO-NAS in LibTorch, mirroring SuperGradients' module tree so that state_dict names, shapes and
// order equal SG's 1:1 (see ../shared/golden/yolo_nas_{s,m,l}_keys.txt). Each struct below names the
// SG class it reproduces. Activation is ReLU everywhere; every BatchNorm has eps/momentum from the
// arch params (1e-3 / 0.03). Forward accepts any input whose sides are multiples of 32.
#pragma once
#include <torch/torch.h>

#include <functional>

#include <string>
#include <vector>

#include "yolonas/detect/arch_params.h"

namespace yolonas {

enum class RepState { kUnfused, kPartial, kFull };

torch::nn::BatchNorm2d make_bn(int channels, const ArchParams& a);

// sg/modules/conv_bn_act_block.py::Conv (conv, bn, act) - also used with relu=false as the
// QARepVGG `branch_3x3` (conv, bn). fold_bn() is our inference optimization: BN folded into a
// conv bias (bn removed from the state_dict).
// Every BatchNorm2d of the model runs through batch_norm(): bn->forward(x), unless an override is
// set and the layer is training (train/distributed.h sets SyncBatchNorm this way). Not thread-safe
// to change while a forward pass runs.
using BatchNormOverride = std::function<torch::Tensor(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x)>;
void set_batch_norm_override(BatchNormOverride f);
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

struct ConvBNImpl : torch::nn::Module {
  ConvBNImpl(int cin, int cout, int k, int stride, bool relu, const ArchParams& a);
  torch::Tensor forward(const torch::Tensor& x);
  void fold_bn();
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  bool relu;
  bool folded = false;
};
TORCH_MODULE(ConvBN);

// sg/modules/conv_bn_relu_block.py::ConvBNReLU: the same block wrapped in a `seq` child.
struct ConvBNReLUImpl : torch::nn::Module {
  ConvBNReLUImpl(int cin, int cout, int k, const ArchParams& a);
  torch::Tensor forward(const torch::Tensor& x) { return seq->forward(x); }
  ConvBN seq{nullptr};
};
TORCH_MODULE(ConvBNReLU);

// sg/modules/qarepvgg_block.py::QARepVGGBlock (use_alpha=False, 1x1 bias, post_bn, identity when
// stride 1 and cin == cout). `rbr_reparam` is registered (SG keeps it in every checkpoint) but only
// used after fusion.
struct QARepVGGBlockImpl : torch::nn::Module {
  QARepVGGBlockImpl(int cin, int cout, int stride, bool residual, const ArchParams& a);
  torch::Tensor forward(const torch::Tensor& x);
  void fuse_partial();  // branches -> rbr_reparam, post_bn kept (SG prep_model_for_conversion)
  void fuse_full();     // + post_bn folded (SG full_fusion=True)
  ConvBN branch_3x3{nullptr};
  torch::nn::Conv2d branch_1x1{nullptr};
  torch::nn::BatchNorm2d post_bn{nullptr};
  torch::nn::Conv2d rbr_reparam{nullptr};
  int cin, cout, stride;
  bool identity;
  RepState state = RepState::kUnfused;
};
TORCH_MODULE(QARepVGGBlock);

// yolo_stages.py::YoloNASBottleneck: out = alpha * x + cv2(cv1(x)). Blocks are QARepVGG (backbone,
// up-stages) or 3x3 Conv (down-stages).
struct BottleneckImpl : torch::nn::Module {
  BottleneckImpl(int c, bool qarepvgg, const ArchParams& a);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor alpha;
  QARepVGGBlock qa1{nullptr}, qa2{nullptr};
  ConvBN cb1{nullptr}, cb2{nullptr};
};
TORCH_MODULE(Bottleneck);

// yolo_stages.py::YoloNASCSPLayer.
struct CSPLayerImpl : torch::nn::Module {
  CSPLayerImpl(int cin, int cout, int n, bool qarepvgg, int hidden, bool concat_intermediates, const ArchParams& a);
  torch::Tensor forward(const torch::Tensor& x);
  ConvBN conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::ModuleList bottlenecks{nullptr};
  bool concat_intermediates;
};
TORCH_MODULE(CSPLayer);

struct StemImpl : torch::nn::Module {  // YoloNASStem
  StemImpl(int cin, int cout, const ArchParams& a);
  torch::Tensor forward(const torch::Tensor& x) { return conv->forward(x); }
  QARepVGGBlock conv{nullptr};
};
TORCH_MODULE(Stem);

struct StageImpl : torch::nn::Module {  // YoloNASStage
  StageImpl(int cin, const StageParams& s, const ArchParams& a);
  torch::Tensor forward(const torch::Tensor& x) { return blocks->forward(downsample->forward(x)); }
  QARepVGGBlock downsample{nullptr};
  CSPLayer blocks{nullptr};
};
TORCH_MODULE(Stage);

struct SPPImpl : torch::nn::Module {  // csp_darknet53.py::SPP
  SPPImpl(int cin, int cout, const std::vector<int>& kernels, const ArchParams& a);
  torch::Tensor forward(const torch::Tensor& x);
  ConvBN cv1{nullptr}, cv2{nullptr};
  std::vector<int> kernels;
};
TORCH_MODULE(SPP);

// detection_modules.py::NStageBackbone; forward returns (stage1, stage2, stage3, context_module).
struct BackboneImpl : torch::nn::Module {
  explicit BackboneImpl(const ArchParams& a);
  std::vector<torch::Tensor> forward(const torch::Tensor& x);
  Stem stem{nullptr};
  Stage stage1{nullptr}, stage2{nullptr}, stage3{nullptr}, stage4{nullptr};
  SPP context_module{nullptr};
};
TORCH_MODULE(Backbone);

struct UpStageImpl : torch::nn::Module {  // YoloNASUpStage (three inputs, reduce_channels=True)
  UpStageImpl(int x_ch, int skip1_ch, int skip2_ch, const NeckStageParams& p, const ArchParams& a);
  // returns (x_inter, out)
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& s1,
                                                  const torch::Tensor& s2);
  ConvBN reduce_skip1{nullptr}, reduce_skip2{nullptr}, conv{nullptr};
  torch::nn::ConvTranspose2d upsample{nullptr};
  ConvBN downsample{nullptr}, reduce_after_concat{nullptr};
  CSPLayer blocks{nullptr};
  int out_channels;
};
TORCH_MODULE(UpStage);

struct DownStageImpl : torch::nn::Module {  // YoloNASDownStage
  DownStageImpl(int x_ch, int skip_ch, const NeckStageParams& p, const ArchParams& a);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip);
  ConvBN conv{nullptr};
  CSPLayer blocks{nullptr};
  int out_channels;
};
TORCH_MODULE(DownStage);

struct NeckOutput {
  torch::Tensor p3, p4, p5;
  torch::Tensor neck1_inter, neck1_out, neck2_inter;
};

struct NeckImpl : torch::nn::Module {  // panneck.py::YoloNASPANNeckWithC2
  NeckImpl(const std::vector<int>& in_channels, const ArchParams& a);
  NeckOutput forward(const std::vector<torch::Tensor>& feats);
  UpStage neck1{nullptr}, neck2{nullptr};
  DownStage neck3{nullptr}, neck4{nullptr};
  std::vector<int> out_channels;  // p3, p4, p5
};
TORCH_MODULE(Neck);

struct DFLHeadImpl : torch::nn::Module {  // dfl_heads.py::YoloNASDFLHead
  DFLHeadImpl(int cin, const HeadParams& h, int num_classes, int reg_max, const ArchParams& a);
  // returns (reg [B,4*(reg_max+1),H,W], cls [B,C,H,W])
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);
  ConvBNReLU stem{nullptr};
  torch::nn::Sequential cls_convs{nullptr}, reg_convs{nullptr};
  torch::nn::Conv2d cls_pred{nullptr}, reg_pred{nullptr};
};
TORCH_MODULE(DFLHead);

// Everything SG's NDFLHeads.forward returns (decoded + raw, same in train and eval mode).
struct YoloNASOutput {
  torch::Tensor pred_bboxes;    // [B,A,4] xyxy, input pixels
  torch::Tensor pred_scores;    // [B,A,C] sigmoid
  torch::Tensor cls_logits;     // [B,A,C]
  torch::Tensor reg_distri;     // [B,A,4*(reg_max+1)], channel = side*(reg_max+1)+bin
  torch::Tensor anchors;        // [A,4] xyxy pixels, side grid_cell_scale*stride (ATSS)
  torch::Tensor anchor_points;  // [A,2] pixels
  torch::Tensor stride_tensor;  // [A,1]
  std::vector<int64_t> num_anchors_list;
};

struct NDFLHeadsImpl : torch::nn::Module {
  NDFLHeadsImpl(const std::vector<int>& in_channels, const ArchParams& a);
  YoloNASOutput forward(const std::vector<torch::Tensor>& feats);
  // Only boxes and scores (skips the raw tensors' copies): the inference path.
  std::pair<torch::Tensor, torch::Tensor> forward_decoded(const std::vector<torch::Tensor>& feats);
  DFLHead head1{nullptr}, head2{nullptr}, head3{nullptr};
  int num_classes, reg_max;
  std::vector<int> strides;
};
TORCH_MODULE(NDFLHeads);

// NDFLHeads.forward's outputs from the heads' raw outputs, per level: reg [B,4*(reg_max+1),H,W] and
// cls [B,C,H,W] at `strides` (what the loss takes; QAT's graph, train/qat.h, produces those tensors).
YoloNASOutput head_outputs(const std::vector<torch::Tensor>& reg, const std::vector<torch::Tensor>& cls,
                           const std::vector<int>& strides);

// customizable_detector.py::CustomizableDetector for YOLO-NAS: backbone -> neck -> heads.
struct YoloNASImpl : torch::nn::Module {
  explicit YoloNASImpl(const ArchParams& a);
  YoloNASOutput forward(const torch::Tensor& x);
  std::pair<torch::Tensor, torch::Tensor> forward_decoded(const torch::Tensor& x);
  Backbone backbone{nullptr};
  Neck neck{nullptr};
  NDFLHeads heads{nullptr};
  ArchParams arch;
};
TORCH_MODULE(YoloNAS);

// Throws yolonas::Error unless H and W are positive multiples of 32.
void check_input_size(int64_t h, int64_t w);

}  // namespace yolonas
