// What a model says about itself (stored as the "yolonas_meta" JSON entry of checkpoints and model
// files, like GGUF metadata): class names, input size and preprocessing, default thresholds
// (DetectionInfo: all that running it needs), and its architecture (ModelMeta).
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "yolonas/detect/arch_params.h"
#include "yolonas/detect/preprocess.h"

namespace yolonas {

struct DetectionInfo {
  std::string model_name = "yolo_nas_s";
  std::vector<std::string> names;
  PreprocessParams preprocessing;
  float conf = 0.25f;
  float iou = 0.7f;

  // Reads the fields of a yolonas_meta document other than "arch" (nlohmann only: the runtime
  // library uses it without yaml-cpp). Names default to default_names(num_classes) and must number
  // num_classes. Throws yolonas::Error naming `origin` and the field on a malformed document.
  static DetectionInfo from_json(const std::string& text, const std::string& origin, int num_classes);
  // Adds these fields to a yolonas_meta document.
  void write_json(nlohmann::json& j) const;
};

struct ModelMeta : DetectionInfo {
  ArchParams arch;

  std::string to_json() const;
  // Throws yolonas::Error naming `origin` and the field on a malformed document.
  static ModelMeta from_json(const std::string& text, const std::string& origin);
};

// COCO names for 80 classes, otherwise "class0", "class1", ...
std::vector<std::string> default_names(int num_classes);

}  // namespace yolonas
