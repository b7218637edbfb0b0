// INT8 post-training quantization of a DnnGraph: calibration (activation ranges from FP32 runs on
// calibration images) and the plan the oneDNN runtime executes (onednn_net.h). Two small steps, as
// ncnn's quantize tools: calibrate_ranges() then plan_int8(); calibrate_int8() does both from files.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "yolonas/detect/preprocess.h"
#include "yolonas/runtime/dnn_graph.h"

namespace yolonas {

// INT8 post-training quantization of a DnnGraph: per-buffer scales from the values seen on
// calibration images. Activations are u8 (ranges >= 0, e.g. after ReLU) or s8, one scale per tensor,
// shared by the inputs and output of a concat or max-pool (a scale group: those stay plain copies);
// weights are s8 with one scale per output channel; biases are folded into the s32 accumulator; the
// head's last convolutions write f32 for the decode.
struct DnnRanges {
  std::vector<float> lo, hi;  // per buffer id
  // With histograms (calibrate_ranges(..., histograms=true)): per scale group, the counts of |x|
  // in kCalibBins equal bins over [0, group_absmax[g]] (scale_groups() numbers the groups).
  std::vector<float> group_absmax;
  std::vector<std::vector<double>> group_hist;
};
constexpr int kCalibBins = 2048;

struct DnnInt8 {
  std::vector<float> mult;            // per buffer: quantized = round(x * mult)
  std::vector<uint8_t> is_unsigned;   // per buffer: u8 (1) or s8 (0)
  std::vector<uint8_t> is_f32;        // per buffer: left in FP32 (a convolution reading it runs FP32);
                                      // always set for the heads' outputs (the decode's inputs)
};

// Scale groups: buffers that must share a scale (a concat's inputs and output, a max-pool's input and
// output) get the same id, 0..groups-1, numbered in order of their first buffer.
std::vector<int> scale_groups(const DnnGraph& graph);

// How an activation's clipping range comes from what calibration saw:
//   max         the largest |x| (nothing clipped; SG's max calibrator);
//   percentile  the p-th percentile of |x| (p = 99.99 by default): outliers clipped;
//   mse         the threshold minimizing the quantization error (rounding inside, clipping outside)
//               over the histogram, searched from 5% to 100% of the largest |x|.
enum class CalibMethod { Max, Percentile, Mse };
CalibMethod parse_calib_method(const std::string& name);  // "max" | "percentile" | "mse"
const char* calib_method_name(CalibMethod m);

struct Int8Options {
  CalibMethod method = CalibMethod::Max;
  double percentile = 99.99;
  // true: the detection heads after their first convolution stay FP32 (the cautious choice for the
  // box regression). The product quantizes them (QuantizeOptions, CLI int8_heads=true): measured, no
  // mAP loss and 36 -> 28 ms for S at 640. The prediction convolutions write FP32 either way.
  bool float_heads = true;
  // Scale groups kept in FP32 (selective INT8): convolutions reading them run in FP32.
  std::vector<int> fp32_groups;
};
DnnInt8 plan_int8(const DnnGraph& graph, const DnnRanges& ranges, const Int8Options& options);
DnnInt8 plan_int8(const DnnGraph& graph, const DnnRanges& ranges, bool float_heads = true);

// Per-output-channel s8 weights of a convolution (wmult[oc] = 127 / max |w[oc]|, q = round(w *
// wmult), clamped to [-127, 127]) in the op's own layout (OIHW, or IOHW for a transposed one).
std::vector<int8_t> quantize_weights(const DnnOp& op, std::vector<float>& wmult);

// Whether `op` runs quantized under `plan` (a convolution whose input buffer is quantized).
bool runs_int8(const DnnOp& op, const DnnInt8& plan);

// Value ranges of every buffer over `images` (each 1 x C x H x W floats, NCHW, preprocessed as for
// inference), from FP32 runs; with histograms, a second pass fills the per-group |x| histograms
// (needed by the percentile and mse methods).
DnnRanges calibrate_ranges(const DnnGraph& graph, int height, int width, const std::vector<const float*>& images,
                           bool histograms = false);

// Reads up to max_images of `image_paths` (evenly spread over the list; EXIF orientation applied, as
// dataset images), preprocesses them with `pp`, calibrates and plans. Throws naming an image that
// cannot be read. `used` receives the number of images calibrated on.
DnnInt8 calibrate_int8(const DnnGraph& graph, const PreprocessParams& pp, const std::vector<std::string>& image_paths,
                       size_t max_images = 32, size_t* used = nullptr, const Int8Options& options = {});

// Which of `paths` calibration reads: up to max_images of them, evenly spread over the list.
std::vector<std::string> calibration_subset(const std::vector<std::string>& paths, size_t max_images = 32);

// The calibration images of calibrate_int8(), read and preprocessed (calibration_subset()).
std::vector<std::vector<float>> read_calibration_images(const PreprocessParams& pp, const std::vector<std::string>& paths,
                                                        size_t max_images = 32);

}  // namespace yolonas
