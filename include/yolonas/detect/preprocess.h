// SuperGradients' predict() preprocessing for YOLO-NAS, on OpenCV images:
//   longest side -> rescale (636 for a 640 input; Python banker's rounding of h*s, w*s; INTER_LINEAR),
//   centre pad to the input size with 114, /255 (float64 then float32), HWC -> CHW, RGB by default.
// Also the inverse mapping of boxes back to original-image pixels.
#pragma once
#include <opencv2/core.hpp>
#include <string>

namespace yolonas {

struct PreprocessParams {
  int input_h = 640, input_w = 640;      // network input, multiples of 32
  int rescale_h = 636, rescale_w = 636;  // DetectionLongestMaxSizeRescale target
  int pad_value = 114;
  bool center_pad = true;                // false: bottom-right padding (SG's training/val PaddedRescale)
  bool rgb = true;                       // model expects RGB (COCO YOLO-NAS); false: BGR
  double scale = 1.0 / 255.0;

  // SG's COCO default for imgsz (640 -> rescale 636; other sizes keep the same 636/640 ratio, floored).
  static PreprocessParams for_imgsz(int h, int w);
  std::string describe() const;  // "longest side 636, centre pad 640x640 with 114, RGB, /255"
};

// Where the resized image sits in the network input.
struct Letterbox {
  double scale = 1.0;               // s = min(rescale_h/h, rescale_w/w)
  int src_h = 0, src_w = 0;         // original image
  int new_h = 0, new_w = 0;         // after resize
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

// Computes the letterbox geometry for an h x w image.
Letterbox compute_letterbox(int h, int w, const PreprocessParams& p);

// `image` is 8-bit BGR (cv::imread) or 8-bit gray / BGRA (converted). Writes 3*input_h*input_w floats
// in CHW order to `chw_out`. Returns the geometry used. To match SG's predict(), which loads with PIL and
// so ignores EXIF orientation, read files with cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION (OpenCV's
// decoder then gives PIL's exact pixels for baseline JPEGs; checked on the test images).
Letterbox preprocess_image(const cv::Mat& image, const PreprocessParams& p, float* chw_out);

// Maps a point from network-input pixels back to original-image pixels, with SG's float32 arithmetic:
// DetectionCenterPadding adds -pad to the float32 boxes (float32 result), then
// DetectionLongestMaxSizeRescale multiplies them by np.float32(1 / scale) (_rescale_bboxes), so the result
// is fl32(fl32(v - pad) * fl32(1/s)), not a division by s.
inline float unletterbox_scale_f32(const Letterbox& lb) { return static_cast<float>(1.0 / lb.scale); }
inline float unletterbox_x(float x, const Letterbox& lb) {
  return (x - static_cast<float>(lb.pad_left)) * unletterbox_scale_f32(lb);
}
inline float unletterbox_y(float y, const Letterbox& lb) {
  return (y - static_cast<float>(lb.pad_top)) * unletterbox_scale_f32(lb);
}

}  // namespace yolonas
