// Preprocessing: the one description of how an image becomes the network's input, as small steps
// that every user composes the same way (the Detector, training-time validation, the loader's
// validation path, INT8 calibration; export records the description in the model's metadata).
//
//   read_image         decode a file (EXIF orientation applied or ignored, see below)
//   fit_within         the resize plan: scale = min(max_h/h, max_w/w), sizes rounded by a Rounding
//   compute_letterbox  fit_within + where the padding goes (centre or bottom-right)
//   resize_image       INTER_LINEAR to the planned size (no-op when unchanged)
//   pad_image          place the resized image on a canvas of the input size, filled with pad_value
//   write_chw          channel order (RGB or BGR) + normalization (x * scale, as SG: v / 255 in
//                      float64, then float32) + HWC -> CHW floats
//   letterbox_image    to_bgr8 + compute_letterbox + resize_image + pad_image (8-bit result)
//   preprocess_image   letterbox_image + write_chw
//
// SuperGradients has two pipelines, and they differ; each of ours keeps SG's behaviour where SG has
// one, and this table is the one place that says so:
//
//   step              SG predict()              SG datasets (train / val)        yolonas
//   decode            PIL: EXIF orientation     cv2.imread: EXIF orientation     predict: ignored (as SG predict);
//                     ignored                   applied                          val, training-time validation,
//                                                                                training, calibration: applied
//                                                                                (as SG datasets: labels are
//                                                                                drawn on the turned image)
//   resize rounding   round() (banker's)        int() (truncation)               model input (predict, val,
//                                                                                training-time validation,
//                                                                                calibration): round; augmentation
//                                                                                (mosaic, rescale, mixup): int()
//   rescale target    636 of 640 (COCO)         COCO val 636, fine-tuning 640    the model's metadata (636/640)
//   padding           centre, 114               COCO val centre; fine-tuning     the model's metadata (centre,
//                                               val and training bottom-right    114); training: bottom-right
//
// Training-time validation therefore feeds the model exactly what `predict` and `yolonas val` feed
// it (a test checks the tensors are equal), so the mAP printed during training is the mAP that
// `yolonas val metric=sg` prints for the same weights. The cost of not following SG's int() in
// validation is measured by a test (tests/test_eval.cpp, RoundingEffectOnMapIsSmall).
#pragma once
#include <opencv2/core.hpp>
#include <string>

namespace yolonas {

// How a scaled size becomes whole pixels.
enum class Rounding {
  Python,    // Python 3 round(): half to even (SG predict's DetectionLongestMaxSizeRescale)
  Truncate,  // Python int() on a positive value, at least 1 (SG DetectionDataset._load_resized_img)
};
const char* rounding_name(Rounding r);  // "round" | "int" (as written in model metadata)

struct PreprocessParams {
  int input_h = 640, input_w = 640;      // network input, multiples of 32
  int rescale_h = 636, rescale_w = 636;  // the image is fitted within this (longest-side rescale)
  Rounding rounding = Rounding::Python;
  int pad_value = 114;
  bool center_pad = true;                // false: bottom-right padding (SG's training/val PaddedRescale)
  bool rgb = true;                       // model expects RGB (COCO YOLO-NAS); false: BGR
  double scale = 1.0 / 255.0;

  // SG's COCO default for imgsz (640 -> rescale 636; other sizes keep the same 636/640 ratio, floored).
  static PreprocessParams for_imgsz(int h, int w);
  // SG's DetectionPaddedRescale (fine-tuning recipe validation): fitted within the input itself with
  // int() truncation, bottom-right padding with 114, BGR (the recipe never swaps channels).
  static PreprocessParams padded_rescale(int h, int w);
  std::string describe() const;  // "longest side 636 (round), centre pad 640x640 with 114, RGB, /255"
};

// How a decoded file is oriented.
enum class Orientation {
  AsStored,   // pixels as stored (PIL, SG predict(): EXIF orientation ignored)
  ApplyExif,  // rotated as the EXIF orientation says (cv2.imread, SG datasets)
};

// Decodes an image file as 8-bit BGR. Returns an empty Mat when the file cannot be read: not a
// regular file (a FIFO would block), missing, or not an image OpenCV decodes. OpenCV's decoder gives
// PIL's exact pixels for baseline JPEGs (checked on the golden image).
cv::Mat read_image(const std::string& path, Orientation orientation);

// A resize plan: scale = min(max_h / h, max_w / w) (float64, as Python), new size = h * scale and
// w * scale rounded as `rounding` says; a scale of exactly 1 keeps the size.
struct ResizePlan {
  double scale = 1.0;
  int new_h = 0, new_w = 0;
};
ResizePlan fit_within(int h, int w, int max_h, int max_w, Rounding rounding);
// One scaled size: round(size * scale) or max(1, int(size * scale)).
int scaled_size(int size, double scale, Rounding rounding);

// Where the resized image sits in the network input.
struct Letterbox {
  double scale = 1.0;               // s = min(rescale_h/h, rescale_w/w)
  int src_h = 0, src_w = 0;         // original image
  int new_h = 0, new_w = 0;         // after resize
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

// Computes the letterbox geometry for an h x w image. Throws when the image is empty, rescales to
// nothing, or does not fit the input.
Letterbox compute_letterbox(int h, int w, const PreprocessParams& p);

// 8-bit gray, BGR or BGRA -> 8-bit BGR (gray replicated, alpha dropped, as PIL's convert("RGB")).
cv::Mat to_bgr8(const cv::Mat& image);
// INTER_LINEAR resize to new_h x new_w; returns `bgr` itself when the size is unchanged.
cv::Mat resize_image(const cv::Mat& bgr, int new_h, int new_w);
// The resized image (lb.new_h x lb.new_w) on a canvas of the full input size filled with pad_value.
cv::Mat pad_image(const cv::Mat& resized, const Letterbox& lb, int pad_value);
// HWC 8-bit BGR -> CHW floats (v * scale, computed as v / (1/scale) in float64 like SG's
// StandardizeImage), channels in RGB order when `rgb`. Writes 3 * rows * cols floats.
void write_chw(const cv::Mat& bgr8, bool rgb, double scale, float* chw_out);

// The padded 8-bit network input (BGR) of an image, and its geometry.
cv::Mat letterbox_image(const cv::Mat& image, const PreprocessParams& p, Letterbox* letterbox);

// `image` is 8-bit BGR (cv::imread) or 8-bit gray / BGRA (converted). Writes 3*input_h*input_w floats
// in CHW order to `chw_out`. Returns the geometry used.
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
