// The oneDNN runtime, op by op, against plain C++ reference implementations (ncnn's testutil idea):
// every op kind (conv, deconv, max-pool, concat, sum, and the decode) in FP32 and INT8 on random
// shapes (odd sizes, batch > 1, non-square), each with an explicit tolerance; whole S, M and L
// networks (random weights, model files written by test_model's fixture) against a reference
// executor; model files (round trip, corruption); several threads on one detector; the C API.
// This executable links the runtime library (libyolonas_rt.so) only: no LibTorch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <unistd.h>

#include "yolonas/core/error.h"
#include "yolonas/detect/decode.h"
#include "yolonas/runtime/c_api.h"
#include "yolonas/runtime/int8.h"
#include "yolonas/runtime/model_file.h"
#include "yolonas/runtime/onednn_engine.h"
#include "yolonas/runtime/onednn_net.h"
#include "yolonas/runtime/rt_detector.h"

namespace fs = std::filesystem;
using namespace yolonas;

namespace {

// ---- plain tensors and the reference ops --------------------------------------------------------

struct Tensor {
  int n = 0, c = 0, h = 0, w = 0;
  std::vector<float> v;
  Tensor() = default;
  Tensor(int n_, int c_, int h_, int w_) : n(n_), c(c_), h(h_), w(w_), v(static_cast<size_t>(n_) * c_ * h_ * w_, 0.0f) {}
  float& at(int i, int j, int y, int x) { return v[((static_cast<size_t>(i) * c + j) * h + y) * w + x]; }
  float at(int i, int j, int y, int x) const { return v[((static_cast<size_t>(i) * c + j) * h + y) * w + x]; }
};

std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> out(n);
  for (float& x : out) x = u(rng);
  return out;
}

// The runtime's INT8 arithmetic, element by element: q = clamp(round(x * mult)), u8 or s8.
float quantize(float x, float mult, bool is_unsigned) {
  const float q = std::nearbyint(x * mult);
  return is_unsigned ? std::clamp(q, 0.0f, 255.0f) : std::clamp(q, -128.0f, 127.0f);
}

// Quantization state of a reference run: per buffer, whether it is quantized, its mult and sign.
struct RefPlan {
  const DnnInt8* q = nullptr;
  std::vector<uint8_t> head_out;
  bool quantized(int b) const { return q && !head_out[static_cast<size_t>(b)] && !q->is_f32[static_cast<size_t>(b)]; }
  float mult(int b) const { return q->mult[static_cast<size_t>(b)]; }
  // The value a quantized buffer holds, as the runtime dequantizes it.
  float store(int b, float x) const { return quantized(b) ? quantize(x, mult(b), q->is_unsigned[static_cast<size_t>(b)]) / mult(b) : x; }
};

Tensor ref_conv(const DnnOp& op, const Tensor& x, const RefPlan& p) {
  const bool deconv = op.kind == DnnOpKind::Deconv;
  const int k = op.kernel, s = op.stride;
  const int oh = deconv ? x.h * s : (x.h + 2 * op.pad - k) / s + 1, ow = deconv ? x.w * s : (x.w + 2 * op.pad - k) / s + 1;
  Tensor y(x.n, op.cout, oh, ow);
  const bool int8 = p.quantized(op.inputs[0]);
  std::vector<float> wmult;
  std::vector<int8_t> wq;
  if (int8) wq = op.qweights.empty() ? quantize_weights(op, wmult) : std::vector<int8_t>(op.qweights.begin(), op.qweights.end());
  if (int8 && !op.qweights.empty()) wmult = op.wscales.to_vector();
  const float in_mult = int8 ? p.mult(op.inputs[0]) : 1.0f;
  auto weight = [&](int o, int i, int ky, int kx) {  // the value the runtime multiplies with (integer in INT8)
    const size_t idx = deconv ? ((static_cast<size_t>(i) * op.cout + o) * k + ky) * k + kx
                              : ((static_cast<size_t>(o) * op.cin + i) * k + ky) * k + kx;
    return int8 ? static_cast<float>(wq[idx]) : op.weights[idx];
  };
  for (int n = 0; n < x.n; ++n)
    for (int o = 0; o < op.cout; ++o) {
      std::vector<double> acc(static_cast<size_t>(oh) * ow, 0.0);
      for (int i = 0; i < op.cin; ++i)
        for (int iy = 0; iy < (deconv ? x.h : oh); ++iy)
          for (int ix = 0; ix < (deconv ? x.w : ow); ++ix)
            for (int ky = 0; ky < k; ++ky)
              for (int kx = 0; kx < k; ++kx) {
                if (deconv) {
                  const float xv = int8 ? x.at(n, i, iy, ix) * in_mult : x.at(n, i, iy, ix);
                  acc[static_cast<size_t>(iy * s + ky) * ow + ix * s + kx] += static_cast<double>(xv) * weight(o, i, ky, kx);
                } else {
                  const int yy = iy * s - op.pad + ky, xx = ix * s - op.pad + kx;
                  if (yy < 0 || xx < 0 || yy >= x.h || xx >= x.w) continue;
                  const float xv = int8 ? x.at(n, i, yy, xx) * in_mult : x.at(n, i, yy, xx);
                  acc[static_cast<size_t>(iy) * ow + ix] += static_cast<double>(xv) * weight(o, i, ky, kx);
                }
              }
      for (int yy = 0; yy < oh; ++yy)
        for (int xx = 0; xx < ow; ++xx) {
          double v = acc[static_cast<size_t>(yy) * ow + xx];
          if (int8) v = (v + std::lround(op.bias[o] * in_mult * wmult[o])) / (in_mult * wmult[o]);  // s32 bias
          else v += op.bias[o];
          if (op.relu) v = std::max(v, 0.0);
          y.at(n, o, yy, xx) = p.store(op.output, static_cast<float>(v));
        }
    }
  return y;
}

