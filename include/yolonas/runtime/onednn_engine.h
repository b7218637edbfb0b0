// The oneDNN runtime as an InferenceEngine (detect/pipeline.h): one graph, FP32 or INT8, with one
// OnednnNet per input shape met (a last, smaller batch gets its own), built on first use with the
// thread count then in effect. run() is safe to call from several threads at once (each concurrent
// run of a net gets its own execution context; see onednn_net.h).
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "yolonas/detect/pipeline.h"
#include "yolonas/runtime/dnn_graph.h"
#include "yolonas/runtime/int8.h"
#include "yolonas/runtime/onednn_net.h"

namespace yolonas {

class OnednnEngine : public InferenceEngine {
 public:
  // int8: a plan for `graph` (runtime/int8.h), or none for FP32; int8_note says how it was made
  // ("calibrated on 32 images"), for describe().
  explicit OnednnEngine(DnnGraph graph, std::optional<DnnInt8> int8 = std::nullopt, std::string int8_note = "");
  // bfloat16 execution of an FP32 graph (throws on a CPU without AVX512-BF16).
  static std::unique_ptr<OnednnEngine> bf16(DnnGraph graph);

  void run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
           std::vector<float>& scores) override;
  int num_classes() const override { return graph_.num_classes; }
  std::string describe() const override;

  // The net for one input shape (built on first use).
  OnednnNet& net(int batch, int height, int width);
  const DnnGraph& graph() const { return graph_; }
  bool int8() const { return int8_ != nullptr; }
  bool is_bf16() const { return bf16_; }
  const DnnInt8* int8_plan() const { return int8_.get(); }
  const std::string& int8_note() const { return int8_note_; }

 private:
  DnnGraph graph_;
  std::unique_ptr<DnnInt8> int8_;
  std::string int8_note_;
  bool bf16_ = false;
  std::mutex nets_m_;
  std::vector<std::unique_ptr<OnednnNet>> nets_;
};

}  // namespace yolonas
