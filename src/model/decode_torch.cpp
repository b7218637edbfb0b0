#include "yolonas/model/decode_torch.h"

namespace yolonas {

torch::Tensor dfl_distances(const torch::Tensor& reg_distri) {
  const int64_t B = reg_distri.size(0), A = reg_distri.size(1), bins = reg_distri.size(2) / 4;
  auto prob = torch::softmax(reg_distri.reshape({B, A, 4, bins}), -1);
  auto proj = torch::arange(bins, reg_distri.options());
  return (prob * proj).sum(-1);
}

torch::Tensor distances_to_boxes(const torch::Tensor& dist, const torch::Tensor& anchor_points) {
  auto lt = dist.narrow(-1, 0, 2), rb = dist.narrow(-1, 2, 2);
  return torch::cat({-lt + anchor_points, rb + anchor_points}, -1);
}

torch::Tensor dfl_decode(const torch::Tensor& reg_distri, const torch::Tensor& anchor_points) {
  return distances_to_boxes(dfl_distances(reg_distri), anchor_points);
}

}  // namespace yolonas