Tensor ref_maxpool(const DnnOp& op, const Tensor& x) {
  Tensor y(x.n, x.c, x.h, x.w);
  for (int n = 0; n < x.n; ++n)
    for (int c = 0; c < x.c; ++c)
      for (int yy = 0; yy < x.h; ++yy)
        for (int xx = 0; xx < x.w; ++xx) {
          float m = -INFINITY;
          for (int ky = 0; ky < op.kernel; ++ky)
            for (int kx = 0; kx < op.kernel; ++kx) {
              const int sy = yy - op.pad + ky, sx = xx - op.pad + kx;
              if (sy >= 0 && sx >= 0 && sy < x.h && sx < x.w) m = std::max(m, x.at(n, c, sy, sx));
            }
          y.at(n, c, yy, xx) = m;
        }
  return y;
}

Tensor ref_concat(const std::vector<const Tensor*>& xs) {
  int c = 0;
  for (const Tensor* t : xs) c += t->c;
  Tensor y(xs[0]->n, c, xs[0]->h, xs[0]->w);
  int base = 0;
  for (const Tensor* t : xs) {
    for (int n = 0; n < t->n; ++n)
      for (int j = 0; j < t->c; ++j)
        for (int yy = 0; yy < t->h; ++yy)
          for (int xx = 0; xx < t->w; ++xx) y.at(n, base + j, yy, xx) = t->at(n, j, yy, xx);
    base += t->c;
  }
  return y;
}

Tensor ref_sum(const DnnOp& op, const Tensor& a, const Tensor& b, const RefPlan& p) {
  Tensor y(a.n, a.c, a.h, a.w);
  for (size_t i = 0; i < y.v.size(); ++i) y.v[i] = p.store(op.output, op.scales[0] * a.v[i] + op.scales[1] * b.v[i]);
  return y;
}

// Runs every op of `g` on `input` with the reference ops; returns every buffer.
std::vector<Tensor> ref_run(const DnnGraph& g, const Tensor& input, const DnnInt8* q) {
  RefPlan p;
  p.q = q;
  p.head_out.assign(static_cast<size_t>(g.num_buffers), 0);
  for (int b : g.reg_outputs) p.head_out[static_cast<size_t>(b)] = 1;
  for (int b : g.cls_outputs) p.head_out[static_cast<size_t>(b)] = 1;
  std::vector<Tensor> buf(static_cast<size_t>(g.num_buffers));
  buf[0] = input;
  for (float& v : buf[0].v) v = p.store(0, v);
  for (const DnnOp& op : g.ops) {
    const Tensor& x = buf[static_cast<size_t>(op.inputs[0])];
    switch (op.kind) {
      case DnnOpKind::Conv:
      case DnnOpKind::Deconv: buf[static_cast<size_t>(op.output)] = ref_conv(op, x, p); break;
      case DnnOpKind::MaxPool: buf[static_cast<size_t>(op.output)] = ref_maxpool(op, x); break;
      case DnnOpKind::Concat: {
        std::vector<const Tensor*> xs;
        for (int i : op.inputs) xs.push_back(&buf[static_cast<size_t>(i)]);
        buf[static_cast<size_t>(op.output)] = ref_concat(xs);
        break;
      }
      case DnnOpKind::Sum: buf[static_cast<size_t>(op.output)] = ref_sum(op, x, buf[static_cast<size_t>(op.inputs[1])], p); break;
    }
  }
  return buf;
}

// ---- one-op graphs ---------------------------------------------------------------------------------------

DnnOp random_conv(DnnOpKind kind, int cin, int cout, int k, int stride, bool relu, std::mt19937& rng) {
  DnnOp op;
  op.kind = kind;
  op.inputs = {0};
  op.cin = cin, op.cout = cout, op.kernel = k, op.stride = stride;
  op.pad = kind == DnnOpKind::Deconv ? 0 : k / 2;
  op.relu = relu;
  const float bound = 1.0f / std::sqrt(static_cast<float>(cin * k * k));
  op.weights = random_floats(static_cast<size_t>(cin) * cout * k * k, rng, -bound, bound);
  op.bias = random_floats(static_cast<size_t>(cout), rng, -0.2f, 0.2f);
  op.name = std::string(dnn_op_kind_name(kind)) + "_test";
  return op;
}

struct OpCase {
  DnnGraph graph;
  Tensor input;
};

