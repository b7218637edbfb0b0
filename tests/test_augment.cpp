// Augmentation units: what each does to boxes (and pixels), SG's semantics, and seeded determinism.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <vector>

#include "yolonas/data/augment.h"

using namespace yolonas;

namespace {

cv::Mat solid(int h, int w, cv::Scalar bgr) { return cv::Mat(h, w, CV_8UC3, bgr); }

// An image with a filled rectangle exactly where its box is.
Sample rect_sample(int h, int w, Box b, cv::Scalar bg = {40, 40, 40}, cv::Scalar fg = {0, 200, 255}) {
  Sample s{solid(h, w, bg), {b}};
  cv::rectangle(s.image, cv::Rect(cv::Point(int(b.x1), int(b.y1)), cv::Point(int(b.x2), int(b.y2))), fg, cv::FILLED);
  return s;
}

void expect_box(const Box& b, float x1, float y1, float x2, float y2, float tol = 1e-4f) {
  EXPECT_NEAR(b.x1, x1, tol);
  EXPECT_NEAR(b.y1, y1, tol);
  EXPECT_NEAR(b.x2, x2, tol);
  EXPECT_NEAR(b.y2, y2, tol);
}

bool same_image(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

AugmentConfig only(bool mosaic, bool affine, bool hsv, bool flip) {
  AugmentConfig c = AugmentConfig::none();
  c.mosaic = mosaic, c.affine = affine, c.hsv = hsv, c.flip = flip;
  return c;
}

}  // namespace

TEST(AugmentRandom, DrawsStayInRangeAndRepeatForASeed) {
  Rng a(7), b(7);
  for (int i = 0; i < 2000; ++i) {
    const double u = rand_uniform(a, -2.0, 3.0);
    EXPECT_GE(u, -2.0);
    EXPECT_LT(u, 3.0);
    EXPECT_EQ(u, rand_uniform(b, -2.0, 3.0));
    const int k = rand_int(a, 3, 5);
    EXPECT_GE(k, 3);
    EXPECT_LE(k, 5);  // inclusive, like Python's random.randint
    EXPECT_EQ(k, rand_int(b, 3, 5));
  }
  // Every value of a small inclusive range shows up.
  std::vector<int> seen(3, 0);
  for (int i = 0; i < 300; ++i) ++seen[rand_int(a, 0, 2)];
  for (int n : seen) EXPECT_GT(n, 50);
  EXPECT_FALSE(rand_chance(a, 0.0));
  EXPECT_TRUE(rand_chance(a, 1.0));
}

TEST(AugmentFlip, MirrorsBoxesAndPixels) {
  Sample s = rect_sample(50, 100, {10, 20, 30, 40, 3});
  s.image.at<cv::Vec3b>(5, 2) = {1, 2, 3};
  hflip(s);
  ASSERT_EQ(s.boxes.size(), 1u);
  expect_box(s.boxes[0], 70, 20, 90, 40);  // x1' = W - x2, x2' = W - x1
  EXPECT_EQ(s.boxes[0].cls, 3);
  EXPECT_EQ(s.image.at<cv::Vec3b>(5, 97), cv::Vec3b(1, 2, 3));  // column x -> W - 1 - x
  EXPECT_EQ(s.image.at<cv::Vec3b>(30, 80), cv::Vec3b(0, 200, 255));
}

TEST(AugmentFilter, ClipsAndDropsDegenerateBoxes) {
  Sample s{solid(100, 200, {0, 0, 0}), {}};
  s.boxes = {{-10, -5, 50, 40, 0},     // clipped to (0,0,50,40)
             {150, 90, 260, 130, 1},   // clipped to (150,90,200,100)
             {20, 20, 20.5f, 60, 2},   // 0.5 px wide: dropped at min edge 1, kept at 0
             {30, 30, 30, 40, 3},      // zero width: dropped even at 0
             {210, 10, 250, 20, 4}};   // entirely outside: zero width after clipping
  Sample a = s;
  clip_and_filter_boxes(a, 0.0f);
  ASSERT_EQ(a.boxes.size(), 3u);
  expect_box(a.boxes[0], 0, 0, 50, 40);
  expect_box(a.boxes[1], 150, 90, 200, 100);
  EXPECT_EQ(a.boxes[2].cls, 2);
  Sample b = s;
  clip_and_filter_boxes(b, 1.0f);  // DetectionTargetsFormatTransform: min(w, h) must exceed 1 px
  ASSERT_EQ(b.boxes.size(), 2u);
  EXPECT_EQ(b.boxes[1].cls, 1);
}

TEST(AugmentAffine, PureTranslationMovesBoxesAndPixelsExactly) {
  Sample s = rect_sample(80, 120, {10, 20, 30, 50, 1});
  const cv::Matx23d M(1, 0, 7, 0, 1, -4);
  AugmentConfig cfg;
  warp_affine(s, M, 80, 120, cfg);
  ASSERT_EQ(s.boxes.size(), 1u);
  expect_box(s.boxes[0], 17, 16, 37, 46);
  EXPECT_EQ(s.image.at<cv::Vec3b>(16, 17), cv::Vec3b(0, 200, 255));  // rectangle's old top-left corner
  EXPECT_EQ(s.image.at<cv::Vec3b>(79, 2), cv::Vec3b(128, 128, 128)); // uncovered rows: border value 128
}

TEST(AugmentAffine, RandomMatrixWithoutRangesIsSGsCentring) {
  // degrees 0, scale 1, shear 0, translate 0: M = T(0.5*out) * C(-in//2). Same even size -> identity.
  AugmentConfig cfg;
  cfg.degrees = 0, cfg.shear = 0, cfg.translate = 0, cfg.scale_min = cfg.scale_max = 1.0;
  Rng rng(1);
  cv::Matx23d M = random_affine_matrix(64, 96, 64, 96, cfg, rng);
  EXPECT_NEAR(M(0, 0), 1, 1e-12);
  EXPECT_NEAR(M(0, 1), 0, 1e-12);
  EXPECT_NEAR(M(0, 2), 0, 1e-12);
  EXPECT_NEAR(M(1, 2), 0, 1e-12);
  // A 2x canvas (mosaic) into the output: its centre lands on the output centre.
  M = random_affine_matrix(128, 192, 64, 96, cfg, rng);
  EXPECT_NEAR(M(0, 2), 48 - 96, 1e-12);
  EXPECT_NEAR(M(1, 2), 32 - 64, 1e-12);
  // With translate t the centre moves by at most t * size; the box moves by exactly M's offset.
  cfg.translate = 0.1;
  Sample s = rect_sample(64, 96, {20, 10, 40, 30, 0});
  Rng r2(5), r3(5);
  const cv::Matx23d Mr = random_affine_matrix(64, 96, 64, 96, cfg, r2);
  EXPECT_LE(std::abs(Mr(0, 2)), 0.1 * 96 + 1e-9);
  EXPECT_LE(std::abs(Mr(1, 2)), 0.1 * 64 + 1e-9);
  random_affine(s, 64, 96, cfg, r3);  // same seed -> same matrix
  ASSERT_EQ(s.boxes.size(), 1u);
  expect_box(s.boxes[0], float(20 + Mr(0, 2)), float(10 + Mr(1, 2)), float(40 + Mr(0, 2)), float(30 + Mr(1, 2)));
}

TEST(AugmentAffine, RotatedBoxIsTheCornersMinMax) {
  // 45 degrees about the box centre (50, 50): a 20x20 box becomes 20*sqrt(2) wide.
  const double c = std::cos(M_PI / 4), s = std::sin(M_PI / 4);
  const cv::Matx23d M(c, s, 50 - c * 50 - s * 50, -s, c, 50 + s * 50 - c * 50);
  Sample smp = rect_sample(100, 100, {40, 40, 60, 60, 0});
  warp_affine(smp, M, 100, 100, AugmentConfig{});
  ASSERT_EQ(smp.boxes.size(), 1u);
  const float half = float(10 * std::sqrt(2.0));
  expect_box(smp.boxes[0], 50 - half, 50 - half, 50 + half, 50 + half, 1e-3f);
  // Corners beyond the output are clipped to it.
  Sample edge = rect_sample(100, 100, {80, 80, 99, 99, 0});
  warp_affine(edge, cv::Matx23d(1, 0, 10, 0, 1, 10), 100, 100, AugmentConfig{});
  expect_box(edge.boxes[0], 90, 90, 100, 100);
}

TEST(AugmentAffine, CandidateFilterDropsShrunkenBoxes) {
  AugmentConfig cfg;
  const cv::Matx23d shrink(0.25, 0, 0, 0, 0.25, 0);  // area ratio 1/16 < area_thr 0.1
  Sample s{solid(200, 200, {0, 0, 0}), {{0, 0, 100, 100, 0}, {0, 0, 4, 6, 1}}};
  Sample off = s;
  warp_affine(off, shrink, 200, 200, cfg);  // filter off (fine-tuning recipe): both kept
  ASSERT_EQ(off.boxes.size(), 2u);
  expect_box(off.boxes[0], 0, 0, 25, 25);
  cfg.filter_candidates = true;
  Sample on = s;
  warp_affine(on, shrink, 200, 200, cfg);
  EXPECT_TRUE(on.boxes.empty());
  // A half-size warp keeps the big box (area ratio 0.25) but drops the one that becomes 2 x 3 px
  // (wh_thr 2: sides must exceed 2 px).
  Sample half = s;
  warp_affine(half, cv::Matx23d(0.5, 0, 0, 0, 0.5, 0), 200, 200, cfg);
  ASSERT_EQ(half.boxes.size(), 1u);
  EXPECT_EQ(half.boxes[0].cls, 0);
  // Aspect ratio above ar_thr (20) is dropped, below kept.
  Sample thin{solid(400, 400, {0, 0, 0}), {{0, 0, 10, 300, 2}, {0, 0, 20, 300, 3}}};
  warp_affine(thin, cv::Matx23d(1, 0, 0, 0, 1, 0), 400, 400, cfg);
  ASSERT_EQ(thin.boxes.size(), 1u);
  EXPECT_EQ(thin.boxes[0].cls, 3);
}

TEST(AugmentRescale, PaddedRescaleScalesBoxesByR) {
  // 100 x 200 (h x w) into 64 x 64: r = 0.32, resized to 64 x 32, padded bottom with 114.
  Sample s = rect_sample(100, 200, {50, 25, 150, 75, 2});
  const Letterbox lb = rescale_and_pad(s, 64, 64, 114, /*center=*/false);
  EXPECT_DOUBLE_EQ(lb.scale, 0.32);
  EXPECT_EQ(lb.new_w, 64);
  EXPECT_EQ(lb.new_h, 32);
  EXPECT_EQ(lb.pad_top, 0);
  EXPECT_EQ(lb.pad_bottom, 32);
  ASSERT_EQ(s.image.size(), cv::Size(64, 64));
  expect_box(s.boxes[0], 16, 8, 48, 24);
  EXPECT_EQ(s.image.at<cv::Vec3b>(40, 10), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(s.image.at<cv::Vec3b>(63, 63), cv::Vec3b(114, 114, 114));

  Sample c = rect_sample(100, 200, {50, 25, 150, 75, 2});
  const Letterbox lc = rescale_and_pad(c, 64, 64, 114, /*center=*/true);
  EXPECT_EQ(lc.pad_top, 16);
  EXPECT_EQ(lc.pad_left, 0);
  expect_box(c.boxes[0], 16, 24, 48, 40);
  EXPECT_EQ(c.image.at<cv::Vec3b>(5, 10), cv::Vec3b(114, 114, 114));

  // int() truncation of the resized size (SG): 3 x 7 into 10 x 10 -> r = 10/7, height int(4.28) = 4.
  Sample t{solid(3, 7, {9, 9, 9}), {}};
  const Letterbox lt = rescale_and_pad(t, 10, 10, 114, false);
  EXPECT_EQ(lt.new_h, 4);
  EXPECT_EQ(lt.new_w, 10);
}

TEST(AugmentRescale, PadToSizeOnlyPads) {
  // SG's COCO validation: the image was loaded at 636 and is padded (not resized) to 640.
  Sample s = rect_sample(30, 50, {10, 5, 20, 25, 1});
  const Letterbox lb = pad_to_size(s, 40, 64, 114, /*center=*/true);
  EXPECT_EQ(s.image.size(), cv::Size(64, 40));
  EXPECT_DOUBLE_EQ(lb.scale, 1.0);
  EXPECT_EQ(lb.pad_left, 7);  // (64 - 50) // 2
  EXPECT_EQ(lb.pad_top, 5);
  EXPECT_EQ(lb.pad_right, 7);
  expect_box(s.boxes[0], 17, 10, 27, 30);
  EXPECT_EQ(s.image.at<cv::Vec3b>(0, 0), cv::Vec3b(114, 114, 114));
  Sample b = rect_sample(30, 50, {10, 5, 20, 25, 1});
  pad_to_size(b, 40, 64, 114, /*center=*/false);
  expect_box(b.boxes[0], 10, 5, 20, 25);
  EXPECT_EQ(b.image.at<cv::Vec3b>(39, 63), cv::Vec3b(114, 114, 114));
}

TEST(AugmentRescale, FitLongestSideTruncates) {
  Sample s = rect_sample(480, 640, {64, 48, 320, 240, 0});
  const double r = rescale_to_fit(s, 320, 320);
  EXPECT_DOUBLE_EQ(r, 0.5);
  EXPECT_EQ(s.image.size(), cv::Size(320, 240));
  expect_box(s.boxes[0], 32, 24, 160, 120);
}

TEST(AugmentMosaic, PlacesTheFourImagesInTheirQuadrants) {
  const cv::Scalar colors[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}};
  std::array<Sample, 4> parts;
  for (int i = 0; i < 4; ++i) parts[i] = Sample{solid(64, 64, colors[i]), {{16, 16, 48, 48, i}}};
  // Centre exactly in the middle of the 128 x 128 canvas: each image fills one quadrant.
  Sample m = mosaic4_at(parts, 64, 64, 64, 64, 114);
  ASSERT_EQ(m.image.size(), cv::Size(128, 128));
  const cv::Point probe[4] = {{10, 10}, {100, 10}, {10, 100}, {100, 100}};
  const float off[4][2] = {{0, 0}, {64, 0}, {0, 64}, {64, 64}};
  ASSERT_EQ(m.boxes.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const cv::Vec3b px = m.image.at<cv::Vec3b>(probe[i]);
    EXPECT_EQ(px, cv::Vec3b(uchar(colors[i][0]), uchar(colors[i][1]), uchar(colors[i][2]))) << "part " << i;
    EXPECT_EQ(m.boxes[i].cls, i);
    expect_box(m.boxes[i], 16 + off[i][0], 16 + off[i][1], 48 + off[i][0], 48 + off[i][1]);
  }

  // Off-centre (xc=50, yc=70): part 0 is cropped on the left (14 px), part 3 overflows nothing.
  Sample o = mosaic4_at(parts, 64, 64, 50, 70, 114);
  ASSERT_EQ(o.boxes.size(), 4u);
  expect_box(o.boxes[0], 16 - 14, 16 + 6, 48 - 14, 48 + 6);   // placed at (-14, 6)
  expect_box(o.boxes[1], 50 + 16, 16 + 6, 50 + 48, 48 + 6);   // top-right starts at xc
  expect_box(o.boxes[2], 2, 70 + 16, 34, 70 + 48);            // bottom-left at (-14, 70)
  expect_box(o.boxes[3], 50 + 16, 70 + 16, 50 + 48, 70 + 48);
  EXPECT_EQ(o.image.at<cv::Vec3b>(2, 10), cv::Vec3b(114, 114, 114));  // above part 0: border
  EXPECT_EQ(o.image.at<cv::Vec3b>(127, 127), cv::Vec3b(114, 114, 114));

  // Parts larger than the output are first fitted to it (longest side).
  std::array<Sample, 4> big = parts;
  big[3] = Sample{solid(128, 256, colors[3]), {{0, 0, 256, 128, 3}}};
  Sample b = mosaic4_at(big, 64, 64, 64, 64, 114);
  expect_box(b.boxes[3], 64, 64, 128, 96);
}

TEST(AugmentMosaic, RandomCentreStaysInSGsRange) {
  std::array<Sample, 4> parts;
  for (int i = 0; i < 4; ++i) parts[i] = Sample{solid(32, 32, {0, 0, 0}), {{0, 0, 32, 32, i}}};
  Rng rng(3);
  for (int t = 0; t < 50; ++t) {
    Sample m = mosaic4(parts, 64, 64, 114, rng);
    // Part 3's top-left corner is the centre, drawn in [0.5, 1.5) * 64.
    ASSERT_FALSE(m.boxes.empty());
    const Box& b3 = m.boxes.back();
    EXPECT_GE(b3.x1, 32);
    EXPECT_LT(b3.x1, 96);
    EXPECT_GE(b3.y1, 32);
    EXPECT_LT(b3.y1, 96);
  }
}

TEST(AugmentMixup, AveragesImagesAndAppendsBoxes) {
  AugmentConfig cfg;
  cfg.mixup_flip_prob = 0.0;
  cfg.mixup_scale_min = cfg.mixup_scale_max = 1.0;  // no jitter: the other image lands unscaled at (0,0)
  Sample base{solid(64, 64, {100, 101, 10}), {{1, 2, 20, 30, 0}}};
  Sample other{solid(64, 64, {200, 50, 255}), {{10, 10, 40, 50, 1}}};
  Rng rng(11);
  mixup(base, other, cfg, rng);
  ASSERT_EQ(base.boxes.size(), 2u);
  expect_box(base.boxes[0], 1, 2, 20, 30);
  expect_box(base.boxes[1], 10, 10, 40, 50);
  EXPECT_EQ(base.boxes[1].cls, 1);
  // (0.5 a + 0.5 b) truncated: (100+200)/2, (101+50)/2 = 75.5 -> 75, (10+255)/2 = 132.5 -> 132.
  EXPECT_EQ(base.image.at<cv::Vec3b>(5, 5), cv::Vec3b(150, 75, 132));

  // A smaller other image is fitted (r = 2) and its boxes scaled; flip mirrors them first.
  cfg.mixup_flip_prob = 1.0;
  Sample base2{solid(64, 64, {0, 0, 0}), {}};
  Sample small{solid(32, 32, {0, 0, 0}), {{0, 0, 8, 16, 4}}};
  mixup(base2, small, cfg, rng);
  ASSERT_EQ(base2.boxes.size(), 1u);
  expect_box(base2.boxes[0], 48, 0, 64, 32);
}

TEST(AugmentHsv, ShiftsHueSaturationValueAndKeepsBoxes) {
  // Pure red (BGR 0,0,255) has H = 0; +60 in OpenCV's 0..180 hue is 120 degrees: green.
  cv::Mat red = solid(4, 4, {0, 0, 255});
  apply_hsv_shift(red, 60, 0, 0);
  EXPECT_EQ(red.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 255, 0));
  // Hue wraps modulo 180: -60 from red is 120 -> blue.
  cv::Mat red2 = solid(4, 4, {0, 0, 255});
  apply_hsv_shift(red2, -60, 0, 0);
  EXPECT_EQ(red2.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 0, 0));
  // Value is clipped at 0.
  cv::Mat dark = solid(4, 4, {10, 20, 30});
  apply_hsv_shift(dark, 0, 0, -100);
  EXPECT_EQ(dark.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));

  // In the pipeline: boxes unchanged, pixels changed (with a seed whose gains are non-zero).
  AugmentConfig cfg = only(false, false, true, false);
  const Sample src = rect_sample(64, 64, {8, 8, 40, 40, 1}, {90, 120, 60}, {30, 160, 220});
  bool changed = false;
  for (unsigned seed = 0; seed < 8 && !changed; ++seed) {
    Rng rng(seed);
    Sample out = augment_train(src, cfg, 64, 64, nullptr, rng);
    ASSERT_EQ(out.boxes.size(), 1u);
    expect_box(out.boxes[0], 8, 8, 40, 40);
    changed = !same_image(out.image, src.image);
  }
  EXPECT_TRUE(changed);
  // Gains are bounded by hgain/sgain/vgain and truncated to integers.
  Rng rng(5);
  for (int i = 0; i < 100; ++i) {
    cv::Mat m = solid(2, 2, {1, 2, 3});
    const auto g = augment_hsv(m, 5, 30, 30, rng);
    EXPECT_LE(std::abs(g[0]), 5);
    EXPECT_LE(std::abs(g[1]), 30);
    EXPECT_LE(std::abs(g[2]), 30);
  }
}

