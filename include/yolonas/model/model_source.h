// Where a model comes from (ModelSource) and how to run it (EngineOptions). No LibTorch here, so
// that the library API (api/detector.h) can expose them.
#pragma once
#include <string>
#include <vector>

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

struct EngineOptions {
  // libtorch | onednn (the fully fused model on oneDNN primitives, CPU only) | int8 (the same,
  // quantized after calibration on calibration_images) | bf16 (oneDNN in bfloat16, CPUs with
  // AVX512-BF16) | auto: onednn on the CPU with fuse=full, libtorch otherwise.
  std::string engine = "auto";
  std::string fuse = "full";         // "none" | "partial" (SG predict) | "full" (+ Conv/BN folding, fastest)
  std::string device = "cpu";        // cpu | cuda | cuda:N | N (a CUDA LibTorch build is needed for a GPU)
  std::vector<std::string> calibration_images;  // int8: images like the ones to detect on (up to 32 used)
  // Test-time augmentation (detect/tta.h): "none" (or "false"); "true": Ultralytics' three views (as is, 0.83
  // mirrored, 0.67) merged by the NMS, about 2.6x the inference time (2.1x the arithmetic); "flip":
  // the input and its mirror image, each anchor's scores and box averaged, about 2x.
  std::string augment = "none";
};

}  // namespace yolonas
