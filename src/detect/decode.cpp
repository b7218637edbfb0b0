#include "yolonas/detect/decode.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace yolonas {
namespace {

constexpr int kBlock = 64;  // cells decoded together (contiguous in each channel plane)

}  // namespace

int count_anchors(int height, int width, const std::vector<int>& strides) {
  int a = 0;
  for (int s : strides) a += (height / s) * (width / s);
  return a;
}

void decode_level(const float* reg, const float* cls, int h, int w, int stride, int bins, int num_classes,
                  float* boxes, float* scores) {
  decode_cells(reg, cls, h, w, stride, bins, num_classes, 0, h * w, boxes, scores);
}

void decode_cells(const float* reg, const float* cls, int h, int w, int stride, int bins, int num_classes, int first,
                  int last, float* boxes, float* scores) {
  const int hw = h * w;
  const float s = static_cast<float>(stride);
  float mx[kBlock], sum[kBlock], acc[kBlock], dist[4][kBlock];
  for (int i0 = first; i0 < last; i0 += kBlock) {
    const int n = std::min(kBlock, last - i0);
    // Expected distance per side: softmax over the bins (max subtracted), sum of k * p_k.
    for (int side = 0; side < 4; ++side) {
      const float* r = reg + static_cast<size_t>(side) * bins * hw + i0;  // bin k of cell i0 + j at r[k * hw + j]
      for (int j = 0; j < n; ++j) mx[j] = r[j];
      for (int k = 1; k < bins; ++k) {
        const float* rk = r + static_cast<size_t>(k) * hw;
        for (int j = 0; j < n; ++j) mx[j] = std::max(mx[j], rk[j]);
      }
      for (int j = 0; j < n; ++j) sum[j] = acc[j] = 0.0f;
      for (int k = 0; k < bins; ++k) {
        const float* rk = r + static_cast<size_t>(k) * hw;
        const float fk = static_cast<float>(k);
        for (int j = 0; j < n; ++j) {
          const float e = std::exp(rk[j] - mx[j]);
          sum[j] += e;
          acc[j] += e * fk;
        }
      }
      for (int j = 0; j < n; ++j) dist[side][j] = acc[j] / sum[j];
    }
    for (int j = 0; j < n; ++j) {
      float ax, ay;
      anchor_point(i0 + j, w, ax, ay);
      float* box = boxes + static_cast<size_t>(i0 + j) * 4;
      box[0] = (ax - dist[0][j]) * s;
      box[1] = (ay - dist[1][j]) * s;
      box[2] = (ax + dist[2][j]) * s;
      box[3] = (ay + dist[3][j]) * s;
    }
    // Sigmoid scores, written cell-major (the layout the outputs use).
    for (int c = 0; c < num_classes; ++c) {
      const float* lc = cls + static_cast<size_t>(c) * hw + i0;
      for (int j = 0; j < n; ++j)
        scores[static_cast<size_t>(i0 + j) * num_classes + c] = 1.0f / (1.0f + std::exp(-lc[j]));
    }
  }
}

}  // namespace yolonas
