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
