// A fully fused YOLO-NAS as a flat list of operations on numbered buffers, with its weights as plain
// float arrays: what the oneDNN runtime (onednn_net.h) executes. No LibTorch and no oneDNN here; the
// graph is built from a LibTorch model by build_dnn_graph() (dnn_graph_builder.h).
#pragma once
#include <string>
#include <vector>

namespace yolonas {

enum class DnnOpKind {
  Conv,     // 2-D convolution + bias, optional ReLU; weights OIHW
  Deconv,   // 2-D transposed convolution + bias; weights as PyTorch's ConvTranspose2d: (in, out, kh, kw)
  MaxPool,  // k x k, stride 1, padding k/2 (SPP)
  Concat,   // along channels, inputs in order
  Sum,      // out = sum_i scales[i] * inputs[i] (the bottleneck's alpha * x + y)
};

struct DnnOp {
  DnnOpKind kind = DnnOpKind::Conv;
  std::vector<int> inputs;  // buffer ids
  int output = 0;           // buffer id (each op writes a new buffer)
  int cin = 0, cout = 0;    // Conv / Deconv
  int kernel = 1, stride = 1, pad = 0;
  bool relu = false;
  std::vector<float> weights, bias;
  std::vector<float> scales;  // Sum
  std::string name;           // the SG module it comes from, for messages ("backbone.stage1.downsample")
};

struct DnnGraph {
  int input_channels = 3;
  int num_buffers = 1;  // buffer 0 is the network input
  std::vector<DnnOp> ops;
  // Per detection level (strides 8, 16, 32): the buffers holding the raw regression distribution
  // ([4 * (reg_max + 1)] channels, side-major) and the class logits.
  std::vector<int> reg_outputs, cls_outputs;
  std::vector<int> strides;
  int num_classes = 0, reg_max = 16;

  // Adds an op writing a fresh buffer; returns that buffer's id.
  int add(DnnOp op) {
    op.output = num_buffers++;
    ops.push_back(std::move(op));
    return ops.back().output;
  }
};

}  // namespace yolonas
