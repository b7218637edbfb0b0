#include "yolonas/model/engines.h"

#include "yolonas/core/error.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/model/fusion.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/runtime/int8.h"
#include "yolonas/runtime/onednn_engine.h"

namespace yolonas {

LibtorchEngine::LibtorchEngine(YoloNAS model, torch::Device device, std::string fuse)
    : model_(std::move(model)), device_(device), fuse_(std::move(fuse)) {
  model_->to(device_);
}

void LibtorchEngine::run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
                         std::vector<float>& scores) {
  c10::InferenceMode guard;
  auto x = torch::from_blob(const_cast<float*>(input), {batch, 3, height, width}, torch::kFloat32);
  auto [b, s] = model_->forward_decoded(x.to(device_));
  b = b.cpu().contiguous();  // .cpu() waits for a GPU: timings around run() are complete
  s = s.cpu().contiguous();
  boxes.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  scores.assign(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
}

int LibtorchEngine::num_classes() const { return model_->arch.num_classes; }

std::string LibtorchEngine::describe() const { return "LibTorch fuse=" + fuse_ + ", " + device_.str(); }

std::unique_ptr<InferenceEngine> make_engine(YoloNAS model, const ModelMeta& meta, const EngineOptions& o,
                                             const Quantizer& quantize) {
  const torch::Device device = parse_device(o.device);
  const std::string& engine = o.engine;
  if (engine != "auto" && engine != "libtorch" && engine != "onednn" && engine != "int8" && engine != "bf16")
    throw Error("engine=" + clip(engine, 40) + ": expected auto, libtorch, onednn, int8 or bf16");
  const FuseMode fuse = parse_fuse_mode(o.fuse);
  const bool dnn = engine == "onednn" || engine == "int8" || engine == "bf16";
  if (dnn && !device.is_cpu()) throw Error("engine=" + engine + " runs on the CPU; drop device= or use engine=libtorch");
  if (dnn && fuse != FuseMode::kFull) throw Error("engine=" + engine + " runs the fully fused model: use fuse=full (the default)");
  if (engine == "int8" && o.calibration_images.empty())
    throw Error("engine=int8 needs calibration images like the ones to detect on: calib=DIR|GLOB|data.yaml");
  fuse_for_inference(model, o.fuse);
  if (!(dnn || (engine == "auto" && device.is_cpu() && fuse == FuseMode::kFull)))
    return std::make_unique<LibtorchEngine>(std::move(model), device, o.fuse);
  DnnGraph graph = build_dnn_graph(model);
  model = YoloNAS(nullptr);  // the weights now live in the graph
  if (engine == "bf16") return OnednnEngine::bf16(std::move(graph));
  if (engine != "int8") return std::make_unique<OnednnEngine>(std::move(graph));
  if (quantize) {
    std::string note;
    DnnInt8 plan = quantize(graph, note);
    return std::make_unique<OnednnEngine>(std::move(graph), std::move(plan), note);
  }
  size_t used = 0;
  DnnInt8 plan = calibrate_int8(graph, meta.preprocessing, o.calibration_images, 32, &used);
  return std::make_unique<OnednnEngine>(std::move(graph), std::move(plan),
                                        "calibrated on " + std::to_string(used) + " images");
}

}  // namespace yolonas