// The runtime's value of every buffer after one run of `g` on `input` (FP32 or with `int8`).
std::vector<std::vector<float>> runtime_buffers(const DnnGraph& g, const Tensor& input, const DnnInt8* int8) {
  OnednnNet::Options o;
  o.int8 = int8;
  o.share_memory = false;
  o.fuse_sum = false;
  OnednnNet net(g, input.n, input.h, input.w, o);
  std::vector<float> boxes, scores;
  net.run(input.v.data(), boxes, scores);
  std::vector<std::vector<float>> out;
  for (int b = 0; b < g.num_buffers; ++b) out.push_back(net.read_buffer(b));
  return out;
}

// Activation ranges of an FP32 run on the input itself.
DnnRanges ranges_on(const DnnGraph& g, const Tensor& input) {
  DnnRanges r;
  OnednnNet::Options o;
  o.share_memory = false;
  o.fuse_sum = false;
  OnednnNet net(g, input.n, input.h, input.w, o);
  std::vector<float> boxes, scores;
  net.run(input.v.data(), boxes, scores);
  net.update_ranges(r);
  return r;
}

// An INT8 plan from those ranges (all activations quantized, nothing kept FP32).
DnnInt8 plan_for(const DnnGraph& g, const Tensor& input) {
  return plan_int8(g, ranges_on(g, input), /*float_heads=*/false);
}

// Max |runtime - reference| over buffer `b`, relative to the reference's largest magnitude.
void expect_close(const std::vector<float>& got, const Tensor& want, double atol, const std::string& what) {
  ASSERT_EQ(got.size(), want.v.size()) << what;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - want.v[i]);
    if (d > worst) worst = d, at = i;
  }
  EXPECT_LE(worst, atol) << what << ": worst |diff| " << worst << " at " << at << " (runtime " << got[at] << ", reference "
                         << want.v[at] << ")";
}

Tensor random_input(int n, int c, int h, int w, std::mt19937& rng, float lo = 0.0f, float hi = 1.0f) {
  Tensor t(n, c, h, w);
  t.v = random_floats(t.v.size(), rng, lo, hi);
  return t;
}

}  // namespace

// ---- single ops ----------------------------------------------------------------------------------------------

TEST(RuntimeOps, ConvolutionsMatchTheReferenceInFp32AndInt8) {
  std::mt19937 rng(11);
  struct Shape {
    int n, cin, cout, h, w, k, stride;
    bool relu;
  };
  for (const Shape& s : {Shape{2, 3, 8, 13, 21, 3, 1, true}, Shape{1, 16, 24, 17, 9, 3, 2, false},
                         Shape{3, 5, 7, 6, 11, 1, 1, true}, Shape{2, 32, 16, 8, 8, 3, 2, true}}) {
    DnnGraph g;
    g.input_channels = s.cin;
    g.add(random_conv(DnnOpKind::Conv, s.cin, s.cout, s.k, s.stride, s.relu, rng));
    const Tensor x = random_input(s.n, s.cin, s.h, s.w, rng);
    const std::string what = "conv " + std::to_string(s.cin) + "->" + std::to_string(s.cout) + " k" + std::to_string(s.k) +
                             " s" + std::to_string(s.stride) + " on " + std::to_string(s.n) + "x" + std::to_string(s.h) +
                             "x" + std::to_string(s.w);
    // FP32: oneDNN's summation order differs from the reference's (float32 vs double): 1e-4.
    expect_close(runtime_buffers(g, x, nullptr)[1], ref_run(g, x, nullptr)[1], 1e-4, what + " FP32");
    // INT8: the same integers, so the values agree to one output quantization step.
    const DnnInt8 q = plan_for(g, x);
    const double step = 1.0 / q.mult[1];
    expect_close(runtime_buffers(g, x, &q)[1], ref_run(g, x, &q)[1], step * 1.01, what + " INT8");
  }
}

TEST(RuntimeOps, TransposedConvolutionMatchesTheReference) {
  std::mt19937 rng(12);
  for (const auto& [n, c, h, w] : std::vector<std::array<int, 4>>{{2, 8, 5, 7}, {1, 3, 9, 4}}) {
    DnnGraph g;
    g.input_channels = c;
    g.add(random_conv(DnnOpKind::Deconv, c, 6, 2, 2, false, rng));
    const Tensor x = random_input(n, c, h, w, rng, -1.0f, 1.0f);
    expect_close(runtime_buffers(g, x, nullptr)[1], ref_run(g, x, nullptr)[1], 1e-4, "deconv FP32");
    const DnnInt8 q = plan_for(g, x);
    expect_close(runtime_buffers(g, x, &q)[1], ref_run(g, x, &q)[1], 1.01 / q.mult[1], "deconv INT8");
  }
}

namespace {

// input -> conv a (relu) -> maxpool 5 ; conv b ; concat(a, pool, b) -> conv c ; sum(0.7 * a + 1 * c)
DnnGraph small_block_graph(std::mt19937& rng) {
  DnnGraph g;
  g.input_channels = 4;
  const int a = g.add(random_conv(DnnOpKind::Conv, 4, 6, 3, 1, true, rng));
  DnnOp pool;
  pool.kind = DnnOpKind::MaxPool;
  pool.inputs = {a};
  pool.kernel = 5, pool.pad = 2;
  pool.name = "pool";
  const int p = g.add(pool);
  const int b = g.add(random_conv(DnnOpKind::Conv, 4, 3, 1, 1, false, rng));  // reads the input
  DnnOp cat;
  cat.kind = DnnOpKind::Concat;
  cat.inputs = {a, p, b};
  cat.name = "concat";
  const int c = g.add(cat);
  DnnOp cc = random_conv(DnnOpKind::Conv, 15, 6, 1, 1, true, rng);
  cc.inputs = {c};
  const int d = g.add(cc);
  DnnOp sum;
  sum.kind = DnnOpKind::Sum;
  sum.inputs = {a, d};
  sum.scales = {0.7f, 1.0f};
  sum.name = "sum";
  g.add(sum);
  return g;
}

void expect_all_buffers_close(const DnnGraph& g, const Tensor& x, const DnnInt8* q, const std::string& what) {
  const auto ref = ref_run(g, x, q);
  const auto got = runtime_buffers(g, x, q);
  for (int buf = 1; buf < g.num_buffers; ++buf) {
    const bool quantized = q && !q->is_f32[static_cast<size_t>(buf)];
    expect_close(got[static_cast<size_t>(buf)], ref[static_cast<size_t>(buf)],
                 quantized ? 1.01 / q->mult[static_cast<size_t>(buf)] : 1e-4,
                 what + " " + g.ops[static_cast<size_t>(buf - 1)].name);
  }
}

}  // namespace

TEST(RuntimeOps, MaxPoolConcatAndSumMatchTheReference) {
  std::mt19937 rng(13);
  const DnnGraph g = small_block_graph(rng);
  const Tensor x = random_input(2, 4, 11, 14, rng);
  expect_all_buffers_close(g, x, nullptr, "FP32");
  // INT8: max-pool and concat share their inputs' scales, the sum requantizes.
  const DnnInt8 q = plan_for(g, x);
  expect_all_buffers_close(g, x, &q, "INT8");
}

// Selective INT8: any scale group kept in FP32 (its readers run FP32 convolutions, which then
// quantize their outputs; sums mix FP32 and INT8 inputs) still matches the reference.
TEST(RuntimeOps, SelectivePlansMixFp32AndInt8) {
  std::mt19937 rng(17);
  const DnnGraph g = small_block_graph(rng);
  const Tensor x = random_input(1, 4, 9, 13, rng);
  const DnnRanges r = ranges_on(g, x);
  const std::vector<int> groups = scale_groups(g);
  const int G = *std::max_element(groups.begin(), groups.end()) + 1;
  EXPECT_LT(G, g.num_buffers);  // concat and max-pool joined some buffers
  for (int k = 0; k < G; ++k) {
    Int8Options o;
    o.float_heads = false;
    o.fp32_groups = {k};
    const DnnInt8 q = plan_int8(g, r, o);
    expect_all_buffers_close(g, x, &q, "group " + std::to_string(k) + " in FP32:");
  }
}

// The bottleneck's residual sum folded into its second convolution (a binary post-op; fuse_sum, on
// by default) against the reference, which runs the convolution and the sum as two steps: INT8
// within a step of the sum's output plus half a step of the folded convolution's output (the
// reference rounds that one, the folded path does not); FP32 to float rounding.
TEST(RuntimeOps, ResidualSumFoldedIntoTheConvolutionMatchesTheReference) {
  std::mt19937 rng(19);
  DnnGraph g;
  g.input_channels = 3;
  const int x = g.add(random_conv(DnnOpKind::Conv, 3, 32, 3, 1, true, rng));
  DnnOp cv1 = random_conv(DnnOpKind::Conv, 32, 32, 3, 1, true, rng);
  cv1.inputs = {x};
  const int y1 = g.add(cv1);
  DnnOp cv2 = random_conv(DnnOpKind::Conv, 32, 32, 3, 1, true, rng);
  cv2.inputs = {y1};
  const int y = g.add(cv2);
  DnnOp sum;
  sum.kind = DnnOpKind::Sum;
  sum.inputs = {x, y};
  sum.scales = {0.6f, 1.0f};
  sum.name = "sum";
  const int z = g.add(sum);
  const Tensor in = random_input(2, 3, 12, 20, rng);
  const DnnInt8 q = plan_for(g, in);
  for (const DnnInt8* plan : {static_cast<const DnnInt8*>(nullptr), &q}) {
    const std::string what = plan ? "INT8" : "FP32";
    OnednnNet::Options o;
    o.int8 = plan;
    o.share_memory = false;  // to read the buffers back; fuse_sum stays on
    OnednnNet net(g, in.n, in.h, in.w, o);
    net.set_profiling(true);
    std::vector<float> boxes, scores;
    net.run(in.v.data(), boxes, scores);
    bool folded = false;
    for (const auto& row : net.profile()) folded |= row.kind.find("+sum") != std::string::npos;
    // INT8 folds (oneDNN's jit_int8 kernel takes the post-op chain). FP32 may not: oneDNN 2.6 offers
    // only a GEMM-based kernel for it here, slower than the separate sum, so the net keeps the step.
    if (plan) {
      EXPECT_TRUE(folded) << what << ": the sum was not folded into the convolution";
      EXPECT_THROW(net.read_buffer(y), Error) << what << ": the folded convolution's own output does not exist";
    }
    const auto ref = ref_run(g, in, plan);
    const double tol = plan ? 1.01 / q.mult[static_cast<size_t>(z)] + 0.51 * 1.0 / q.mult[static_cast<size_t>(y)] : 1e-4;
    expect_close(net.read_buffer(z), ref[static_cast<size_t>(z)], tol, what + " folded sum");
    expect_close(net.read_buffer(y1), ref[static_cast<size_t>(y1)], plan ? 1.01 / q.mult[static_cast<size_t>(y1)] : 1e-4,
                 what + " cv1");
  }
  // Without folding, the same net keeps the convolution's output.
  OnednnNet::Options o;
  o.share_memory = false;
  o.fuse_sum = false;
  OnednnNet plain(g, in.n, in.h, in.w, o);
  std::vector<float> boxes, scores;
  plain.run(in.v.data(), boxes, scores);
  EXPECT_EQ(plain.read_buffer(y).size(), ref_run(g, in, nullptr)[static_cast<size_t>(y)].v.size());
}

