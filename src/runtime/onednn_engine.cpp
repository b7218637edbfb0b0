#include "yolonas/runtime/onednn_engine.h"

#include "yolonas/core/error.h"

namespace yolonas {

OnednnEngine::OnednnEngine(DnnGraph graph, std::optional<DnnInt8> int8, std::string int8_note)
    : graph_(std::move(graph)), int8_note_(std::move(int8_note)) {
  if (int8) int8_ = std::make_unique<DnnInt8>(std::move(*int8));
}

std::unique_ptr<OnednnEngine> OnednnEngine::bf16(DnnGraph graph) {
  if (!cpu_has_bf16())
    throw Error("engine=bf16 needs a CPU with AVX512-BF16 (or AMX); this one runs oneDNN's " + cpu_isa_name() +
                " kernels: use engine=onednn (FP32) or engine=int8");
  for (const DnnOp& op : graph.ops)
    if (!op.qweights.empty()) throw Error("engine=bf16 needs FP32 weights; this is an INT8 model");
  auto e = std::make_unique<OnednnEngine>(std::move(graph));
  e->bf16_ = true;
  return e;
}

OnednnNet& OnednnEngine::net(int batch, int height, int width) {
  std::lock_guard<std::mutex> lk(nets_m_);  // nets are made under the lock, and never removed
  for (const auto& n : nets_)
    if (n->batch() == batch && n->height() == height && n->width() == width) return *n;
  OnednnNet::Options o;
  o.int8 = int8_.get();
  o.bf16 = bf16_;
  nets_.push_back(std::make_unique<OnednnNet>(graph_, batch, height, width, o));
  return *nets_.back();
}

void OnednnEngine::run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
                       std::vector<float>& scores) {
  net(batch, height, width).run(input, boxes, scores);
}

std::string OnednnEngine::describe() const {
  if (bf16_) return "oneDNN BF16";
  if (!int8_) return "oneDNN FP32";
  return "oneDNN INT8" + (int8_note_.empty() ? std::string() : " (" + int8_note_ + ")");
}

}  // namespace yolonas
