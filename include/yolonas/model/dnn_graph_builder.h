// LibTorch YoloNAS (fully fused: fuse_for_inference(model, "full")) -> DnnGraph for the oneDNN
// runtime. Throws yolonas::Error naming the module when the model is not fully fused.
#pragma once
#include "yolonas/runtime/dnn_graph.h"
#include "yolonas/model/model.h"

namespace yolonas {

DnnGraph build_dnn_graph(YoloNAS& model);

}  // namespace yolonas
