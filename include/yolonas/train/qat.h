// Quantization-aware training (QAT) of the deployable network: the fully fused graph the oneDNN
// runtime executes (runtime/dnn_graph.h), run in LibTorch with fake quantization where the
// runtime's INT8 plan (runtime/int8.h) quantizes, and fine-tuned so that the INT8 model, not the
// FP32 one, fits the data. SG's QAT recipe: start from a trained model and its post-training scales,
// about a tenth of the original epochs at about a tenth of the learning rate.
//
// The scale plan is the PTQ plan, fixed: activations per tensor (u8 or s8, scales shared through
// concats and max-pools), weights per output channel (s8, scale = max |w| / 127, recomputed from the
// current weights at every step), FP32 where the plan keeps FP32 (the heads' outputs). Gradients pass
// through the rounding (straight-through) and stop where a value is clipped. The export is the graph
// with the trained weights and the same plan: the runtime's INT8 gives the integers QatNet computes,
// to rounding (tests/test_qat.cpp).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "yolonas/model/model.h"
#include "yolonas/runtime/dnn_graph.h"
#include "yolonas/runtime/int8.h"

namespace yolonas {

class QatNetImpl : public torch::nn::Module {
 public:
  // `graph`: FP32 and fully fused (build_dnn_graph); `plan`: its INT8 plan. The convolutions'
  // weights and biases become parameters ("conv<op index>_weight", "_bias").
  QatNetImpl(const DnnGraph& graph, const DnnInt8& plan);

  // The heads' raw outputs as the model's forward gives them (for the PPYoloE loss).
  YoloNASOutput forward(const torch::Tensor& x);
  // Every buffer of one run (buffer 0 = the input as quantized), for tests.
  std::vector<torch::Tensor> forward_buffers(const torch::Tensor& x);
  // Op `index` alone on given input tensors (the values of its input buffers), its output as the
  // runtime would store it: fake-quantized where the plan quantizes.
  torch::Tensor run_op(size_t index, const std::vector<torch::Tensor>& inputs);

  // The graph with the current weights (FP32; the plan is unchanged): what the export quantizes.
  DnnGraph to_graph() const;
  const DnnInt8& plan() const { return plan_; }
  // Whether buffer `b` is stored quantized by the runtime (the plan's is_f32; heads' outputs never).
  bool quantized(int b) const;

 private:
  torch::Tensor fake_quant_act(const torch::Tensor& x, int buffer) const;
  torch::Tensor fake_quant_weight(const torch::Tensor& w, bool transposed) const;
  torch::Tensor weight_mult(const torch::Tensor& w, bool transposed) const;  // per output channel

  DnnGraph graph_;  // structure; weights are the parameters below
  DnnInt8 plan_;
  std::vector<torch::Tensor> weight_, bias_;  // per op (undefined for non-convolutions)
};
TORCH_MODULE(QatNet);

struct QatConfig {
  std::string data;            // data.yaml (or any dataset train reads): train split to learn, val to score
  std::string weights;         // the trained checkpoint to start from (required)
  std::string model;           // arch when the weights carry none
  int epochs = 10;             // SG's QAT recipe: about 10% of the original epochs
  int batch = 16, imgsz = 0;   // 0: the checkpoint's size
  double lr0 = 5e-5;           // about a tenth of the fine-tuning lr (5e-4)
  double weight_decay = 1e-4;
  int workers = 1, threads = 0, max_batches = 0;
  uint64_t seed = 42;
  // The PTQ plan QAT starts from.
  CalibMethod calib_method = CalibMethod::Max;
  double percentile = 99.99;
  bool float_heads = false;
  size_t calibration_images = 32;  // from the train split
  std::string project = "runs/detect", name = "qat";
  bool exist_ok = false;
  bool progress = true;
};

struct QatResult {
  std::string run_dir, best;             // best: the INT8 model file (.ynas) with the best val mAP50-95
  double ptq_map50_95 = 0, ptq_map50 = 0;  // the INT8 model before QAT (PTQ), on the val split
  double fp32_map50_95 = 0;                // the FP32 model it started from
  double best_map50_95 = 0, best_map50 = 0;
  int best_epoch = 0;                      // 0: PTQ itself stayed the best
};

// Loads and fuses the weights, calibrates the PTQ plan on the train split, scores FP32 and PTQ on
// the val split, fine-tunes with fake quantization (AdamW, cosine to lr0/10), scores the INT8 model
// after every epoch and writes weights/last.ynas, weights/best.ynas (INT8 model files, atomically)
// and results.csv into the run folder.
QatResult run_qat(const QatConfig& config);

}  // namespace yolonas
