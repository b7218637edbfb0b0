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

// INT8 post-training quantization of a DnnGraph: per-buffer scales from the value ranges seen on
// calibration images. Activations are u8 (ranges >= 0, e.g. after ReLU) or s8, one scale per tensor,
// shared by the inputs and output of a concat or max-pool (so those stay plain copies); weights are
// s8 with one scale per output channel; biases are folded into the s32 accumulator; the head's
// last convolutions write f32 for the decode.
struct DnnRanges {
  std::vector<float> lo, hi;  // per buffer id
};
struct DnnInt8 {
  std::vector<float> mult;            // per buffer: quantized = round(x * mult)
  std::vector<uint8_t> is_unsigned;   // per buffer: u8 (1) or s8 (0)
  std::vector<uint8_t> is_f32;        // per buffer: left in FP32 (a convolution reading it runs FP32)
};
// float_heads: the detection heads (after their first convolution) stay FP32, the box regression
// being the part most sensitive to rounding.
DnnInt8 plan_int8(const DnnGraph& graph, const DnnRanges& ranges, bool float_heads = true);

// Per-output-channel s8 weights of a convolution (wmult[oc] = 127 / max |w[oc]|, q = round(w *
// wmult), clamped to [-127, 127]) in the op's own layout (OIHW, or IOHW for a transposed one).
std::vector<int8_t> quantize_weights(const DnnOp& op, std::vector<float>& wmult);

// Whether `op` runs quantized under `plan` (a convolution whose input buffer is quantized).
bool runs_int8(const DnnOp& op, const DnnInt8& plan);

// Value ranges of every buffer over `images` (each 1 x C x H x W floats, NCHW, preprocessed as for
// inference), from an FP32 run.
DnnRanges calibrate_ranges(const DnnGraph& graph, int height, int width, const std::vector<const float*>& images);

// Reads up to max_images of `image_paths` (evenly spread over the list; EXIF orientation applied, as
// dataset images), preprocesses them with `pp`, calibrates and plans. Throws naming an image that
// cannot be read. `used` receives the number of images calibrated on.
DnnInt8 calibrate_int8(const DnnGraph& graph, const PreprocessParams& pp, const std::vector<std::string>& image_paths,
                       size_t max_images = 32, size_t* used = nullptr);

}  // namespace yolonas
