// The LibTorch model as an InferenceEngine (detect/pipeline.h), and the one place that turns a
// loaded model into the engine asked for (the Detector, `benchmark` and training-time validation
// use it).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "yolonas/detect/model_meta.h"
#include "yolonas/detect/pipeline.h"
#include "yolonas/model/model.h"
#include "yolonas/model/model_source.h"
#include "yolonas/runtime/int8.h"

namespace yolonas {

class LibtorchEngine : public InferenceEngine {
 public:
  // `model` in eval mode, already fused as wanted (fuse names it for describe()); moved to `device`.
  LibtorchEngine(YoloNAS model, torch::Device device, std::string fuse);
  void run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
           std::vector<float>& scores) override;
  int num_classes() const override;
  std::string describe() const override;  // "LibTorch fuse=full, cpu"
  YoloNAS& model() { return model_; }

 private:
  YoloNAS model_;
  torch::Device device_;
  std::string fuse_;
};

// Validates `options`, fuses `model` (eval mode, un-fused or as loaded) as options.fuse says and
// wraps it: oneDNN FP32 or INT8 (the weights move into the runtime's graph; INT8 calibrates on
// options.calibration_images with meta's preprocessing) or LibTorch on options.device. Throws
// yolonas::Error for a bad engine, device or fuse value, or a combination that cannot run
// (engine=onednn with a GPU, engine=int8 without calibration images, ...).
// quantize (engine=int8): makes the INT8 plan of the fused graph (the Detector passes its calibration
// and selective scan, api/quantize.h); none: plain max calibration on options.calibration_images.
using Quantizer = std::function<DnnInt8(const DnnGraph& graph, std::string& note)>;
std::unique_ptr<InferenceEngine> make_engine(YoloNAS model, const ModelMeta& meta, const EngineOptions& options,
                                             const Quantizer& quantize = nullptr);

}  // namespace yolonas
