// The deployable detector: a model file (model_file.h) on the oneDNN runtime, with no LibTorch.
// This header, the runtime library (libyolonas_rt.so) and a .ynas file are all a C++ application
// needs (C: c_api.h):
//
//   auto det = yolonas::rt::Detector::load("model.ynas");
//   yolonas::ImageResult r = det.predict(cv::imread("dog.jpg"));   // r.detections in original pixels
//   for (const auto& d : r.detections) printf("%s %.2f\n", det.names()[d.cls].c_str(), d.score);
//
// predict() may be called from several threads at once on one Detector: the engine gives each
// concurrent run its own execution context (activations), and shares the weights.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "yolonas/detect/model_meta.h"
#include "yolonas/detect/pipeline.h"

namespace yolonas::rt {

class Detector {
 public:
  // threads: the OpenMP threads oneDNN uses (0 = all cores; set for the whole process).
  // bf16: run an FP32 model file in bfloat16 (CPUs with AVX512-BF16; refused with a message elsewhere).
  static Detector load(const std::string& model_file, int threads = 0, bool bf16 = false);
  Detector(Detector&&) noexcept;
  Detector& operator=(Detector&&) noexcept;
  ~Detector();

  // 8-bit BGR (cv::imread), gray or BGRA images. nms: default_nms() when not given.
  ImageResult predict(const cv::Mat& image) const;
  ImageResult predict(const cv::Mat& image, const NmsParams& nms) const;
  std::vector<ImageResult> predict(const std::vector<cv::Mat>& images, const NmsParams& nms) const;

  // SG predict() defaults with the conf and iou the model file records.
  NmsParams default_nms() const;
  const std::vector<std::string>& names() const;
  const PreprocessParams& preprocessing() const;
  const DetectionInfo& info() const;
  bool int8() const;
  InferenceEngine& engine() const;
  // "yolo_nas_s (80 classes, 640x640, oneDNN INT8 (calibrated on 32 images), 2 threads) from model.ynas"
  std::string describe() const;

 private:
  struct Impl;
  explicit Detector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sets the OpenMP thread count oneDNN uses (0 = all cores); returns the count in effect.
int set_runtime_threads(int threads);

}  // namespace yolonas::rt
