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

#include "yolonas/api/quantize.h"
#include "yolonas/detect/arch_params.h"
#include "yolonas/detect/model_meta.h"
#include "yolonas/detect/pipeline.h"
#include "yolonas/model/model_source.h"

namespace yolonas {

// Where the model comes from (ModelSource: model, weights, random_init, prefer_ema, imgsz,
// num_classes) and how it runs (EngineOptions: engine, fuse, device, calibration_images), both in
// model/model_source.h, plus the thread count.
struct DetectorOptions : ModelSource, EngineOptions {
  int threads = 0;  // 0 = all cores
  // engine=int8: calibration method and selective INT8 (api/quantize.h). quantize_eval: labelled
  // images the selection measures mAP on (else the output error on the calibration images).
  QuantizeOptions quantize;
  std::shared_ptr<const EvalSet> quantize_eval;
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

  const ModelMeta& meta() const;
  const std::vector<std::string>& names() const;
  const ArchParams& arch() const;
  const PreprocessParams& preprocessing() const;
  // The engine the detector runs (for evaluate(), eval/evaluator.h, and benchmarks).
  InferenceEngine& engine();
  // SG predict() defaults with the conf and iou the checkpoint's metadata records (0.25 / 0.7 when
  // it records none): what `yolonas predict` uses unless conf= or iou= is given.
  NmsParams default_nms() const;
  // One line: "yolo_nas_s (80 classes, 640x640, oneDNN FP32, 2 threads) from weights.pth [ema_net]".
  std::string describe() const;
  // engine=int8: how it was quantized (the calibration, and the scan when selective).
  const QuantizeReport* quantize_report() const;

  struct Impl;
 private:
  explicit Detector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolonas
