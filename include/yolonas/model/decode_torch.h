// The DFL box decode with LibTorch tensors (differentiable): the model's outputs (forward,
// forward_decoded) and the PPYoloE loss use these. detect/decode.h is the same decode in plain C++
// for the runtime; tests compare the two.
#pragma once
#include <torch/torch.h>

namespace yolonas {

// reg_distri [B, A, 4 * bins] logits (channel = side * bins + bin, sides l, t, r, b) -> [B, A, 4]
// expected distances: softmax over the bins, times 0..bins-1, summed.
torch::Tensor dfl_distances(const torch::Tensor& reg_distri);

// dist [B, A, 4] (l, t, r, b) around anchor_points [A, 2] -> boxes [B, A, 4] (x1 y1 x2 y2), in the
// anchor points' units.
torch::Tensor distances_to_boxes(const torch::Tensor& dist, const torch::Tensor& anchor_points);

// distances_to_boxes(dfl_distances(reg_distri), anchor_points).
torch::Tensor dfl_decode(const torch::Tensor& reg_distri, const torch::Tensor& anchor_points);

}  // namespace yolonas
