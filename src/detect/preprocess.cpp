// The preprocessing steps (preprocess.h). Each mirrors the numpy/OpenCV operation SG performs so
// that the float input is bit-identical to SG's predict() (golden tests).
#include "yolonas/detect/preprocess.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <array>
#include <cmath>
#include <sstream>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"

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

}  // namespace

const char* rounding_name(Rounding r) { return r == Rounding::Python ? "round" : "int"; }

PreprocessParams PreprocessParams::for_imgsz(int h, int w) {
  PreprocessParams p;
  p.input_h = h;
  p.input_w = w;
  // SG's COCO default keeps a 2-pixel border per side at 640 (636/640); integer division floors.
  p.rescale_h = h * 636 / 640;
  p.rescale_w = w * 636 / 640;
  return p;
}

PreprocessParams PreprocessParams::padded_rescale(int h, int w) {
  PreprocessParams p;
  p.input_h = p.rescale_h = h;
  p.input_w = p.rescale_w = w;
  p.rounding = Rounding::Truncate;
  p.center_pad = false;
  p.rgb = false;
  return p;
}

std::string PreprocessParams::describe() const {
  std::ostringstream s;
  if (rescale_h == rescale_w) s << "longest side " << rescale_h;
  else s << "fit within " << rescale_h << "x" << rescale_w;
  s << " (" << rounding_name(rounding) << "), " << (center_pad ? "centre" : "bottom-right") << " pad " << input_h
    << "x" << input_w << " with " << pad_value << ", " << (rgb ? "RGB" : "BGR") << ", ";
  const double max_value = 1.0 / scale;
  if (std::abs(max_value - std::round(max_value)) <= 1e-9 * std::abs(max_value)) s << "/" << std::round(max_value);
  else s << "x" << scale;
  return s.str();
}

cv::Mat read_image(const std::string& path, Orientation orientation) {
  if (!file_problem(path).empty()) return {};  // a FIFO or device would block imread
  const int flags = cv::IMREAD_COLOR | (orientation == Orientation::AsStored ? cv::IMREAD_IGNORE_ORIENTATION : 0);
  try {
    return cv::imread(path, flags);
  } catch (const cv::Exception&) {
    return {};
  }
}

int scaled_size(int size, double scale, Rounding rounding) {
  const double v = size * scale;
  return rounding == Rounding::Python ? python_round(v) : std::max(1, static_cast<int>(v));
}

ResizePlan fit_within(int h, int w, int max_h, int max_w, Rounding rounding) {
  ResizePlan plan;
  // Python: min(max_h / h, max_w / w) in float64; a scale of exactly 1 skips the resize.
  plan.scale = std::min(static_cast<double>(max_h) / h, static_cast<double>(max_w) / w);
  plan.new_h = plan.scale != 1.0 ? scaled_size(h, plan.scale, rounding) : h;
  plan.new_w = plan.scale != 1.0 ? scaled_size(w, plan.scale, rounding) : w;
  return plan;
}

Letterbox compute_letterbox(int h, int w, const PreprocessParams& p) {
  if (h <= 0 || w <= 0) throw Error("preprocess: empty image (" + std::to_string(h) + "x" + std::to_string(w) + ")");
  if (p.rescale_h <= 0 || p.rescale_w <= 0 || p.input_h <= 0 || p.input_w <= 0)
    throw Error("preprocess: sizes must be positive (" + p.describe() + ")");
  const ResizePlan plan = fit_within(h, w, p.rescale_h, p.rescale_w, p.rounding);
  Letterbox lb;
  lb.src_h = h;
  lb.src_w = w;
  lb.scale = plan.scale;
  lb.new_h = plan.new_h;
  lb.new_w = plan.new_w;
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

cv::Mat resize_image(const cv::Mat& bgr, int new_h, int new_w) {
  if (bgr.rows == new_h && bgr.cols == new_w) return bgr;
  cv::Mat out;
  cv::resize(bgr, out, cv::Size(new_w, new_h), 0.0, 0.0, cv::INTER_LINEAR);
  return out;
}

cv::Mat pad_image(const cv::Mat& resized, const Letterbox& lb, int pad_value) {
  if (pad_value < 0 || pad_value > 255) throw Error("preprocess: pad value must be 0..255");
  if (resized.rows != lb.new_h || resized.cols != lb.new_w)
    throw Error("preprocess: pad_image got " + std::to_string(resized.rows) + "x" + std::to_string(resized.cols) +
                ", planned " + std::to_string(lb.new_h) + "x" + std::to_string(lb.new_w));
  cv::Mat canvas(lb.new_h + lb.pad_top + lb.pad_bottom, lb.new_w + lb.pad_left + lb.pad_right, resized.type(),
                 cv::Scalar::all(pad_value));
  resized.copyTo(canvas(cv::Rect(lb.pad_left, lb.pad_top, lb.new_w, lb.new_h)));
  return canvas;
}

void write_chw(const cv::Mat& bgr8, bool rgb, double scale, float* chw_out) {
  if (bgr8.type() != CV_8UC3) throw Error("preprocess: write_chw needs an 8-bit 3-channel image");
  const std::array<float, 256> lut = standardize_lut(scale);
  const size_t plane = static_cast<size_t>(bgr8.rows) * bgr8.cols;
  const int src_c[3] = {rgb ? 2 : 0, 1, rgb ? 0 : 2};
  for (int y = 0; y < bgr8.rows; ++y) {
    const uint8_t* row = bgr8.ptr<uint8_t>(y);
    for (int c = 0; c < 3; ++c) {
      float* out = chw_out + c * plane + static_cast<size_t>(y) * bgr8.cols;
      for (int x = 0; x < bgr8.cols; ++x) out[x] = lut[row[3 * x + src_c[c]]];
    }
  }
}

cv::Mat letterbox_image(const cv::Mat& image, const PreprocessParams& p, Letterbox* letterbox) {
  const cv::Mat bgr = to_bgr8(image);
  const Letterbox lb = compute_letterbox(bgr.rows, bgr.cols, p);
  const cv::Mat padded = pad_image(resize_image(bgr, lb.new_h, lb.new_w), lb, p.pad_value);
  if (letterbox) *letterbox = lb;
  return padded;
}

Letterbox preprocess_image(const cv::Mat& image, const PreprocessParams& p, float* chw_out) {
  Letterbox lb;
  write_chw(letterbox_image(image, p, &lb), p.rgb, p.scale, chw_out);
  return lb;
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

}  // namespace yolonas
