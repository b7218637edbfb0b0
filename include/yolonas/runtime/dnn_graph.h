// A fully fused YOLO-NAS as a flat list of operations on numbered buffers, with its weights: what
// the oneDNN runtime (onednn_net.h) executes and what a model file (model_file.h) stores. No
// LibTorch and no oneDNN here; the graph is built from a LibTorch model by build_dnn_graph()
// (model/dnn_graph_builder.h) or read from a model file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace yolonas {

// A read-only array that is either owned (moved in from a std::vector) or borrowed from memory kept
// alive by `keep` (a mapped model file). Copies share the data: copying a graph copies no weights.
template <typename T>
class DnnArray {
 public:
  DnnArray() = default;
  DnnArray(std::vector<T> v) {  // NOLINT: implicit, so that `op.weights = floats;` reads naturally
    auto owned = std::make_shared<std::vector<T>>(std::move(v));
    data_ = owned->data();
    size_ = owned->size();
    keep_ = std::move(owned);
  }
  static DnnArray view(const T* data, size_t size, std::shared_ptr<const void> keep) {
    DnnArray a;
    a.data_ = data;
    a.size_ = size;
    a.keep_ = std::move(keep);
    return a;
  }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& operator[](size_t i) const { return data_[i]; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

 private:
  std::shared_ptr<const void> keep_;
  const T* data_ = nullptr;
  size_t size_ = 0;
};

enum class DnnOpKind {
  Conv,     // 2-D convolution + bias, optional ReLU; weights OIHW
  Deconv,   // 2-D transposed convolution + bias; weights as PyTorch's ConvTranspose2d: (in, out, kh, kw)
  MaxPool,  // k x k, stride 1, padding k/2 (SPP)
  Concat,   // along channels, inputs in order
  Sum,      // out = sum_i scales[i] * inputs[i] (the bottleneck's alpha * x + y)
};
const char* dnn_op_kind_name(DnnOpKind kind);  // "conv", "deconv", "maxpool", "concat", "sum"

struct DnnOp {
  DnnOpKind kind = DnnOpKind::Conv;
  std::vector<int> inputs;  // buffer ids
  int output = 0;           // buffer id (each op writes a new buffer)
  int cin = 0, cout = 0;    // Conv / Deconv
  int kernel = 1, stride = 1, pad = 0;
  bool relu = false;
  // FP32 weights and bias (Conv / Deconv). An INT8 model file stores the weights of its quantized
  // convolutions as s8 (`qweights`, same layout) with one multiplier per output channel
  // (`wscales`: q = round(w * wscale[oc])) instead of `weights`; the bias stays FP32.
  DnnArray<float> weights, bias;
  DnnArray<int8_t> qweights;
  DnnArray<float> wscales;
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
