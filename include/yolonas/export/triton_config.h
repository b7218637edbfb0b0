// Triton Inference Server model configuration (config.pbtxt) for the ONNX export, so the exported
// model can be served by Triton's onnxruntime backend with its dynamic batcher:
//   <repository>/<name>/config.pbtxt, <repository>/<name>/1/model.onnx, <repository>/<name>/labels.txt
// Inputs and outputs are those of export_onnx without NMS: "images" [3, H, W] FP32 in,
// "boxes" [A, 4] and "scores" [A, C] FP32 out (Triton's dims leave out the batch dimension when
// max_batch_size > 0). NMS stays on the client (the [N, 7] NMS output has no batch dimension).
#pragma once
#include <string>

namespace yolonas {

struct TritonConfigOptions {
  std::string name;             // the model's folder name in the repository
  int height = 640, width = 640;
  int num_anchors = 8400;       // count_anchors(height, width, strides)
  int num_classes = 80;
  int max_batch_size = 8;       // the ONNX file must have a dynamic batch
  int max_queue_delay_us = 5000;
  int instances = 1;
  bool gpu = false;             // instance_group kind: KIND_GPU, else KIND_CPU
};

// The text of config.pbtxt (protobuf text format). Throws yolonas::Error on a bad name or size.
std::string triton_config(const TritonConfigOptions& o);

}  // namespace yolonas
