// The C API (c_api.h) over yolonas::rt::Detector: exceptions become -1 / NULL and a message.
#include "yolonas/runtime/c_api.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>

#include <opencv2/core.hpp>

#include "yolonas/runtime/rt_detector.h"

struct yolonas_detector {
  yolonas::rt::Detector det;
  std::string description;
};

namespace {

void set_error(char* err, size_t size, const char* msg) {
  if (!err || size == 0) return;
  std::strncpy(err, msg, size - 1);
  err[size - 1] = '\0';
}

}  // namespace

extern "C" {

yolonas_detector* yolonas_load(const char* model_file, int threads, char* err, size_t err_size) {
  try {
    if (!model_file) throw std::invalid_argument("yolonas_load: model_file is NULL");
    auto* d = new yolonas_detector{yolonas::rt::Detector::load(model_file, threads), ""};
    d->description = d->det.describe();
    return d;
  } catch (const std::exception& e) {
    set_error(err, err_size, e.what());
    return nullptr;
  }
}

void yolonas_free(yolonas_detector* det) { delete det; }

int yolonas_detect(yolonas_detector* det, const uint8_t* pixels, int width, int height, int stride, int format,
                   float conf, float iou, yolonas_detection* out, int max_out, char* err, size_t err_size) {
  try {
    if (!det || !pixels) throw std::invalid_argument("yolonas_detect: detector or pixels is NULL");
    if (width <= 0 || height <= 0) throw std::invalid_argument("yolonas_detect: the image size must be positive");
    const int channels = format == YOLONAS_GRAY ? 1 : format == YOLONAS_BGRA ? 4 : 3;
    if (format < YOLONAS_BGR || format > YOLONAS_BGRA) throw std::invalid_argument("yolonas_detect: unknown pixel format");
    if (stride < width * channels) throw std::invalid_argument("yolonas_detect: stride is smaller than a row");
    if (max_out < 0 || (max_out > 0 && !out)) throw std::invalid_argument("yolonas_detect: bad output buffer");
    cv::Mat view(height, width, CV_8UC(channels), const_cast<uint8_t*>(pixels), static_cast<size_t>(stride));
    cv::Mat image = view;
    if (format == YOLONAS_RGB) {  // the pipeline reads BGR: swap the channels (a copy)
      image = cv::Mat(height, width, CV_8UC3);
      const int from_to[] = {0, 2, 1, 1, 2, 0};
      cv::mixChannels(&view, 1, &image, 1, from_to, 3);
    }
    yolonas::NmsParams nms = det->det.default_nms();
    if (conf >= 0) nms.conf = std::min(conf, 1.0f);
    if (iou >= 0) nms.iou = std::min(iou, 1.0f);
    const yolonas::ImageResult r = det->det.predict(image, nms);
    const int n = static_cast<int>(r.detections.size());
    for (int i = 0; i < std::min(n, max_out); ++i) {
      const yolonas::Detection& d = r.detections[static_cast<size_t>(i)];
      out[i] = {d.x1, d.y1, d.x2, d.y2, d.score, d.cls};
    }
    return n;
  } catch (const std::exception& e) {
    set_error(err, err_size, e.what());
    return -1;
  }
}

int yolonas_num_classes(const yolonas_detector* det) { return det ? static_cast<int>(det->det.names().size()) : 0; }

const char* yolonas_class_name(const yolonas_detector* det, int class_id) {
  if (!det || class_id < 0 || static_cast<size_t>(class_id) >= det->det.names().size()) return nullptr;
  return det->det.names()[static_cast<size_t>(class_id)].c_str();
}

int yolonas_input_width(const yolonas_detector* det) { return det ? det->det.preprocessing().input_w : 0; }
int yolonas_input_height(const yolonas_detector* det) { return det ? det->det.preprocessing().input_h : 0; }
const char* yolonas_describe(const yolonas_detector* det) { return det ? det->description.c_str() : ""; }

}  // extern "C"
