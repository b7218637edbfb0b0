// The DFL box decode of YOLO-NAS (NDFLHeads.forward, eval mode), in plain C++: what every engine
// turns the heads' raw outputs into.
//   per level (stride 8, 16, 32), per cell i of an h x w grid (row-major):
//     anchor   = (i % w + 0.5, i / w + 0.5)                       grid units
//     distance = sum_k k * softmax(reg[side, k])  for side = l, t, r, b, k = 0..reg_max
//     box      = ((ax - l) * stride, (ay - t) * stride, (ax + r) * stride, (ay + b) * stride)
//     scores   = sigmoid(cls)
// The LibTorch model computes the same with tensors (model/decode_torch.h, differentiable for the
// loss); the ONNX export writes it as graph nodes around anchor_point(). A test compares the three.
#pragma once
#include <vector>

namespace yolonas {

// Cell centre of anchor `index` on a grid `grid_w` cells wide, in grid units.
inline void anchor_point(int index, int grid_w, float& ax, float& ay) {
  ax = static_cast<float>(index % grid_w) + 0.5f;
  ay = static_cast<float>(index / grid_w) + 0.5f;
}

// Anchors of all levels for a height x width input: sum of (height / s) * (width / s).
int count_anchors(int height, int width, const std::vector<int>& strides);

// Decodes one image's level: `reg` holds 4 * bins planes of h * w values (channel = side * bins + k),
// `cls` num_classes planes. Writes h * w boxes (x1 y1 x2 y2, input pixels) to `boxes` and h * w
// rows of num_classes sigmoid scores to `scores`.
void decode_level(const float* reg, const float* cls, int h, int w, int stride, int bins, int num_classes,
                  float* boxes, float* scores);
// The same for cells [first, last) of the level only (boxes and scores still point at the level's
// first cell): lets a caller split a level over threads.
void decode_cells(const float* reg, const float* cls, int h, int w, int stride, int bins, int num_classes, int first,
                  int last, float* boxes, float* scores);
// decode_cells() on cell-major (NHWC) outputs: `reg` holds h * w rows of 4 * bins logits, `cls` h * w
// rows of num_classes logits (what the oneDNN runtime's convolutions write). Same results.
void decode_cells_nhwc(const float* reg, const float* cls, int h, int w, int stride, int bins, int num_classes,
                       int first, int last, float* boxes, float* scores);

}  // namespace yolonas
