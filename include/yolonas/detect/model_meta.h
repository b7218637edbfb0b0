// What a yolonas checkpoint says about its model (stored as the "yolonas_meta" JSON entry, like
// GGUF metadata): architecture, class names, input size and preprocessing, default thresholds.
#pragma once
#include <string>
#include <vector>

#include "yolonas/detect/arch_params.h"
#include "yolonas/detect/preprocess.h"

namespace yolonas {

struct ModelMeta {
  std::string model_name = "yolo_nas_s";
  ArchParams arch;
  std::vector<std::string> names;
  PreprocessParams preprocessing;
  float conf = 0.25f;
  float iou = 0.7f;

  std::string to_json() const;
  // Throws yolonas::Error naming `origin` and the field on a malformed document.
  static ModelMeta from_json(const std::string& text, const std::string& origin);
};

// COCO names for 80 classes, otherwise "class0", "class1", ...
std::vector<std::string> default_names(int num_classes);

}  // namespace yolonas