TEST(AugmentPipeline, OutputHasTheTrainingSizeAndValidBoxes) {
  std::vector<Sample> pool;
  for (int i = 0; i < 6; ++i)
    pool.push_back(rect_sample(48 + 8 * i, 64, {4.0f + i, 6, 30.0f + i, 40, i % 3}));
  const SampleSource source = [&](Rng& r, bool) { return pool[rand_int(r, 0, int(pool.size()) - 1)]; };
  AugmentConfig cfg;  // fine-tuning recipe: mosaic, affine, HSV, flip
  cfg.mixup = true;   // and mixup, to exercise every unit
  for (unsigned seed = 0; seed < 20; ++seed) {
    Rng rng(seed);
    Sample out = augment_train(pool[seed % pool.size()], cfg, 64, 64, source, rng);
    ASSERT_EQ(out.image.size(), cv::Size(64, 64));
    ASSERT_EQ(out.image.type(), CV_8UC3);
    for (const Box& b : out.boxes) {
      EXPECT_GE(b.x1, 0);
      EXPECT_GE(b.y1, 0);
      EXPECT_LE(b.x2, 64);
      EXPECT_LE(b.y2, 64);
      EXPECT_GT(std::min(b.width(), b.height()), cfg.min_box_edge);
    }
  }
}

