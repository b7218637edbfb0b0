// INT8 for a model: calibration (max, percentile or mse clipping, runtime/int8.h) and, optionally,
// selective INT8 from a measured sensitivity scan (SG's selective_quantize idea, measured instead of
// listed): each scale group (a layer's input, or the inputs and output of a concat) is quantized
// alone and its effect measured, then the most sensitive groups are kept in FP32 one by one until the
// loss is within a budget.
//
// The loss is the mAP50-95 drop against FP32 on labelled images (`eval`), or, without labels, an
// output error on the calibration images: per anchor that FP32 scores above 0.1, the change of its
// best class's score plus 1 - IoU of its box, averaged.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "yolonas/detect/model_meta.h"
#include "yolonas/eval/evaluator.h"
#include "yolonas/runtime/dnn_graph.h"
#include "yolonas/runtime/int8.h"

namespace yolonas {

struct QuantizeOptions {
  CalibMethod method = CalibMethod::Max;
  double percentile = 99.99;
  size_t max_calibration_images = 32;
  // The detection heads' convolutions after their first one: INT8 (false, the default: S@640 28 ms
  // instead of 36 here, no measured mAP loss) or FP32 (true, CLI int8_heads=false); the prediction
  // convolutions write FP32 for the decode either way.
  bool float_heads = false;
  bool selective = false;
  // Selective: the largest loss allowed: a mAP50-95 drop with `eval` (0.005 = half a point), else
  // the output error (0.02).
  double budget = -1;  // < 0: the default for the mode
  const EvalSet* eval = nullptr;
  size_t max_eval_images = 200;  // of `eval`, evenly spread (the scan evaluates once per group)
  size_t max_scan_images = 8;    // of the calibration images, for the output error
  int max_fp32_groups = 24;      // a cap on what selective INT8 gives back to FP32
  bool verbose = true;           // print the scan as it goes (stderr)
};

struct QuantizeScanRow {
  int group = 0;
  std::string layers;       // the convolutions reading the group: "backbone.stage2.downsample (+2)"
  double loss = 0;          // with only this group quantized
  bool fp32 = false;        // kept in FP32 by the selection
};

struct QuantizeReport {
  std::string method;              // "max", "percentile 99.99", "mse"
  size_t calibration_images = 0;
  std::string measure;             // "mAP50-95 drop on N images" | "output error on N images"
  double fp32_map = -1;            // with eval
  double all_int8_loss = 0;        // every group quantized
  double final_loss = 0;           // after the selection (= all_int8_loss without it)
  double budget = 0;
  std::vector<QuantizeScanRow> rows;  // the scanned groups, most sensitive first
  std::string table() const;          // the scan as a text table
  nlohmann::json to_json() const;     // stored in the model file
  std::string note() const;           // "mse calibration on 32 images; 3 of 87 groups kept FP32 (...)"
};

// Calibrates `graph` (FP32, fully fused) on the calibration images and plans INT8; with
// options.selective, scans and selects. `report` (optional) receives the measurements.
DnnInt8 quantize_graph(const DnnGraph& graph, const DetectionInfo& info, const std::vector<std::string>& calibration_images,
                       const QuantizeOptions& options, QuantizeReport* report = nullptr);

}  // namespace yolonas
