// ONNX export of a fully fused YOLO-NAS (dnn_graph.h): opset 13, standard operators only (Conv, Relu,
// ConvTranspose, MaxPool, Concat, Mul, Add, Reshape, Softmax, Transpose, Sigmoid), weights inside the
// file. The DFL decode is part of the graph, so the outputs are what YoloNAS::forward_decoded gives:
//   boxes  [batch, anchors, 4]            x1 y1 x2 y2 in network-input pixels
//   scores [batch, anchors, num_classes]  sigmoid
// for an input "images" [batch, 3, height, width] (height and width fixed at export; the batch is
// dynamic unless fixed). With nms, ONNX's NonMaxSuppression follows and the output is one
// "detections" [N, 7] tensor (options below). Written with our own protobuf encoder: no ONNX or
// protobuf library is needed.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "yolonas/runtime/dnn_graph.h"

namespace yolonas {

struct OnnxExportOptions {
  int height = 640, width = 640;
  int batch = 0;  // 0: dynamic ("batch")
  // half: the network computes in float16 (weights, activations, decode); input and outputs stay
  // float32 (cast inside the graph). For GPUs; CPU runtimes may lack float16 kernels.
  bool half = false;
  // nms: SG's PPYoloEPostPredictionCallback inside the graph (NonMaxSuppression per class); the
  // output is then "detections" [N, 7] (batch index, x1, y1, x2, y2, score, class; best first over
  // the batch) instead of boxes and scores. conf: score threshold (score > conf); iou: suppression
  // threshold (IoU > iou); top_k: candidates per image before NMS, its best (anchor, class) pairs, as
  // `predict`'s top_k; max_det: most rows per image after NMS.
  bool nms = false;
  float conf = 0.25f, iou = 0.7f;
  int top_k = 1024, max_det = 300;
  std::string producer_version;
  // Written as the model's metadata_props (class names, preprocessing, ...).
  std::vector<std::pair<std::string, std::string>> metadata;
};

// The serialized ModelProto. Throws yolonas::Error when the size is not a multiple of 32.
std::string export_onnx(const DnnGraph& graph, const OnnxExportOptions& options);

}  // namespace yolonas