TEST(AugmentPipeline, SameSeedSameResultDifferentSeedDifferent) {
  std::vector<Sample> pool;
  for (int i = 0; i < 5; ++i) pool.push_back(rect_sample(64, 48 + 4 * i, {5, 5, 30, 40.0f + i, i}));
  const SampleSource source = [&](Rng& r, bool) { return pool[rand_int(r, 0, int(pool.size()) - 1)]; };
  AugmentConfig cfg = AugmentConfig::finetune_recipe();
  cfg.mixup = true;
  auto run = [&](unsigned seed) {
    Rng rng(seed);
    return augment_train(pool[0], cfg, 64, 64, source, rng);
  };
  const cv::Mat before = pool[0].image.clone();
  const Sample a = run(42), b = run(42), c = run(43);
  // The input's pixels are shared (cv::Mat copies) but never written: the units make new buffers.
  EXPECT_TRUE(same_image(pool[0].image, before));
  EXPECT_TRUE(same_image(a.image, b.image));
  ASSERT_EQ(a.boxes.size(), b.boxes.size());
  for (size_t i = 0; i < a.boxes.size(); ++i) {
    EXPECT_EQ(a.boxes[i].x1, b.boxes[i].x1);
    EXPECT_EQ(a.boxes[i].y2, b.boxes[i].y2);
    EXPECT_EQ(a.boxes[i].cls, b.boxes[i].cls);
  }
  EXPECT_FALSE(same_image(a.image, c.image));
}

