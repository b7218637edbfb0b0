// What POST /v1/detect accepts and answers, as plain functions (no HTTP library here, so the tests
// call them directly).
//
// Body, one of:
//   - the image bytes (Content-Type image/*, application/octet-stream, or none);
//   - multipart/form-data with the image in a file field (named "image", else the first file);
//   - JSON {"image": "<base64>" or "data:image/...;base64,<...>", "conf": 0.3, ...}.
// Options, from the query string (?conf=0.3&iou=0.6&classes=0,2&max_det=50&agnostic=true), or from
// form fields or JSON keys of the same names: conf, iou, classes (ids or names), max_det, agnostic.
#pragma once
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "yolonas/detect/pipeline.h"

namespace yolonas::serve {

// A request the server refuses: the HTTP status (400, 413, 415) and a message for the JSON error.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& msg) : std::runtime_error(msg), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct DetectRequest {
  cv::Mat image;  // decoded, 8-bit BGR
  NmsParams nms;
};

struct RawRequest {
  std::string content_type;                    // as sent ("" when absent)
  const std::string* body = nullptr;           // raw body (not multipart)
  std::map<std::string, std::string> query;    // query parameters
  std::map<std::string, std::string> fields;   // multipart text fields
  std::map<std::string, std::string> files;    // multipart file fields: name -> bytes (first file first)
  std::string first_file;                      // name of the first file field, "" when none
};

// Decodes and validates a request. `defaults`: the model's NMS defaults; `names`: its classes (for
// classes=dog,person and id checks); `pp`: its preprocessing (images it cannot letterbox are refused);
// max_pixels: PNG and JPEG images whose header declares more pixels are refused (413) before they
// are decoded (a decompression bomb); 0 = no limit. Throws RequestError.
DetectRequest parse_detect_request(const RawRequest& raw, const NmsParams& defaults,
                                   const std::vector<std::string>& names, const PreprocessParams& pp,
                                   double max_pixels = 64e6);

// Width and height from a PNG or JPEG header without decoding; false for other formats.
bool image_size_from_header(const std::string& bytes, int* width, int* height);

// RFC 4648 base64 (whitespace ignored, padding optional). Throws RequestError(400) on bad input.
std::string decode_base64(const std::string& text);

// The JSON answer: {"model", "image": {"width", "height"}, "detections": [{"class_id", "name",
// "score", "box": [x1, y1, x2, y2]}], "batch_size", "timings_ms": {"queue", "preprocess",
// "inference", "postprocess", "total"}}; boxes in original-image pixels, clipped to the image.
struct Timings {
  double queue = 0, preprocess = 0, inference = 0, postprocess = 0, total = 0;
};
std::string detections_json(const ImageResult& r, const std::vector<std::string>& names, const std::string& model,
                            int batch_size, const Timings& t);

std::string error_json(int status, const std::string& message);

}  // namespace yolonas::serve