TEST(RuntimeOps, DecodeMatchesTheReferenceFormula) {
  // One level of 3 x 5 cells, stride 8, 17 bins, 2 classes, batch 2: the net's boxes and scores
  // against the DFL formula written out here.
  std::mt19937 rng(14);
  const int R = 17, C = 2, h = 3, w = 5;
  DnnGraph g;
  g.input_channels = 3;
  g.strides = {8};
  g.num_classes = C;
  g.reg_max = R - 1;
  DnnOp down = random_conv(DnnOpKind::Conv, 3, 4 * R, 8, 8, false, rng);  // 24x40 -> 3x5
  down.pad = 0;
  g.reg_outputs = {g.add(down)};
  DnnOp cls = random_conv(DnnOpKind::Conv, 3, C, 8, 8, false, rng);
  cls.pad = 0;
  cls.inputs = {0};
  g.cls_outputs = {g.add(cls)};
  g.ops[0].inputs = {0};
  const Tensor x = random_input(2, 3, h * 8, w * 8, rng, -3.0f, 3.0f);
  OnednnNet::Options o;
  o.share_memory = false;
  OnednnNet net(g, 2, h * 8, w * 8, o);
  std::vector<float> boxes, scores;
  net.run(x.v.data(), boxes, scores);
  const std::vector<float> reg = net.read_buffer(g.reg_outputs[0]), logits = net.read_buffer(g.cls_outputs[0]);
  ASSERT_EQ(boxes.size(), 2u * h * w * 4);
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < h * w; ++i) {
      double dist[4];
      for (int side = 0; side < 4; ++side) {
        double mx = -1e30, sum = 0, acc = 0;
        for (int k = 0; k < R; ++k) mx = std::max(mx, double(reg[((size_t(b) * 4 * R) + side * R + k) * h * w + i]));
        for (int k = 0; k < R; ++k) {
          const double e = std::exp(reg[((size_t(b) * 4 * R) + side * R + k) * h * w + i] - mx);
          sum += e, acc += e * k;
        }
        dist[side] = acc / sum;
      }
      const double ax = i % w + 0.5, ay = i / w + 0.5;
      const double want[4] = {(ax - dist[0]) * 8, (ay - dist[1]) * 8, (ax + dist[2]) * 8, (ay + dist[3]) * 8};
      for (int k = 0; k < 4; ++k) EXPECT_NEAR(boxes[(size_t(b) * h * w + i) * 4 + k], want[k], 1e-4);
      for (int c = 0; c < C; ++c)
        EXPECT_NEAR(scores[(size_t(b) * h * w + i) * C + c], 1.0 / (1.0 + std::exp(-logits[(size_t(b) * C + c) * h * w + i])), 1e-6);
    }
}

// ---- whole networks --------------------------------------------------------------------------------------------

class RuntimeNetwork : public ::testing::TestWithParam<const char*> {};

