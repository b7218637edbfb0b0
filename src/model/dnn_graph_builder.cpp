// YoloNAS (LibTorch, fully fused) -> DnnGraph. Walks the module tree in forward order, the same
// order model.cpp's forward functions use. See dnn_graph_builder.h.
#include "yolonas/model/dnn_graph_builder.h"

#include "yolonas/core/error.h"

namespace yolonas {
namespace {

std::vector<float> to_floats(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

class Builder {
 public:
  explicit Builder(DnnGraph& g) : g_(g) {}

  int conv(const torch::nn::Conv2d& c, int x, bool relu, const std::string& name) {
    const auto& o = c->options;
    const int k = static_cast<int>((*o.kernel_size())[0]);
    if ((*o.kernel_size())[1] != k || (*o.stride())[0] != (*o.stride())[1])
      throw Error(name + ": only square kernels and strides are supported by the oneDNN runtime");
    if (!c->bias.defined()) throw Error(name + ": expected a fused convolution with a bias");
    DnnOp op;
    op.kind = DnnOpKind::Conv;
    op.inputs = {x};
    op.cin = static_cast<int>(o.in_channels());
    op.cout = static_cast<int>(o.out_channels());
    op.kernel = k;
    op.stride = static_cast<int>((*o.stride())[0]);
    op.pad = k / 2;  // every convolution of model.cpp pads k/2 ("same" for stride 1)
    op.relu = relu;
    op.weights = to_floats(c->weight);
    op.bias = to_floats(c->bias);
    op.name = name;
    return g_.add(std::move(op));
  }

  int conv_bn(const ConvBN& m, int x, const std::string& name) {
    if (!m->folded) throw Error(name + ": Conv/BN not folded (fuse the model with fuse=full first)");
    return conv(m->conv, x, m->relu, name);
  }

  int qarepvgg(const QARepVGGBlock& m, int x, const std::string& name) {
    if (m->state != RepState::kFull) throw Error(name + ": QARepVGG block not fully fused (fuse=full)");
    return conv(m->rbr_reparam, x, /*relu=*/true, name);
  }

  int bottleneck(const BottleneckImpl& b, int x, const std::string& name) {
    const int y = b.qa1 ? qarepvgg(b.qa2, qarepvgg(b.qa1, x, name + ".cv1"), name + ".cv2")
                        : conv_bn(b.cb2, conv_bn(b.cb1, x, name + ".cv1"), name + ".cv2");
    DnnOp sum;
    sum.kind = DnnOpKind::Sum;
    sum.inputs = {x, y};
    sum.scales = {b.alpha.item<float>(), 1.0f};
    sum.name = name;
    return g_.add(std::move(sum));
  }

  int csp(const CSPLayer& m, int x, const std::string& name) {
    std::vector<int> parts;
    int y = conv_bn(m->conv1, x, name + ".conv1");
    if (m->concat_intermediates) parts.push_back(y);
    int i = 0;
    for (const auto& b : *m->bottlenecks) {
      y = bottleneck(*b->as<BottleneckImpl>(), y, name + ".bottlenecks." + std::to_string(i++));
      if (m->concat_intermediates) parts.push_back(y);
    }
    if (!m->concat_intermediates) parts.push_back(y);
    parts.push_back(conv_bn(m->conv2, x, name + ".conv2"));
    return conv_bn(m->conv3, concat(parts, name), name + ".conv3");
  }

  int concat(const std::vector<int>& parts, const std::string& name) {
    DnnOp op;
    op.kind = DnnOpKind::Concat;
    op.inputs = parts;
    op.name = name + ".concat";
    return g_.add(std::move(op));
  }

  int spp(const SPP& m, int x, const std::string& name) {
    const int y = conv_bn(m->cv1, x, name + ".cv1");
    std::vector<int> parts{y};
    for (int k : m->kernels) {
      DnnOp op;
      op.kind = DnnOpKind::MaxPool;
      op.inputs = {y};
      op.kernel = k;
      op.stride = 1;
      op.pad = k / 2;
      op.name = name + ".maxpool" + std::to_string(k);
      parts.push_back(g_.add(std::move(op)));
    }
    return conv_bn(m->cv2, concat(parts, name), name + ".cv2");
  }

  int deconv(const torch::nn::ConvTranspose2d& d, int x, const std::string& name) {
    const auto& o = d->options;
    DnnOp op;
    op.kind = DnnOpKind::Deconv;
    op.inputs = {x};
    op.cin = static_cast<int>(o.in_channels());
    op.cout = static_cast<int>(o.out_channels());
    op.kernel = static_cast<int>((*o.kernel_size())[0]);
    op.stride = static_cast<int>((*o.stride())[0]);
    op.pad = 0;  // YOLO-NAS upsamples with kernel 2, stride 2, no padding (model.cpp)
    if (op.kernel != op.stride) throw Error(name + ": only kernel == stride transposed convolutions are supported");
    op.weights = to_floats(d->weight);
    op.bias = to_floats(d->bias);
    op.name = name;
    return g_.add(std::move(op));
  }

 private:
  DnnGraph& g_;
};

}  // namespace

DnnGraph build_dnn_graph(YoloNAS& model) {
  DnnGraph g;
  Builder b(g);
  const ArchParams& a = model->arch;
  g.input_channels = a.in_channels;
  g.num_classes = a.num_classes;
  g.reg_max = a.reg_max;
  g.strides = model->heads->strides;

  // Backbone.
  auto& bb = *model->backbone;
  int x = b.qarepvgg(bb.stem->conv, 0, "backbone.stem.conv");
  std::vector<int> feats;
  const Stage stages[4] = {bb.stage1, bb.stage2, bb.stage3, bb.stage4};
  for (int i = 0; i < 4; ++i) {
    const std::string name = "backbone.stage" + std::to_string(i + 1);
    x = b.csp(stages[i]->blocks, b.qarepvgg(stages[i]->downsample, x, name + ".downsample"), name + ".blocks");
    if (i < 3) feats.push_back(x);
  }
  feats.push_back(b.spp(bb.context_module, x, "backbone.context_module"));

  // Neck (panneck.py): two up stages, two down stages.
  auto up = [&](const UpStage& s, int in, int s1, int s2, const std::string& name) {
    const int inter = b.conv_bn(s->conv, in, name + ".conv");
    const int cat = b.concat({b.deconv(s->upsample, inter, name + ".upsample"), b.conv_bn(s->reduce_skip1, s1, name + ".reduce_skip1"),
                              b.conv_bn(s->downsample, b.conv_bn(s->reduce_skip2, s2, name + ".reduce_skip2"), name + ".downsample")},
                             name);
    return std::make_pair(inter, b.csp(s->blocks, b.conv_bn(s->reduce_after_concat, cat, name + ".reduce_after_concat"),
                                       name + ".blocks"));
  };
  auto down = [&](const DownStage& s, int in, int skip, const std::string& name) {
    return b.csp(s->blocks, b.concat({b.conv_bn(s->conv, in, name + ".conv"), skip}, name), name + ".blocks");
  };
  auto& neck = *model->neck;
  const auto [n1_inter, n1_out] = up(neck.neck1, feats[3], feats[2], feats[1], "neck.neck1");
  const auto [n2_inter, p3] = up(neck.neck2, n1_out, feats[1], feats[0], "neck.neck2");
  const int p4 = down(neck.neck3, p3, n2_inter, "neck.neck3");
  const int p5 = down(neck.neck4, p4, n1_inter, "neck.neck4");

  // Heads: stem, then the class and box branches.
  const DFLHead heads[3] = {model->heads->head1, model->heads->head2, model->heads->head3};
  const int levels[3] = {p3, p4, p5};
  for (int i = 0; i < 3; ++i) {
    const std::string name = "heads.head" + std::to_string(i + 1);
    const DFLHeadImpl& h = *heads[i];
    const int s = b.conv_bn(h.stem->seq, levels[i], name + ".stem");
    auto branch = [&](const torch::nn::Sequential& convs, const std::string& bname) {
      int y = s;
      int j = 0;
      for (const auto& m : *convs) y = b.conv_bn(m.ptr()->as<ConvBNReLUImpl>()->seq, y, bname + "." + std::to_string(j++));
      return y;
    };
    g.reg_outputs.push_back(b.conv(h.reg_pred, branch(h.reg_convs, name + ".reg_convs"), false, name + ".reg_pred"));
    g.cls_outputs.push_back(b.conv(h.cls_pred, branch(h.cls_convs, name + ".cls_convs"), false, name + ".cls_pred"));
  }
  return g;
}

}  // namespace yolonas
