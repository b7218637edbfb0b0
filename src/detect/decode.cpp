#include "yolonas/detect/decode.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace yolonas {
namespace {

constexpr int kBlock = 64;  // cells decoded together (contiguous in each channel plane)

// e^x to float precision (relative error below 2.5e-7 over [-87, 88]; 0 below, infinity above), written so that
// the compiler vectorizes the loops calling it (std::exp is a library call per element): x = n ln2 + r
// with |r| <= ln2 / 2, e^r by its degree-6 Taylor polynomial (error r^7 / 7! < 1.3e-7), 2^n from the
// exponent bits. The decode evaluates about 1.2 M of these per 640x640 image.
inline float exp_poly(float x_in) {
  const float x = x_in < -87.0f ? -87.0f : x_in > 88.0f ? 88.0f : x_in;
  // n = round(x / ln2) through the float adder: 1.5 * 2^23 + t keeps round(t) in its low mantissa bits.
  const float big = x * 1.44269504f + 12582912.0f;
  const float n = big - 12582912.0f;
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 in two parts: r exact to float
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &big, sizeof bits);
  bits = (bits - 0x4B400000 + 127) << 23;  // 2^n
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  // Below float's smallest normal: 0; above its largest value: infinity (so a sigmoid gives 0).
  return x_in < -87.0f ? 0.0f : x_in > 88.0f ? HUGE_VALF : p * two_n;
}

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

namespace {

#if defined(__GNUC__) && !defined(__clang__)
#define YOLONAS_INLINE __attribute__((always_inline)) inline
#else
#define YOLONAS_INLINE inline
#endif

// Boxes of n <= kBlock cells i0.. from their regression logits: bin k of side `side` of cell j at
// reg[(side * bins + k) * cs + j] (cs: the distance between channels, h * w for planes).
YOLONAS_INLINE void decode_boxes(const float* reg, size_t cs, int n, int i0, int w, float s, int bins, float* boxes) {
  float mx[kBlock], sum[kBlock], acc[kBlock], dist[4][kBlock];
  // Expected distance per side: softmax over the bins (max subtracted), sum of k * p_k.
  for (int side = 0; side < 4; ++side) {
    const float* r = reg + static_cast<size_t>(side) * bins * cs;
    for (int j = 0; j < n; ++j) mx[j] = r[j];
    for (int k = 1; k < bins; ++k) {
      const float* rk = r + static_cast<size_t>(k) * cs;
      for (int j = 0; j < n; ++j) mx[j] = std::max(mx[j], rk[j]);
    }
    for (int j = 0; j < n; ++j) sum[j] = acc[j] = 0.0f;
    for (int k = 0; k < bins; ++k) {
      const float* rk = r + static_cast<size_t>(k) * cs;
      const float fk = static_cast<float>(k);
      for (int j = 0; j < n; ++j) {
        const float e = exp_poly(rk[j] - mx[j]);
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
}

}  // namespace

// Both decodes are built for AVX-512 and AVX2 too (picked at load time by the CPU), where the exp
// loops run 16 or 8 cells per instruction.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define YOLONAS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define YOLONAS_CLONES
#endif

YOLONAS_CLONES
void decode_cells(const float* reg, const float* cls, int h, int w, int stride, int bins, int num_classes, int first,
                  int last, float* boxes, float* scores) {
  const int hw = h * w;
  for (int i0 = first; i0 < last; i0 += kBlock) {
    const int n = std::min(kBlock, last - i0);
    decode_boxes(reg + i0, static_cast<size_t>(hw), n, i0, w, static_cast<float>(stride), bins, boxes);
    // Sigmoid scores, written cell-major (the layout the outputs use).
    for (int c = 0; c < num_classes; ++c) {
      const float* lc = cls + static_cast<size_t>(c) * hw + i0;
      for (int j = 0; j < n; ++j)
        scores[static_cast<size_t>(i0 + j) * num_classes + c] = 1.0f / (1.0f + exp_poly(-lc[j]));
    }
  }
}

YOLONAS_CLONES
void decode_cells_nhwc(const float* reg, const float* cls, int h, int w, int stride, int bins, int num_classes,
                       int first, int last, float* boxes, float* scores) {
  (void)h;
  const int nreg = 4 * bins;
  std::vector<float> planes(static_cast<size_t>(nreg) * kBlock);  // a block's logits as planes
  for (int i0 = first; i0 < last; i0 += kBlock) {
    const int n = std::min(kBlock, last - i0);
    for (int j = 0; j < n; ++j) {
      const float* row = reg + static_cast<size_t>(i0 + j) * nreg;
      for (int k = 0; k < nreg; ++k) planes[static_cast<size_t>(k) * kBlock + j] = row[k];
    }
    decode_boxes(planes.data(), kBlock, n, i0, w, static_cast<float>(stride), bins, boxes);
    // The class logits are already cell-major, as the scores.
    const size_t from = static_cast<size_t>(i0) * num_classes, count = static_cast<size_t>(n) * num_classes;
    for (size_t k = 0; k < count; ++k) scores[from + k] = 1.0f / (1.0f + exp_poly(-cls[from + k]));
  }
}

}  // namespace yolonas
