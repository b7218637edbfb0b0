// The library API: load a YOLO-NAS model (built-in variant, SG checkpoint or our checkpoint) and
// detect objects in OpenCV images. No LibTorch types in this header.
//
//   yolonas::DetectorOptions o; o.model = "yolo_nas_s"; o.weights = "yolo_nas_s_coco.pth";
//   auto det = yolonas::Detector::load(o);
//   auto r = det.predict(cv::imread("dog.jpg"));          // r.detections in original pixels
#pragma once
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "yolonas/detect/arch_params.h"
#include "yolonas/model/model_source.h"
#include "yolonas/detect/postprocess.h"
#include "yolonas/detect/preprocess.h"

namespace yolonas {

// Model source (model, weights, random_init, prefer_ema, imgsz, num_classes: model/model_source.h)
// plus how to run it.
struct DetectorOptions : ModelSource {
  std::string fuse = "full";         // "none" | "partial" (SG predict) | "full" (+ Conv/BN folding, fastest)
  int threads = 0;                   // 0 = all cores
  std::string device = "cpu";        // cpu | cuda | cuda:N | N (a CUDA LibTorch build is needed for a GPU)
  // libtorch | onednn (the fully fused model on oneDNN primitives, CPU only) | int8 (the same,
  // quantized after calibration on calibration_images) | auto: onednn on the CPU with fuse=full,
  // libtorch otherwise.
  std::string engine = "auto";
  std::vector<std::string> calibration_images;  // int8: images like the ones to detect on (up to 32 used)
};

struct ImageResult {
  std::vector<Detection> detections;  // original-image pixels, descending score
  Letterbox letterbox;
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;  // per image (batch time / batch size)
};

class Detector {
 public:
  static Detector load(const DetectorOptions& options);
  Detector(Detector&&) noexcept;
  Detector& operator=(Detector&&) noexcept;
  ~Detector();

  ImageResult predict(const cv::Mat& bgr, const NmsParams& nms = NmsParams::predict_defaults());
  std::vector<ImageResult> predict(const std::vector<cv::Mat>& bgr_images,
                                   const NmsParams& nms = NmsParams::predict_defaults());

  const std::vector<std::string>& names() const;
  const ArchParams& arch() const;
  const PreprocessParams& preprocessing() const;
  // SG predict() defaults with the conf and iou the checkpoint's metadata records (0.25 / 0.7 when
  // it records none): what `yolonas predict` uses unless conf= or iou= is given.
  NmsParams default_nms() const;
  // One line: "yolo_nas_s (80 classes, 640x640, partial fusion) from weights.pth [ema_net]".
  std::string describe() const;

  struct Impl;
 private:
  explicit Detector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolonas
