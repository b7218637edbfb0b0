// Test-time augmentation (detect/tta.h) with an engine that "detects" the bright rectangle of each
// image exactly: every view's box must come back to the rectangle in the input's pixels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "yolonas/core/error.h"
#include "yolonas/detect/tta.h"

using namespace yolonas;

namespace {

constexpr float kPad = 114.f / 255.f;

// Two anchors per image: the bounding box of channel 0's pixels above 0.5 (scores 0.9 / 0.1), and a
// dummy box (scores 0). Records the input shapes it was given.
class BrightBoxEngine : public InferenceEngine {
 public:
  std::vector<std::pair<int, int>> shapes;
  std::vector<float> last_input;
  void run(const float* input, int batch, int h, int w, std::vector<float>& boxes, std::vector<float>& scores) override {
    shapes.emplace_back(h, w);
    last_input.assign(input, input + static_cast<size_t>(batch) * 3 * h * w);
    boxes.clear();
    scores.clear();
    for (int i = 0; i < batch; ++i) {
      const float* c0 = input + static_cast<size_t>(i) * 3 * h * w;
      int x1 = w, y1 = h, x2 = -1, y2 = -1;
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          if (c0[y * w + x] > 0.5f) x1 = std::min(x1, x), y1 = std::min(y1, y), x2 = std::max(x2, x), y2 = std::max(y2, y);
      boxes.insert(boxes.end(), {float(x1), float(y1), float(x2 + 1), float(y2 + 1), 0, 0, 1, 1});
      scores.insert(scores.end(), {0.9f, 0.1f, 0, 0});
    }
  }
  int num_classes() const override { return 2; }
  std::string describe() const override { return "bright box"; }
};

struct Rect {
  int x1, y1, x2, y2;
};

// A batch of h x w images, each with one bright rectangle on the pad colour.
std::vector<float> make_batch(int h, int w, const std::vector<Rect>& rects) {
  std::vector<float> x(rects.size() * 3 * h * w, kPad);
  for (size_t i = 0; i < rects.size(); ++i)
    for (int c = 0; c < 3; ++c)
      for (int y = rects[i].y1; y < rects[i].y2; ++y)
        for (int xx = rects[i].x1; xx < rects[i].x2; ++xx) x[((i * 3 + c) * h + y) * w + xx] = 1.0f;
  return x;
}

const int H = 128, W = 160;
const std::vector<Rect> kRects = {{40, 20, 100, 60}, {10, 70, 30, 120}};

}  // namespace

TEST(Tta, EveryViewMapsItsBoxBackToTheInput) {
  const std::vector<float> x = make_batch(H, W, kRects);
  for (const TtaView& v : std::vector<TtaView>{{1, false}, {1, true}, {0.83, true}, {0.67, false}, {0.5, true}}) {
    auto inner = std::make_unique<BrightBoxEngine>();
    TtaEngine tta(std::move(inner), kPad, {v});
    std::vector<float> boxes, scores;
    tta.run(x.data(), 2, H, W, boxes, scores);
    ASSERT_EQ(boxes.size(), 2u * 2 * 4);
    ASSERT_EQ(scores.size(), 2u * 2 * 2);
    const double tol = 1.0 / v.scale + 0.5;  // one pixel of the view, as the bilinear resize blurs the edges
    for (int i = 0; i < 2; ++i) {
      const float* b = &boxes[i * 2 * 4];
      EXPECT_NEAR(b[0], kRects[i].x1, tol) << "scale " << v.scale << " flip " << v.flip << " image " << i;
      EXPECT_NEAR(b[1], kRects[i].y1, tol) << "scale " << v.scale << " flip " << v.flip << " image " << i;
      EXPECT_NEAR(b[2], kRects[i].x2, tol) << "scale " << v.scale << " flip " << v.flip << " image " << i;
      EXPECT_NEAR(b[3], kRects[i].y2, tol) << "scale " << v.scale << " flip " << v.flip << " image " << i;
      EXPECT_FLOAT_EQ(scores[i * 2 * 2], 0.9f);
    }
  }
}

TEST(Tta, ViewsAreConcatenatedImageByImageAndTheInputIsLeftAlone) {
  const std::vector<float> x = make_batch(H, W, kRects);
  const std::vector<float> before = x;
  auto inner = std::make_unique<BrightBoxEngine>();
  BrightBoxEngine* e = inner.get();
  TtaEngine tta(std::move(inner), kPad);  // Ultralytics' views
  EXPECT_EQ(tta.describe(), "bright box, TTA: 1, 0.83 mirrored, 0.67");
  EXPECT_EQ(tta.num_classes(), 2);
  std::vector<float> boxes, scores;
  tta.run(x.data(), 2, H, W, boxes, scores);
  EXPECT_EQ(x, before) << "a mirrored view must not mirror the caller's input";
  // The inner engine saw the input, then canvases padded to multiples of 32: 0.83 -> 106x133 in
  // 128x160, 0.67 -> 86x107 in 96x128, the rest the pad value.
  ASSERT_EQ(e->shapes.size(), 3u);
  EXPECT_EQ(e->shapes[0], std::make_pair(128, 160));
  EXPECT_EQ(e->shapes[1], std::make_pair(128, 160));
  EXPECT_EQ(e->shapes[2], std::make_pair(96, 128));
  EXPECT_FLOAT_EQ(e->last_input[96 * 128 - 1], kPad);  // bottom-right of image 0's first plane
  // 3 views x 2 anchors per image, image 0's six anchors first: each view's box is that image's.
  ASSERT_EQ(boxes.size(), 2u * 6 * 4);
  for (int i = 0; i < 2; ++i)
    for (int a = 0; a < 6; a += 2) {
      const float* b = &boxes[(i * 6 + a) * 4];
      EXPECT_NEAR(b[0], kRects[i].x1, 2.0) << "image " << i << " anchor " << a;
      EXPECT_NEAR(b[3], kRects[i].y2, 2.0) << "image " << i << " anchor " << a;
    }
  // The order of the views does not change what each one gives.
  std::vector<float> b1, s1, b2, s2;
  TtaEngine(std::make_unique<BrightBoxEngine>(), kPad, {{1, true}, {1, false}}).run(x.data(), 2, H, W, b1, s1);
  TtaEngine(std::make_unique<BrightBoxEngine>(), kPad, {{1, false}, {1, true}}).run(x.data(), 2, H, W, b2, s2);
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 8; ++k) {
      EXPECT_FLOAT_EQ(b1[i * 16 + k], b2[i * 16 + 8 + k]) << "image " << i;  // view 0 of one = view 1 of the other
      EXPECT_FLOAT_EQ(b1[i * 16 + 8 + k], b2[i * 16 + k]) << "image " << i;
    }
}

TEST(Tta, RefusesViewsItCannotRun) {
  EXPECT_THROW(TtaEngine(std::make_unique<BrightBoxEngine>(), kPad, {}), Error);
  EXPECT_THROW(TtaEngine(std::make_unique<BrightBoxEngine>(), kPad, {{0.0, false}}), Error);
  EXPECT_THROW(TtaEngine(std::make_unique<BrightBoxEngine>(), kPad, {{1.5, false}}), Error);
  EXPECT_THROW(TtaEngine(nullptr, kPad), Error);
}

namespace {

// A dense "model" on levels of stride 8 and 16: anchor (y, x) of a level scores class 0 with the mean
// of channel 0 over its cell (v) plus `bias` * x / (w - 1), class 1 with 0.5 * v, and boxes its cell
// widened by v on both sides and moved right by `shift`. With bias = shift = 0 it sees a mirrored
// picture exactly mirrored.
class CellEngine : public InferenceEngine {
 public:
  float bias = 0, shift = 0;
  int calls = 0, last_batch = 0;
  void run(const float* input, int batch, int h, int w, std::vector<float>& boxes, std::vector<float>& scores) override {
    ++calls;
    last_batch = batch;
    boxes.clear();
    scores.clear();
    for (int i = 0; i < batch; ++i)
      for (int s : {8, 16}) {
        const int gh = h / s, gw = w / s;
        for (int y = 0; y < gh; ++y)
          for (int x = 0; x < gw; ++x) {
            double sum = 0;
            for (int yy = y * s; yy < (y + 1) * s; ++yy)
              for (int xx = x * s; xx < (x + 1) * s; ++xx) sum += input[static_cast<size_t>(i) * 3 * h * w + yy * w + xx];
            const float v = static_cast<float>(sum / (s * s));
            boxes.insert(boxes.end(), {x * s - v + shift, float(y * s), (x + 1) * s + v + shift, float((y + 1) * s)});
            scores.insert(scores.end(), {v + bias * x / (gw - 1), 0.5f * v});
          }
      }
  }
  int num_classes() const override { return 2; }
  std::string describe() const override { return "cells"; }
};

// Two 128x160 pictures with no left-right symmetry: a ramp plus a bright patch.
std::vector<float> asymmetric_batch() {
  std::vector<float> x(2 * 3 * H * W);
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < H; ++y)
        for (int xx = 0; xx < W; ++xx)
          x[((i * 3 + c) * H + y) * W + xx] = 0.3f * xx / W + (i + 1) * 0.1f * (y % 7) / 7 +
                                              (xx > 20 + 30 * i && xx < 50 + 30 * i && y > 10 && y < 40 ? 0.5f : 0.f);
  return x;
}

}  // namespace

TEST(TtaFlip, AMirrorEquivariantModelGivesItsOwnOutput) {
  // The mirror's anchors must land on the anchors they mirror: for a model that sees a mirrored
  // picture mirrored, the average of the two views is the plain view, anchor by anchor.
  const std::vector<float> x = asymmetric_batch();
  const std::vector<float> before = x;
  CellEngine plain;
  std::vector<float> pb, ps;
  plain.run(x.data(), 2, H, W, pb, ps);
  auto inner = std::make_unique<CellEngine>();
  CellEngine* e = inner.get();
  FlipAverageEngine flip(std::move(inner), {8, 16});
  EXPECT_EQ(flip.describe(), "cells, flip-averaged");
  EXPECT_EQ(flip.num_classes(), 2);
  std::vector<float> fb, fs;
  flip.run(x.data(), 2, H, W, fb, fs);
  EXPECT_EQ(x, before) << "the mirror image must not be made in the caller's input";
  EXPECT_EQ(e->calls, 1);
  EXPECT_EQ(e->last_batch, 4) << "the two views go through the engine as one batch";
  ASSERT_EQ(fb.size(), pb.size());
  ASSERT_EQ(fs.size(), ps.size());
  for (size_t k = 0; k < pb.size(); ++k) ASSERT_NEAR(fb[k], pb[k], 1e-4) << "box value " << k;
  for (size_t k = 0; k < ps.size(); ++k) ASSERT_NEAR(fs[k], ps[k], 1e-5) << "score " << k;
  // And the plain view really differs from its mirror (the test would pass for any mapping otherwise).
  std::vector<float> mirrored(x.size());
  for (size_t row = 0; row < x.size() / W; ++row)
    std::reverse_copy(x.begin() + row * W, x.begin() + (row + 1) * W, mirrored.begin() + row * W);
  std::vector<float> mb, ms;
  plain.run(mirrored.data(), 2, H, W, mb, ms);
  double diff = 0;
  for (size_t k = 0; k < ps.size(); ++k) diff = std::max(diff, double(std::fabs(ms[k] - ps[k])));
  EXPECT_GT(diff, 0.2);
}

TEST(TtaFlip, AveragesOutWhatTheMirrorReverses) {
  // A score that grows left to right averages to its middle value, and a box moved right by `shift`
  // comes back to where it belongs: the mirror's box is mirrored back before the average.
  const std::vector<float> x = asymmetric_batch();
  CellEngine plain;
  std::vector<float> pb, ps;
  plain.run(x.data(), 2, H, W, pb, ps);
  auto inner = std::make_unique<CellEngine>();
  inner->bias = 0.2f;
  inner->shift = 3.0f;
  FlipAverageEngine flip(std::move(inner), {8, 16});
  std::vector<float> fb, fs;
  flip.run(x.data(), 2, H, W, fb, fs);
  ASSERT_EQ(fs.size(), ps.size());
  for (size_t a = 0; a < ps.size() / 2; ++a) {
    ASSERT_NEAR(fs[a * 2], ps[a * 2] + 0.1f, 1e-5) << "anchor " << a;
    ASSERT_NEAR(fs[a * 2 + 1], ps[a * 2 + 1], 1e-5) << "anchor " << a;
    for (int k = 0; k < 4; ++k) ASSERT_NEAR(fb[a * 4 + k], pb[a * 4 + k], 1e-4) << "anchor " << a << " value " << k;
  }
}

TEST(TtaFlip, RefusesInputsWhoseMirrorMissesTheGrid) {
  EXPECT_THROW(FlipAverageEngine(nullptr, {8, 16}), Error);
  EXPECT_THROW(FlipAverageEngine(std::make_unique<CellEngine>(), {}), Error);
  FlipAverageEngine flip(std::make_unique<CellEngine>(), {8, 16});
  std::vector<float> x(3 * 128 * 152, 0.f), b, s;
  try {
    flip.run(x.data(), 1, 128, 152, b, s);  // 152 = 9.5 cells of 16
    FAIL() << "a width that is not a multiple of 16 must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("152x128"), std::string::npos) << e.what();
  }
}
