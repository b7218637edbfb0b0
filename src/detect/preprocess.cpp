// SuperGradients' predict() preprocessing (default_yolo_nas_coco_processing_params), step by step:
//   DetectionLongestMaxSizeRescale -> DetectionCenterPadding -> StandardizeImage -> ImagePermute.
// Each step mirrors the numpy/OpenCV operation SG performs so that the float input is bit-identical.
#include "yolonas/detect/preprocess.h"

#include <opencv2/imgproc.hpp>

#include <array>
#include <cmath>
#include <sstream>

#include "yolonas/core/error.h"

namespace yolonas {
namespace {

// Python 3 round(): round half to even. `v` is h*s computed in double exactly as Python does.
int python_round(double v) {
  const double fl = std::floor(v);
  const double diff = v - fl;
  if (diff < 0.5) return static_cast<int>(fl);
  if (diff > 0.5) return static_cast<int>(fl) + 1;
  return (static_cast<long long>(fl) % 2 == 0) ? static_cast<int>(fl) : static_cast<int>(fl) + 1;
}

// StandardizeImage computes `image / max_value` in float64 and casts to float32. Dividing (rather than
// multiplying by a rounded 1/255) matters for the last bit, so recover the divisor from `scale`.
std::array<float, 256> standardize_lut(double scale) {
  double max_value = 1.0 / scale;
  const double nearest_int = std::round(max_value);
  if (std::abs(max_value - nearest_int) <= 1e-9 * std::abs(max_value)) max_value = nearest_int;
  std::array<float, 256> lut{};
  for (int v = 0; v < 256; ++v) lut[v] = static_cast<float>(static_cast<double>(v) / max_value);
  return lut;
}

// SG works on an RGB uint8 array; OpenCV gives BGR. Channel order does not affect resizing (each channel
// is interpolated on its own), so normalise to 3-channel BGR here and pick channels when writing CHW.
cv::Mat to_bgr8(const cv::Mat& image) {
  if (image.empty()) throw Error("preprocess: empty image");
  if (image.depth() != CV_8U)
    throw Error("preprocess: expected an 8-bit image, got OpenCV depth " + std::to_string(image.depth()));
  cv::Mat bgr;
  switch (image.channels()) {
    case 1: cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR); break;   // PIL convert("RGB") replicates L
    case 3: bgr = image; break;
    case 4: cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR); break;   // PIL convert("RGB") drops alpha
    default:
      throw Error("preprocess: unsupported channel count " + std::to_string(image.channels()) +
                  " (expected 1, 3 or 4)");
  }
  return bgr;
}

}  // namespace

PreprocessParams PreprocessParams::for_imgsz(int h, int w) {
  PreprocessParams p;
  p.input_h = h;
  p.input_w = w;
  // SG's COCO default keeps a 2-pixel border per side at 640 (636/640); integer division floors.
  p.rescale_h = h * 636 / 640;
  p.rescale_w = w * 636 / 640;
  return p;
}

std::string PreprocessParams::describe() const {
  std::ostringstream s;
  if (rescale_h == rescale_w) s << "longest side " << rescale_h;
  else s << "fit within " << rescale_h << "x" << rescale_w;
  s << ", " << (center_pad ? "centre" : "bottom-right") << " pad " << input_h << "x" << input_w << " with "
    << pad_value << ", " << (rgb ? "RGB" : "BGR") << ", ";
  const double max_value = 1.0 / scale;
  if (std::abs(max_value - std::round(max_value)) <= 1e-9 * std::abs(max_value)) s << "/" << std::round(max_value);
  else s << "x" << scale;
  return s.str();
}

Letterbox compute_letterbox(int h, int w, const PreprocessParams& p) {
  if (h <= 0 || w <= 0) throw Error("preprocess: empty image (" + std::to_string(h) + "x" + std::to_string(w) + ")");
  if (p.rescale_h <= 0 || p.rescale_w <= 0 || p.input_h <= 0 || p.input_w <= 0)
    throw Error("preprocess: sizes must be positive (" + p.describe() + ")");
  Letterbox lb;
  lb.src_h = h;
  lb.src_w = w;
  // Python: min(out_h / h, out_w / w) in float64; a scale of exactly 1 skips the resize.
  lb.scale = std::min(static_cast<double>(p.rescale_h) / h, static_cast<double>(p.rescale_w) / w);
  if (lb.scale != 1.0) {
    lb.new_h = python_round(h * lb.scale);
    lb.new_w = python_round(w * lb.scale);
  } else {
    lb.new_h = h;
    lb.new_w = w;
  }
  if (lb.new_h > p.input_h || lb.new_w > p.input_w)
    throw Error("preprocess: resized image " + std::to_string(lb.new_h) + "x" + std::to_string(lb.new_w) +
                " does not fit the network input " + std::to_string(p.input_h) + "x" + std::to_string(p.input_w) +
                " (rescale target larger than the input?)");
  if (lb.new_h <= 0 || lb.new_w <= 0)
    throw Error("preprocess: image " + std::to_string(h) + "x" + std::to_string(w) + " rescales to nothing");
  const int pad_h = p.input_h - lb.new_h;
  const int pad_w = p.input_w - lb.new_w;
  if (p.center_pad) {
    lb.pad_top = pad_h / 2;  // non-negative, so '/' is Python's '//'
    lb.pad_left = pad_w / 2;
  }
  lb.pad_bottom = pad_h - lb.pad_top;
  lb.pad_right = pad_w - lb.pad_left;
  return lb;
}

Letterbox preprocess_image(const cv::Mat& image, const PreprocessParams& p, float* chw_out) {
  if (p.pad_value < 0 || p.pad_value > 255) throw Error("preprocess: pad value must be 0..255");
  const cv::Mat bgr = to_bgr8(image);
  const Letterbox lb = compute_letterbox(bgr.rows, bgr.cols, p);

  cv::Mat resized = bgr;
  if (lb.scale != 1.0) cv::resize(bgr, resized, cv::Size(lb.new_w, lb.new_h), 0.0, 0.0, cv::INTER_LINEAR);

  const std::array<float, 256> lut = standardize_lut(p.scale);
  const size_t plane = static_cast<size_t>(p.input_h) * p.input_w;
  std::fill(chw_out, chw_out + 3 * plane, lut[p.pad_value]);

  for (int c = 0; c < 3; ++c) {
    const int src_c = p.rgb ? 2 - c : c;  // BGR source
    float* out_plane = chw_out + c * plane;
    for (int y = 0; y < lb.new_h; ++y) {
      const uint8_t* row = resized.ptr<uint8_t>(y);
      float* out = out_plane + static_cast<size_t>(y + lb.pad_top) * p.input_w + lb.pad_left;
      for (int x = 0; x < lb.new_w; ++x) out[x] = lut[row[3 * x + src_c]];
    }
  }
  return lb;
}

}  // namespace yolonas
