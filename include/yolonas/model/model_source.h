// Where a model comes from: a variant name, an arch-params file or a checkpoint, and its weights.
// No LibTorch here, so that the library API (api/detector.h) can expose it.
#pragma once
#include <string>

namespace yolonas {

struct ModelSource {
  // yolo_nas_s|m|l (or s|m|l), an arch-params .yaml/.json, or a checkpoint path. Empty: taken from
  // the weights' metadata (yolo_nas_s for SG files); empty with no weights: the built-in default model.
  std::string model = "yolo_nas_s";
  std::string weights;      // checkpoint path (SG .pth or ours); empty = none
  bool random_init = false; // explicit opt-in to run without weights
  bool prefer_ema = true;   // SG checkpoints: use ema_net when present
  int imgsz = 0;            // square network input; 0 = checkpoint's / 640
  int num_classes = 0;      // only for random_init / arch files without a checkpoint; 0 = arch's
};

}  // namespace yolonas