// S, M and L with random weights (model files written by test_model's WriteRandomModelFiles), at a
// small input, against the reference executor: every buffer in FP32; the outputs in INT8.
TEST_P(RuntimeNetwork, MatchesTheReferenceExecutor) {
  const std::string path = std::string(YOLONAS_FIXTURES) + "/" + GetParam() + ".ynas";
  if (!fs::exists(path)) GTEST_SKIP() << path << " is missing (the test_model fixture writes it)";
  const ModelFile mf = read_model_file(path);
  std::mt19937 rng(21);
  // S at batch 2 and a non-square input; M and L (slower references) at batch 1, 64 x 64.
  const bool small = std::string(GetParam()) == "yolo_nas_s";
  const Tensor x = small ? random_input(2, 3, 64, 96, rng) : random_input(1, 3, 64, 64, rng);
  const auto ref = ref_run(mf.graph, x, nullptr);
  const auto got = runtime_buffers(mf.graph, x, nullptr);
  double worst_rel = 0;
  for (int b = 1; b < mf.graph.num_buffers; ++b) {
    const Tensor& r = ref[static_cast<size_t>(b)];
    double scale = 1e-3;
    for (float v : r.v) scale = std::max(scale, double(std::fabs(v)));
    double worst = 0;
    for (size_t i = 0; i < r.v.size(); ++i) worst = std::max(worst, std::fabs(double(got[static_cast<size_t>(b)][i]) - r.v[i]));
    worst_rel = std::max(worst_rel, worst / scale);
    EXPECT_LE(worst / scale, 1e-3) << GetParam() << " buffer " << b << " (" << mf.graph.ops[static_cast<size_t>(b - 1)].name << ")";
  }
  std::printf("%s: largest FP32 difference %.2e of the buffer's magnitude over %d buffers\n", GetParam(), worst_rel,
              mf.graph.num_buffers);
  // INT8: the heads' outputs (what the decode reads), within a few of their quantization steps.
  const DnnInt8 q = plan_int8(mf.graph, ranges_on(mf.graph, x), /*float_heads=*/true);
  const auto ref8 = ref_run(mf.graph, x, &q);
  const auto got8 = runtime_buffers(mf.graph, x, &q);
  // A value that rounds the other way in one layer moves by one quantization step there and a little
  // in every layer after it, so whole-network INT8 agrees to rounding, not exactly: most values
  // agree closely, a few drift by a fraction of a percent of the output's range.
  for (int b : mf.graph.reg_outputs) {
    const Tensor& r = ref8[static_cast<size_t>(b)];
    double scale = 1e-3, worst = 0, sum = 0;
    for (size_t i = 0; i < r.v.size(); ++i) {
      scale = std::max(scale, double(std::fabs(r.v[i])));
      const double d = std::fabs(double(got8[static_cast<size_t>(b)][i]) - r.v[i]);
      worst = std::max(worst, d);
      sum += d;
    }
    const double mean = sum / r.v.size();
    std::printf("%s INT8 regression output %d: worst %.2e, mean %.2e of its range\n", GetParam(), b, worst / scale, mean / scale);
    EXPECT_LE(worst / scale, 2e-2) << GetParam() << " INT8 regression output " << b;
    EXPECT_LE(mean / scale, 5e-3) << GetParam() << " INT8 regression output " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, RuntimeNetwork, ::testing::Values("yolo_nas_s", "yolo_nas_m", "yolo_nas_l"));

// ---- model files ------------------------------------------------------------------------------------------------

namespace {

std::string fixture(const std::string& name) { return std::string(YOLONAS_FIXTURES) + "/" + name; }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string load_error(const std::string& path) {
  try {
    read_model_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A small synthetic photo: a grey ramp with a few coloured rectangles.
cv::Mat test_card(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(x % 256, y % 256, (x + y) % 256);
  cv::rectangle(m, cv::Rect(w / 5, h / 4, w / 3, h / 3), cv::Scalar(20, 200, 40), cv::FILLED);
  cv::rectangle(m, cv::Rect(w / 2, h / 2, w / 4, h / 5), cv::Scalar(230, 30, 30), cv::FILLED);
  return m;
}

}  // namespace

TEST(RuntimeModelFile, DamagedFilesGetClearErrors) {
  const std::string good = fixture("yolo_nas_s.ynas");
  if (!fs::exists(good)) GTEST_SKIP() << good << " is missing";
  const std::string bytes = read_all(good);
  const fs::path dir = fs::temp_directory_path() / ("yolonas_rt_damaged_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto variant = [&](const std::string& name, const std::string& content) {
    const std::string p = (dir / name).string();
    write_all(p, content);
    return load_error(p);
  };
  EXPECT_NE(variant("truncated.ynas", bytes.substr(0, bytes.size() / 2)).find("truncated"), std::string::npos);
  std::string flipped = bytes;
  flipped[bytes.size() - 1000] ^= 0x10;  // one bit of a weight
  EXPECT_NE(variant("flipped.ynas", flipped).find("checksum mismatch"), std::string::npos);
  std::string header = bytes;
  header[20] ^= 0x01;  // the JSON offset
  EXPECT_NE(variant("header.ynas", header).find("header is corrupted"), std::string::npos);
  EXPECT_NE(variant("pth.ynas", "PK\x03\x04 a zip checkpoint").find("not a yolonas model file"), std::string::npos);
  EXPECT_NE(variant("empty.ynas", "").find("not a yolonas model file"), std::string::npos);
  std::string newer = bytes;
  newer[8] = 9;  // format version 9, with a valid header checksum
  uint32_t crc = 0;
  {  // recompute the header CRC with zlib's polynomial (the same as the writer)
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    crc = 0xFFFFFFFFu;
    for (int i = 0; i < 60; ++i) crc = table[(crc ^ static_cast<uint8_t>(newer[i])) & 0xFF] ^ (crc >> 8);
    crc ^= 0xFFFFFFFFu;
  }
  std::memcpy(&newer[60], &crc, 4);
  EXPECT_NE(variant("newer.ynas", newer).find("newer than this yolonas"), std::string::npos);
  EXPECT_NE(load_error((dir / "missing.ynas").string()).find("does not exist"), std::string::npos);
  EXPECT_NE(load_error(dir.string()).find("is a folder"), std::string::npos);
  fs::remove_all(dir);
}

TEST(RuntimeModelFile, OneDetectorServesFourThreadsAtOnce) {
  const std::string path = fixture("yolo_nas_s.ynas");
  if (!fs::exists(path)) GTEST_SKIP() << path << " is missing";
  const rt::Detector det = rt::Detector::load(path, 2);
  std::vector<cv::Mat> images = {test_card(320, 240), test_card(200, 300), test_card(640, 360), test_card(123, 77)};
  NmsParams nms = det.default_nms();
  nms.conf = 0.3f;  // random weights: many boxes pass 0.25; fewer keep the comparison short
  // Single-threaded results first, then 4 threads each running all four images 3 times.
  std::vector<ImageResult> want;
  for (const cv::Mat& im : images) want.push_back(det.predict(im, nms));
  std::vector<std::vector<ImageResult>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep)
        for (size_t i = 0; i < images.size(); ++i) got[t].push_back(det.predict(images[(i + t) % images.size()], nms));
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t)
    for (size_t k = 0; k < got[t].size(); ++k) {
      const ImageResult& a = got[t][k];
      const ImageResult& b = want[(k % images.size() + t) % images.size()];
      ASSERT_EQ(a.detections.size(), b.detections.size()) << "thread " << t << " run " << k;
      for (size_t i = 0; i < a.detections.size(); ++i) {
        EXPECT_EQ(a.detections[i].cls, b.detections[i].cls);
        EXPECT_EQ(a.detections[i].score, b.detections[i].score);
        EXPECT_EQ(a.detections[i].x1, b.detections[i].x1);
      }
    }
  // Concurrent runs got contexts of their own (at most one per thread), and the results above are equal.
  auto& engine = dynamic_cast<OnednnEngine&>(det.engine());
  EXPECT_GE(engine.net(1, 640, 640).contexts(), 1u);
  EXPECT_LE(engine.net(1, 640, 640).contexts(), 4u);
}

TEST(RuntimeCApi, LoadsDetectsAndReportsErrors) {
  const std::string path = fixture("yolo_nas_s.ynas");
  if (!fs::exists(path)) GTEST_SKIP() << path << " is missing";
  char err[512] = "";
  EXPECT_EQ(yolonas_load("/nonexistent/model.ynas", 1, err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("does not exist"), std::string::npos) << err;
  yolonas_detector* det = yolonas_load(path.c_str(), 2, err, sizeof err);
  ASSERT_NE(det, nullptr) << err;
  EXPECT_EQ(yolonas_num_classes(det), 80);
  EXPECT_STREQ(yolonas_class_name(det, 0), "person");
  EXPECT_EQ(yolonas_class_name(det, 80), nullptr);
  EXPECT_EQ(yolonas_input_width(det), 640);
  const cv::Mat bgr = test_card(320, 240);
  yolonas_detection out[10];
  const int n = yolonas_detect(det, bgr.data, bgr.cols, bgr.rows, static_cast<int>(bgr.step), YOLONAS_BGR, 0.3f, -1,
                               out, 10, err, sizeof err);
  ASSERT_GE(n, 0) << err;
  // The same image as RGB gives the same detections (the API swaps the channels).
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  yolonas_detection out2[10];
  EXPECT_EQ(yolonas_detect(det, rgb.data, rgb.cols, rgb.rows, static_cast<int>(rgb.step), YOLONAS_RGB, 0.3f, -1, out2, 10,
                           err, sizeof err),
            n);
  for (int i = 0; i < std::min(n, 10); ++i) EXPECT_EQ(out[i].score, out2[i].score);
  // Bad arguments: -1 and a message, never a crash.
  EXPECT_EQ(yolonas_detect(det, bgr.data, bgr.cols, bgr.rows, 5, YOLONAS_BGR, -1, -1, out, 10, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("stride"), std::string::npos) << err;
  EXPECT_EQ(yolonas_detect(det, nullptr, 10, 10, 30, YOLONAS_BGR, -1, -1, out, 10, err, sizeof err), -1);
  yolonas_free(det);
}

// The examples build against libyolonas_rt alone, and nothing in them or the library reaches LibTorch.
TEST(RuntimeLibrary, LinksNoLibTorchAndTheExamplesRun) {
  for (const std::string bin : {std::string(YOLONAS_RT_LIBRARY), std::string(YOLONAS_EXAMPLE_RT), std::string(YOLONAS_EXAMPLE_C)}) {
    const std::string cmd = "ldd '" + bin + "' 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
    EXPECT_EQ(out.find("libtorch"), std::string::npos) << bin << ":\n" << out;
    EXPECT_EQ(out.find("libc10"), std::string::npos) << bin << ":\n" << out;
    EXPECT_NE(out.find("libdnnl"), std::string::npos) << bin << ":\n" << out;
    if (bin != YOLONAS_RT_LIBRARY) EXPECT_NE(out.find("libyolonas_rt"), std::string::npos) << bin << ":\n" << out;
  }
  const std::string path = fixture("yolo_nas_s.ynas");
  if (!fs::exists(path)) GTEST_SKIP() << path << " is missing";
  const fs::path img = fs::temp_directory_path() / ("yolonas_rt_card_" + std::to_string(::getpid()) + ".jpg");
  cv::imwrite(img.string(), test_card(320, 240));
  // The FP32 and the INT8 model files of S, in the C++ and the C example.
  const std::string int8 = fixture("yolo_nas_s_int8.ynas");
  for (const auto& [cmd, engine] : std::vector<std::pair<std::string, std::string>>{
           {std::string(YOLONAS_EXAMPLE_RT) + " '" + path + "' '" + img.string() + "'", "oneDNN FP32"},
           {std::string(YOLONAS_EXAMPLE_RT) + " '" + int8 + "' '" + img.string() + "'", "oneDNN INT8"},
           {std::string(YOLONAS_EXAMPLE_C) + " '" + path + "'", "oneDNN FP32"},
           {std::string(YOLONAS_EXAMPLE_C) + " '" + int8 + "'", "oneDNN INT8"}}) {
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    EXPECT_EQ(::pclose(p), 0) << cmd << ":\n" << out;
    EXPECT_NE(out.find(engine), std::string::npos) << out;
  }
  fs::remove(img);
}

// BF16: the same network in bfloat16 (f32 accumulation, f32 head outputs) stays close to FP32; on a
// CPU without AVX512-BF16 it is refused with a message.
TEST(RuntimeBf16, StaysCloseToFp32OrIsRefused) {
  const std::string path = fixture("yolo_nas_s.ynas");
  if (!fs::exists(path)) GTEST_SKIP() << path << " is missing";
  if (!cpu_has_bf16()) {
    try {
      rt::Detector::load(path, 2, /*bf16=*/true);
      ADD_FAILURE() << "bf16 loaded on a CPU without AVX512-BF16";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("AVX512-BF16"), std::string::npos) << e.what();
    }
    return;
  }
  const ModelFile mf = read_model_file(path);
  OnednnEngine fp32(mf.graph);
  std::unique_ptr<OnednnEngine> bf16 = OnednnEngine::bf16(mf.graph);
  EXPECT_EQ(bf16->describe(), "oneDNN BF16");
  std::mt19937 rng(5);
  const Tensor x = random_input(1, 3, 320, 320, rng);
  std::vector<float> b32, s32, b16, s16;
  fp32.run(x.v.data(), 1, 320, 320, b32, s32);
  bf16->run(x.v.data(), 1, 320, 320, b16, s16);
  double db = 0, ds = 0;
  for (size_t i = 0; i < b32.size(); ++i) db = std::max(db, double(std::fabs(b32[i] - b16[i])));
  for (size_t i = 0; i < s32.size(); ++i) ds = std::max(ds, double(std::fabs(s32[i] - s16[i])));
  std::printf("BF16 vs FP32 (S, random weights, 320): boxes within %.3f px, scores within %.4f\n", db, ds);
  EXPECT_LT(db, 8.0);  // bfloat16 keeps 8 bits of mantissa: a few pixels on random weights
  EXPECT_LT(ds, 0.05);
  // An INT8 model file has no FP32 weights to run in bfloat16.
  EXPECT_THROW(rt::Detector::load(fixture("yolo_nas_s_int8.ynas"), 2, true), Error);
}

// Calibration methods on a hand-made histogram: most values small, a few outliers. max keeps the
// outliers unclipped; percentile and mse clip them and so quantize the bulk finer.
TEST(RuntimeInt8, CalibrationMethodsChooseTheClippingRange) {
  std::mt19937 rng(3);
  DnnGraph g;
  g.input_channels = 2;
  g.add(random_conv(DnnOpKind::Conv, 2, 2, 1, 1, true, rng));
  DnnRanges r;
  r.lo = {0.0f, 0.0f};
  r.hi = {10.0f, 10.0f};
  r.group_absmax = {10.0f, 10.0f};
  r.group_hist.assign(2, std::vector<double>(kCalibBins, 0.0));
  for (auto& h : r.group_hist) {
    for (int i = 0; i < kCalibBins / 10; ++i) h[static_cast<size_t>(i)] = 1000;  // |x| in [0, 1): the bulk
    h[kCalibBins - 1] = 1;                                                         // one value near 10
  }
  Int8Options o;
  o.float_heads = false;
  const float max_mult = plan_int8(g, r, o).mult[1];
  EXPECT_NEAR(max_mult, 255.0f / 10.0f, 1e-3);
  o.method = CalibMethod::Percentile;
  o.percentile = 99.9;
  const float pct_mult = plan_int8(g, r, o).mult[1];
  EXPECT_NEAR(255.0f / pct_mult, 1.0f, 0.01);  // the 99.9th percentile is the bulk's top
  o.method = CalibMethod::Mse;
  const float mse_mult = plan_int8(g, r, o).mult[1];
  // mse weighs the rounding error of the 204,800 small values against clipping the one outlier: it
  // clips some of the range (about 8 of 10 here), less than the percentile does.
  EXPECT_GT(mse_mult, max_mult * 1.1f);
  EXPECT_LT(mse_mult, pct_mult);
  // Without histograms the histogram methods are refused, not silently max.
  DnnRanges bare;
  bare.lo = r.lo, bare.hi = r.hi;
  EXPECT_THROW(plan_int8(g, bare, o), Error);
  EXPECT_EQ(parse_calib_method("mse"), CalibMethod::Mse);
  EXPECT_THROW(parse_calib_method("entropy?"), Error);
}