TEST(AugmentPipeline, EverythingOffIsRescaleAndPadOnly) {
  const Sample src = rect_sample(32, 64, {8, 8, 24, 24, 0});
  Rng rng(1);
  Sample out = augment_train(src, AugmentConfig::none(), 64, 64, nullptr, rng);
  Sample ref = src;
  rescale_and_pad(ref, 64, 64, 114, false);
  EXPECT_TRUE(same_image(out.image, ref.image));
  ASSERT_EQ(out.boxes.size(), 1u);
  expect_box(out.boxes[0], 8, 8, 24, 24);
}

TEST(AugmentConfigPresets, FineTuneAndCocoRecipes) {
  const AugmentConfig f = AugmentConfig::finetune_recipe();
  EXPECT_TRUE(f.mosaic);
  EXPECT_DOUBLE_EQ(f.mosaic_prob, 1.0);
  EXPECT_DOUBLE_EQ(f.degrees, 0.0);
  EXPECT_DOUBLE_EQ(f.translate, 0.1);
  EXPECT_DOUBLE_EQ(f.scale_min, 0.5);
  EXPECT_DOUBLE_EQ(f.scale_max, 1.5);
  EXPECT_EQ(f.affine_border_value, 128);
  EXPECT_FALSE(f.filter_candidates);
  EXPECT_FALSE(f.mixup);
  EXPECT_DOUBLE_EQ(f.hgain, 5.0);
  EXPECT_DOUBLE_EQ(f.sgain, 30.0);
  EXPECT_DOUBLE_EQ(f.flip_prob, 0.5);
  EXPECT_DOUBLE_EQ(f.rgb2bgr_prob, 0.0);
  const AugmentConfig c = AugmentConfig::coco_recipe();
  EXPECT_FALSE(c.mosaic);
  EXPECT_DOUBLE_EQ(c.translate, 0.25);
  EXPECT_TRUE(c.filter_candidates);
  EXPECT_TRUE(c.affine_keep_size);
  EXPECT_TRUE(c.mixup);
  EXPECT_DOUBLE_EQ(c.hsv_prob, 0.5);
  EXPECT_DOUBLE_EQ(c.hgain, 18.0);
  EXPECT_DOUBLE_EQ(c.rgb2bgr_prob, 0.5);
  EXPECT_NE(f.describe().find("mosaic"), std::string::npos);
}
