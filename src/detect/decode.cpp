#include "yolonas/detect/decode.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace yolonas {

int count_anchors(int height, int width, const std::vector<int>& strides) {
  int a = 0;
  for (int s : strides) a += (height / s) * (width / s);
  return a;
}

void decode_level(const float* reg, const float* cls, int h, int w, int stride, int bins, int num_classes,
                  float* boxes, float* scores) {
  const int hw = h * w;
  const float s = static_cast<float>(stride);
  for (int i = 0; i < hw; ++i) {
    float dist[4];
    for (int side = 0; side < 4; ++side) {
      const float* r = reg + static_cast<size_t>(side) * bins * hw + i;  // bin k at r[k * hw]
      float mx = -INFINITY;
      for (int k = 0; k < bins; ++k) mx = std::max(mx, r[static_cast<size_t>(k) * hw]);
      float sum = 0, acc = 0;
      for (int k = 0; k < bins; ++k) {
        const float e = std::exp(r[static_cast<size_t>(k) * hw] - mx);
        sum += e;
        acc += e * static_cast<float>(k);
      }
      dist[side] = acc / sum;
    }
    float ax, ay;
    anchor_point(i, w, ax, ay);
    float* box = boxes + static_cast<size_t>(i) * 4;
    box[0] = (ax - dist[0]) * s;
    box[1] = (ay - dist[1]) * s;
    box[2] = (ax + dist[2]) * s;
    box[3] = (ay + dist[3]) * s;
    float* sc = scores + static_cast<size_t>(i) * num_classes;
    for (int c = 0; c < num_classes; ++c) sc[c] = 1.0f / (1.0f + std::exp(-cls[static_cast<size_t>(c) * hw + i]));
  }
}

}  // namespace yolonas
