// Inference of a fully fused YOLO-NAS (dnn_graph.h) with oneDNN primitives: convolutions with fused
// bias + ReLU in the memory layouts oneDNN picks for this CPU (blocked nChw8c on AVX2), the concat,
// sum, max-pool and transposed-convolution primitives, and the DFL decode in plain C++. Gives what
// YoloNAS::forward_decoded gives (boxes xyxy in input pixels, sigmoid scores), without LibTorch.
//
// One net serves one input shape (batch x channels x height x width); build another for another
// shape. Threads: oneDNN uses the OpenMP thread count in effect (set_threads()). run() may be called
// from several threads at once: each concurrent run gets its own execution context (activation
// arena, memory objects, stream), made on first need and reused; primitives and weights are shared.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "yolonas/runtime/dnn_graph.h"
#include "yolonas/runtime/int8.h"

namespace yolonas {

// Whether oneDNN runs native bfloat16 kernels on this CPU (AVX512-BF16 or AMX), and the name of the
// instruction set its kernels use ("AVX-512 VNNI", ...).
bool cpu_has_bf16();
std::string cpu_isa_name();

class OnednnNet {
 public:
  struct Options {
    const DnnInt8* int8 = nullptr;  // quantized execution (plan_int8); nullptr = FP32
    // bfloat16 activations and weights with f32 accumulation; the heads' outputs (the decode's
    // inputs) stay f32. Needs AVX512-BF16 (cpu_has_bf16()); refused with a message elsewhere.
    bool bf16 = false;
    bool share_memory = true;       // false keeps every activation (calibration reads them)
    // A residual sum folded into the convolution before it (a binary post-op): one pass over the
    // data instead of two; that convolution's own output is then never stored (read_buffer refuses
    // it; calibration builds its nets without).
    bool fuse_sum = true;
  };
  // Creates every primitive and reorders the weights into oneDNN's layouts (once). Throws
  // yolonas::Error naming the operation when oneDNN refuses one.
  OnednnNet(const DnnGraph& graph, int batch, int height, int width, const Options& options);
  OnednnNet(const DnnGraph& graph, int batch, int height, int width) : OnednnNet(graph, batch, height, width, Options{}) {}
  ~OnednnNet();
  OnednnNet(const OnednnNet&) = delete;
  OnednnNet& operator=(const OnednnNet&) = delete;

  // input: batch x C x H x W floats (NCHW, as the preprocessing writes them). Outputs are resized:
  // boxes batch x A x 4, scores batch x A x num_classes, anchors ordered as forward_decoded's (empty
  // for a graph without detection levels: a test graph of single operations).
  void run(const float* input, std::vector<float>& boxes, std::vector<float>& scores);

  // Nets built with share_memory=false: buffer `id` of the last run as plain NCHW floats
  // (dequantized when it is quantized), and its dims; for tests and calibration.
  std::vector<float> read_buffer(int id) const;
  std::vector<int64_t> buffer_dims(int id) const;

  // Profiling: with it on, run() waits for every step and adds its time to its kind ("conv 3x3
  // int8", "reorder (layout)", "concat", "decode (C++)", ...). profile(): per kind, the steps of that
  // kind in one run and their mean ms per run, slowest first.
  struct ProfileRow {
    std::string kind;
    int steps = 0;
    double ms = 0;
  };
  void set_profiling(bool on);
  std::vector<ProfileRow> profile() const;

  // Execution contexts made so far (one per run that was in progress at the same time as others).
  size_t contexts() const;

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
  // FP32 nets built with share_memory=false: widens `r` by every buffer's values of the last run
  // (INT8 calibration, runtime/int8.h).
  void update_ranges(DnnRanges& r) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolonas
