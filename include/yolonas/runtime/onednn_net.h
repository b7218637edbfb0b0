// Inference of a fully fused YOLO-NAS (dnn_graph.h) with oneDNN primitives: convolutions with fused
// bias + ReLU in the memory layouts oneDNN picks for this CPU (blocked nChw8c on AVX2), the concat,
// sum, max-pool and transposed-convolution primitives, and the DFL decode in plain C++. Gives what
// YoloNAS::forward_decoded gives (boxes xyxy in input pixels, sigmoid scores), without LibTorch.
//
// One net serves one input shape (batch x channels x height x width); build another for another
// shape. Threads: oneDNN uses the OpenMP thread count in effect (set_threads()).
#pragma once
#include <memory>
#include <vector>

#include "yolonas/runtime/dnn_graph.h"

namespace yolonas {

// INT8 post-training quantization of a DnnGraph: per-buffer scales from the value ranges seen on
// calibration images. Activations are u8 (ranges >= 0, e.g. after ReLU) or s8, one scale per tensor,
// shared by the inputs and output of a concat or max-pool (so those stay plain copies); weights are
// s8 with one scale per output channel; biases are folded into the s32 accumulator; the head's
// last convolutions write f32 for the decode.
struct DnnRanges {
  std::vector<float> lo, hi;  // per buffer id
};
struct DnnInt8 {
  std::vector<float> mult;            // per buffer: quantized = round(x * mult)
  std::vector<uint8_t> is_unsigned;   // per buffer: u8 (1) or s8 (0)
  std::vector<uint8_t> is_f32;        // per buffer: left in FP32 (a convolution reading it runs FP32)
};
// float_heads: the detection heads (after their first convolution) stay FP32, the box regression
// being the part most sensitive to rounding.
DnnInt8 plan_int8(const DnnGraph& graph, const DnnRanges& ranges, bool float_heads = true);

class OnednnNet {
 public:
  struct Options {
    const DnnInt8* int8 = nullptr;  // quantized execution (plan_int8); nullptr = FP32
    bool share_memory = true;       // false keeps every activation (calibration reads them)
  };
  // Creates every primitive and reorders the weights into oneDNN's layouts (once). Throws
  // yolonas::Error naming the operation when oneDNN refuses one.
  OnednnNet(const DnnGraph& graph, int batch, int height, int width, const Options& options);
  OnednnNet(const DnnGraph& graph, int batch, int height, int width) : OnednnNet(graph, batch, height, width, Options{}) {}
  ~OnednnNet();
  OnednnNet(const OnednnNet&) = delete;
  OnednnNet& operator=(const OnednnNet&) = delete;

  // input: batch x C x H x W floats (NCHW, as the preprocessing writes them). Outputs are resized:
  // boxes batch x A x 4, scores batch x A x num_classes, anchors ordered as forward_decoded's.
  void run(const float* input, std::vector<float>& boxes, std::vector<float>& scores);

  int batch() const;
  int height() const;
  int width() const;
  int num_anchors() const;
  int num_classes() const;
  // oneDNN's implementation of each convolution ("jit:avx2", ...), for `benchmark` and tests.
  std::vector<std::string> conv_implementations() const;
  // Bytes of activation memory: allocated (buffers share arena slots by live range), and what one
  // buffer per activation would take.
  size_t activation_bytes() const;
  size_t unshared_activation_bytes() const;
  // FP32 nets built with share_memory=false: widens `r` by every buffer's values of the last run.
  void update_ranges(DnnRanges& r) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The nets of one graph, one per batch size met (a last, smaller batch gets its own), built on first
// use with the thread count then in effect.
class OnednnNetCache {
 public:
  OnednnNetCache() = default;
  OnednnNetCache(DnnGraph graph, const DnnInt8* int8 = nullptr) : graph_(std::move(graph)), int8_(int8) {}
  OnednnNet& get(int batch, int height, int width);
  const DnnGraph& graph() const { return graph_; }

 private:
  DnnGraph graph_;
  const DnnInt8* int8_ = nullptr;  // owned by the caller
  std::vector<std::unique_ptr<OnednnNet>> nets_;
};

// Value ranges of every buffer over `images` (each 1 x C x H x W floats, NCHW, preprocessed as for
// inference), from an FP32 run.
DnnRanges calibrate_ranges(const DnnGraph& graph, int height, int width, const std::vector<const float*>& images);

}  // namespace yolonas
