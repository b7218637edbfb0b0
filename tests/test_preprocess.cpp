// SuperGradients predict() preprocessing: bit-exact against SG's stored network inputs, plus the
// geometry rules (banker's rounding, centre padding) and input-format handling.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "test_util.h"
#include "yolonas/core/error.h"
#include "yolonas/core/npy.h"
#include "yolonas/detect/preprocess.h"

using yolonas::Error;
using yolonas::Letterbox;
using yolonas::PreprocessParams;
using yolonas::test::golden_dir;
using yolonas::test::tiny_dir;

namespace {

// SG loads with PIL, which ignores the EXIF orientation tag; cv::imread would apply it by default.
cv::Mat read_like_sg(const std::string& path) {
  cv::Mat m = cv::imread(path, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  if (m.empty()) ADD_FAILURE() << "cannot read " << path;
  return m;
}

PreprocessParams params(int input, int rescale) {
  PreprocessParams p;
  p.input_h = p.input_w = input;
  p.rescale_h = p.rescale_w = rescale;
  return p;
}

std::vector<float> run(const cv::Mat& img, const PreprocessParams& p, Letterbox* lb = nullptr) {
  std::vector<float> out(3 * static_cast<size_t>(p.input_h) * p.input_w, -1.0f);
  const Letterbox l = yolonas::preprocess_image(img, p, out.data());
  if (lb) *lb = l;
  return out;
}

// Compares `got` with item `item` of an [N,3,H,W] float32 .npy: returns max |diff| and counts unequal values.
double max_abs_diff(const std::vector<float>& got, const std::string& npy, int item, size_t* unequal) {
  const yolonas::NpyArray ref = yolonas::load_npy(npy);
  EXPECT_EQ(ref.dtype, "<f4");
  const std::vector<float> all = ref.to_float();
  const size_t per_item = got.size();
  EXPECT_EQ(all.size() % per_item, 0u);
  double worst = 0.0;
  *unequal = 0;
  for (size_t i = 0; i < per_item; ++i) {
    const float r = all[item * per_item + i];
    if (r != got[i]) ++*unequal;
    worst = std::max(worst, std::abs(static_cast<double>(r) - got[i]));
  }
  return worst;
}

}  // namespace

// OpenCV's JPEG decoder (libjpeg-turbo) gives exactly PIL's uint8 RGB array for this file: the manifest
// records the sum of SG's decoded array (and its sha256, which was checked by hand to match too).
TEST(Preprocess, JpegDecodeMatchesPil) {
  const cv::Mat bgr = read_like_sg(tiny_dir() + "/image_src_grace_hopper.jpg");
  ASSERT_EQ(bgr.rows, 600);
  ASSERT_EQ(bgr.cols, 512);
  ASSERT_EQ(bgr.type(), CV_8UC3);
  const cv::Scalar sums = cv::sum(bgr);
  EXPECT_EQ(static_cast<int64_t>(sums[0] + sums[1] + sums[2]), 74139337);  // decoded_rgb_uint8_sum
}

TEST(Preprocess, TinyImageMatchesSuperGradientsExactly) {
  const cv::Mat img = read_like_sg(tiny_dir() + "/image_src_grace_hopper.jpg");
  Letterbox lb;
  const std::vector<float> got = run(img, params(128, 126), &lb);
  EXPECT_DOUBLE_EQ(lb.scale, 0.21);
  EXPECT_EQ(lb.new_h, 126);
  EXPECT_EQ(lb.new_w, 108);
  EXPECT_EQ(lb.pad_top, 1);
  EXPECT_EQ(lb.pad_bottom, 1);
  EXPECT_EQ(lb.pad_left, 10);
  EXPECT_EQ(lb.pad_right, 10);
  size_t unequal = 0;
  const double diff = max_abs_diff(got, tiny_dir() + "/image_128/input.npy", 0, &unequal);
  EXPECT_EQ(unequal, 0u) << "max abs diff " << diff;
}

TEST(Preprocess, Golden640ImageMatchesSuperGradientsExactly) {
  REQUIRE_GOLDEN();
  const cv::Mat img = read_like_sg(golden_dir() + "/image_640_src_000000444010.jpg");
  ASSERT_EQ(img.rows, 480);
  ASSERT_EQ(img.cols, 640);
  Letterbox lb;
  const std::vector<float> got = run(img, PreprocessParams::for_imgsz(640, 640), &lb);
  EXPECT_EQ(lb.new_h, 477);
  EXPECT_EQ(lb.new_w, 636);
  size_t unequal = 0;
  const double diff = max_abs_diff(got, golden_dir() + "/input_image_640.npy", 0, &unequal);
  EXPECT_EQ(unequal, 0u) << "max abs diff " << diff;
}

TEST(Preprocess, Golden320ImageMatchesSuperGradientsExactly) {
  REQUIRE_GOLDEN();
  const cv::Mat img = read_like_sg(golden_dir() + "/image_320_src_000000475546.jpg");
  ASSERT_EQ(img.rows, 375);
  ASSERT_EQ(img.cols, 500);
  Letterbox lb;
  const std::vector<float> got = run(img, PreprocessParams::for_imgsz(320, 320), &lb);
  EXPECT_EQ(lb.new_h, 238);
  EXPECT_EQ(lb.new_w, 318);
  EXPECT_EQ(lb.pad_top, 41);
  EXPECT_EQ(lb.pad_bottom, 41);
  EXPECT_EQ(lb.pad_left, 1);
  EXPECT_EQ(lb.pad_right, 1);
  size_t unequal = 0;
  const double diff = max_abs_diff(got, golden_dir() + "/input_batch2_320.npy", 0, &unequal);
  EXPECT_EQ(unequal, 0u) << "max abs diff " << diff;
}

TEST(Preprocess, ForImgszKeepsThe636Over640Ratio) {
  const PreprocessParams p640 = PreprocessParams::for_imgsz(640, 640);
  EXPECT_EQ(p640.input_h, 640);
  EXPECT_EQ(p640.rescale_h, 636);
  EXPECT_EQ(p640.rescale_w, 636);
  const PreprocessParams p320 = PreprocessParams::for_imgsz(320, 320);
  EXPECT_EQ(p320.rescale_h, 318);
  const PreprocessParams p = PreprocessParams::for_imgsz(480, 800);
  EXPECT_EQ(p.rescale_h, 477);  // floor(480*636/640) = floor(477.0)
  EXPECT_EQ(p.rescale_w, 795);
  EXPECT_EQ(PreprocessParams::for_imgsz(416, 416).rescale_h, 413);  // floor(413.4)
}

TEST(Preprocess, DescribeIsHumanReadable) {
  EXPECT_EQ(PreprocessParams().describe(), "longest side 636 (round), centre pad 640x640 with 114, RGB, /255");
  PreprocessParams p = params(320, 318);
  p.center_pad = false;
  p.rgb = false;
  EXPECT_EQ(p.describe(), "longest side 318 (round), bottom-right pad 320x320 with 114, BGR, /255");
  EXPECT_EQ(PreprocessParams::padded_rescale(64, 96).describe(),
            "fit within 64x96 (int), bottom-right pad 64x96 with 114, BGR, /255");
}

TEST(Preprocess, LetterboxGeometryFor640) {
  const Letterbox lb = yolonas::compute_letterbox(480, 640, PreprocessParams());
  EXPECT_DOUBLE_EQ(lb.scale, 636.0 / 640.0);
  EXPECT_EQ(lb.src_h, 480);
  EXPECT_EQ(lb.src_w, 640);
  EXPECT_EQ(lb.new_h, 477);
  EXPECT_EQ(lb.new_w, 636);
  EXPECT_EQ(lb.pad_top, 81);
  EXPECT_EQ(lb.pad_bottom, 82);
  EXPECT_EQ(lb.pad_left, 2);
  EXPECT_EQ(lb.pad_right, 2);
}

TEST(Preprocess, BottomRightPadding) {
  PreprocessParams p;
  p.center_pad = false;
  const Letterbox lb = yolonas::compute_letterbox(480, 640, p);
  EXPECT_EQ(lb.pad_top, 0);
  EXPECT_EQ(lb.pad_left, 0);
  EXPECT_EQ(lb.pad_bottom, 163);
  EXPECT_EQ(lb.pad_right, 4);
}

// Python's round() rounds halves to even: round(2.5) = 2, round(3.5) = 4, round(4.5) = 4.
TEST(Preprocess, NewSizeUsesBankersRounding) {
  PreprocessParams p;
  p.input_h = p.input_w = 8;
  p.rescale_h = 8;
  p.rescale_w = 1;
  // s = min(8/5, 1/2) = 0.5 -> 5*0.5 = 2.5 -> 2 (half-up would give 3)
  Letterbox lb = yolonas::compute_letterbox(5, 2, p);
  EXPECT_EQ(lb.scale, 0.5);
  EXPECT_EQ(lb.new_h, 2);
  EXPECT_EQ(lb.new_w, 1);
  // 7*0.5 = 3.5 -> 4
  lb = yolonas::compute_letterbox(7, 2, p);
  EXPECT_EQ(lb.new_h, 4);
  // 9*0.5 = 4.5 -> 4
  lb = yolonas::compute_letterbox(9, 2, p);
  EXPECT_EQ(lb.new_h, 4);
  // The golden 320 image: 375 * (318/500) = 238.5 exactly in double -> 238 (SG's input is 238 rows).
  EXPECT_EQ(yolonas::compute_letterbox(375, 500, PreprocessParams::for_imgsz(320, 320)).new_h, 238);
  // Not a half: 512 * 0.21 = 107.52 -> 108.
  EXPECT_EQ(yolonas::compute_letterbox(600, 512, params(128, 126)).new_w, 108);
}

TEST(Preprocess, ScaleOneSkipsTheResize) {
  // A 636x100 image already has its longest side at 636: scale exactly 1, image copied as is.
  cv::Mat img(636, 100, CV_8UC3);
  cv::randu(img, 0, 256);
  Letterbox lb;
  const std::vector<float> got = run(img, PreprocessParams(), &lb);
  EXPECT_EQ(lb.scale, 1.0);
  EXPECT_EQ(lb.new_h, 636);
  EXPECT_EQ(lb.new_w, 100);
  EXPECT_EQ(lb.pad_top, 2);
  EXPECT_EQ(lb.pad_left, 270);
  const size_t plane = 640 * 640;
  for (int y = 0; y < 636; y += 37) {
    for (int x = 0; x < 100; x += 7) {
      const cv::Vec3b px = img.at<cv::Vec3b>(y, x);
      const size_t at = static_cast<size_t>(y + 2) * 640 + (x + 270);
      EXPECT_EQ(got[at], static_cast<float>(px[2] / 255.0));              // R
      EXPECT_EQ(got[plane + at], static_cast<float>(px[1] / 255.0));      // G
      EXPECT_EQ(got[2 * plane + at], static_cast<float>(px[0] / 255.0));  // B
    }
  }
}

TEST(Preprocess, PaddingIs114Over255AndStandardizeDividesInDouble) {
  cv::Mat img(32, 64, CV_8UC3, cv::Scalar(0, 0, 0));
  for (int x = 0; x < 64; ++x) img.at<cv::Vec3b>(0, x) = cv::Vec3b(x, x + 64, x + 128);
  img.at<cv::Vec3b>(1, 0) = cv::Vec3b(255, 255, 255);
  PreprocessParams p;
  p.input_h = p.input_w = 64;
  p.rescale_h = p.rescale_w = 64;  // scale 1: no resize, pixel values survive
  Letterbox lb;
  const std::vector<float> got = run(img, p, &lb);
  EXPECT_EQ(lb.pad_top, 16);
  EXPECT_EQ(lb.pad_bottom, 16);
  const float pad = static_cast<float>(114 / 255.0);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(got[c * 64 * 64 + 0], pad);             // top-left corner is padding
    EXPECT_EQ(got[c * 64 * 64 + 63 * 64 + 63], pad);  // bottom-right corner too
  }
  // Row 16 of the input holds image row 0: every uint8 value 0..255 appears once across the channels.
  for (int x = 0; x < 64; ++x) {
    EXPECT_EQ(got[0 * 4096 + 16 * 64 + x], static_cast<float>((x + 128) / 255.0));  // R = BGR[2]
    EXPECT_EQ(got[1 * 4096 + 16 * 64 + x], static_cast<float>((x + 64) / 255.0));
    EXPECT_EQ(got[2 * 4096 + 16 * 64 + x], static_cast<float>(x / 255.0));
  }
  EXPECT_EQ(got[17 * 64], 1.0f);
}

TEST(Preprocess, BgrOrderWhenRgbIsFalse) {
  cv::Mat img(10, 10, CV_8UC3, cv::Scalar(10, 20, 30));  // B=10, G=20, R=30
  PreprocessParams p = params(32, 10);
  p.rgb = false;
  const std::vector<float> bgr = run(img, p);
  p.rgb = true;
  const std::vector<float> rgb = run(img, p);
  const size_t plane = 32 * 32, centre = 16 * 32 + 16;
  EXPECT_EQ(bgr[centre], static_cast<float>(10 / 255.0));
  EXPECT_EQ(bgr[2 * plane + centre], static_cast<float>(30 / 255.0));
  EXPECT_EQ(rgb[centre], static_cast<float>(30 / 255.0));
  EXPECT_EQ(rgb[2 * plane + centre], static_cast<float>(10 / 255.0));
}

TEST(Preprocess, GrayInputIsReplicatedToThreeChannels) {
  cv::Mat gray(50, 70, CV_8UC1);
  cv::randu(gray, 0, 256);
  cv::Mat bgr;
  cv::cvtColor(gray, bgr, cv::COLOR_GRAY2BGR);
  const PreprocessParams p = params(64, 60);
  const std::vector<float> from_gray = run(gray, p);
  EXPECT_EQ(from_gray, run(bgr, p));
  const size_t plane = 64 * 64;
  for (size_t i = 0; i < plane; ++i) {
    ASSERT_EQ(from_gray[i], from_gray[plane + i]);
    ASSERT_EQ(from_gray[i], from_gray[2 * plane + i]);
  }
}

TEST(Preprocess, BgraInputDropsAlpha) {
  cv::Mat bgr(40, 30, CV_8UC3);
  cv::randu(bgr, 0, 256);
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  cv::Mat alpha(40, 30, CV_8UC1);
  cv::randu(alpha, 0, 256);
  cv::insertChannel(alpha, bgra, 3);
  const PreprocessParams p = params(64, 63);
  EXPECT_EQ(run(bgra, p), run(bgr, p));
}

TEST(Preprocess, RoiInputIsHandled) {
  // A non-continuous view (cv::Mat ROI) must give the same result as a compact copy.
  cv::Mat big(100, 120, CV_8UC3);
  cv::randu(big, 0, 256);
  const cv::Mat roi = big(cv::Rect(10, 20, 50, 40));
  ASSERT_FALSE(roi.isContinuous());
  const PreprocessParams p = params(64, 62);
  EXPECT_EQ(run(roi, p), run(roi.clone(), p));
}

TEST(Preprocess, EmptyImageThrows) {
  std::vector<float> out(3 * 640 * 640);
  EXPECT_THROW(yolonas::preprocess_image(cv::Mat(), PreprocessParams(), out.data()), Error);
  EXPECT_THROW(yolonas::compute_letterbox(0, 10, PreprocessParams()), Error);
}

TEST(Preprocess, UnsupportedFormatsThrow) {
  std::vector<float> out(3 * 640 * 640);
  EXPECT_THROW(yolonas::preprocess_image(cv::Mat(10, 10, CV_32FC3), PreprocessParams(), out.data()), Error);
  EXPECT_THROW(yolonas::preprocess_image(cv::Mat(10, 10, CV_8UC2), PreprocessParams(), out.data()), Error);
}

TEST(Preprocess, RescaleLargerThanInputThrows) {
  const PreprocessParams p = params(128, 130);
  EXPECT_THROW(yolonas::compute_letterbox(600, 512, p), Error);
  std::vector<float> out(3 * 128 * 128);
  EXPECT_THROW(yolonas::preprocess_image(cv::Mat(600, 512, CV_8UC3, cv::Scalar(1, 2, 3)), p, out.data()), Error);
}

TEST(Preprocess, UnletterboxInvertsTheGeometry) {
  const Letterbox lb = yolonas::compute_letterbox(480, 640, PreprocessParams());
  // Input pixel (2, 81) is the original origin; (638, 558) is the far corner (636/0.99375 = 640).
  EXPECT_EQ(yolonas::unletterbox_x(2.0f, lb), 0.0f);
  EXPECT_EQ(yolonas::unletterbox_y(81.0f, lb), 0.0f);
  EXPECT_NEAR(yolonas::unletterbox_x(638.0f, lb), 640.0f, 1e-4);
  EXPECT_NEAR(yolonas::unletterbox_y(558.0f, lb), 480.0f, 1e-4);
  // SG's float32 arithmetic: (v - pad) in float32, times float32(1/scale).
  const float v = 123.456f;
  EXPECT_EQ(yolonas::unletterbox_x(v, lb), (v - 2.0f) * static_cast<float>(1.0 / (636.0 / 640.0)));
}

// ---- the steps, one by one ------------------------------------------------------------------------

TEST(PreprocessSteps, ScaledSizeRoundsAsPythonOrTruncates) {
  using yolonas::Rounding;
  using yolonas::scaled_size;
  EXPECT_EQ(scaled_size(5, 0.5, Rounding::Python), 2);    // round(2.5) = 2 (half to even)
  EXPECT_EQ(scaled_size(7, 0.5, Rounding::Python), 4);    // round(3.5) = 4
  EXPECT_EQ(scaled_size(9, 0.5, Rounding::Python), 4);    // round(4.5) = 4
  EXPECT_EQ(scaled_size(9, 0.5, Rounding::Truncate), 4);  // int(4.5)
  EXPECT_EQ(scaled_size(7, 0.5, Rounding::Truncate), 3);  // int(3.5)
  EXPECT_EQ(scaled_size(1, 0.1, Rounding::Truncate), 1);  // never below one pixel
  EXPECT_EQ(scaled_size(1, 0.1, Rounding::Python), 0);    // round(0.1): compute_letterbox refuses it
  // 375 x (636/500) = 477.0 exactly in double: both agree; 333 x 1.91 = 636.03: both 636.
  EXPECT_EQ(scaled_size(375, 636.0 / 500.0, Rounding::Python), 477);
  EXPECT_EQ(scaled_size(375, 636.0 / 500.0, Rounding::Truncate), 477);
}

TEST(PreprocessSteps, FitWithinKeepsTheSizeAtScaleOne) {
  using yolonas::Rounding;
  const yolonas::ResizePlan same = yolonas::fit_within(636, 400, 636, 636, Rounding::Python);
  EXPECT_EQ(same.scale, 1.0);
  EXPECT_EQ(same.new_h, 636);
  EXPECT_EQ(same.new_w, 400);
  const yolonas::ResizePlan down = yolonas::fit_within(480, 641, 636, 636, Rounding::Python);
  EXPECT_DOUBLE_EQ(down.scale, 636.0 / 641.0);
  EXPECT_EQ(down.new_w, 636);
  EXPECT_EQ(down.new_h, 476);  // 476.26
  // 10 x w into 4 x 4: s = 0.4. Where .5 or more is left over, round() goes up and int() does not.
  const yolonas::ResizePlan r = yolonas::fit_within(10, 3, 4, 4, Rounding::Python);   // w: 3*0.4 = 1.2 -> 1
  const yolonas::ResizePlan t = yolonas::fit_within(10, 7, 4, 4, Rounding::Python);   // w: 7*0.4 = 2.8 -> 3
  const yolonas::ResizePlan u = yolonas::fit_within(10, 7, 4, 4, Rounding::Truncate); // w: int(2.8) = 2
  EXPECT_EQ(r.new_w, 1);
  EXPECT_EQ(t.new_w, 3);
  EXPECT_EQ(u.new_w, 2);
  EXPECT_EQ(t.new_h, 4);
  EXPECT_EQ(u.new_h, 4);
}

TEST(PreprocessSteps, PadImagePlacesTheImageAndFillsTheRest) {
  PreprocessParams p = params(8, 8);
  const Letterbox centre = yolonas::compute_letterbox(4, 6, p);  // s = 8/6: 5x8 (round(5.33)), pad 3 rows
  ASSERT_EQ(centre.new_h, 5);
  ASSERT_EQ(centre.new_w, 8);
  EXPECT_EQ(centre.pad_top, 1);
  EXPECT_EQ(centre.pad_bottom, 2);
  const cv::Mat img(5, 8, CV_8UC3, cv::Scalar(10, 20, 30));
  const cv::Mat padded = yolonas::pad_image(img, centre, 114);
  ASSERT_EQ(padded.rows, 8);
  ASSERT_EQ(padded.cols, 8);
  EXPECT_EQ(padded.at<cv::Vec3b>(0, 0), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(padded.at<cv::Vec3b>(1, 0), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(padded.at<cv::Vec3b>(5, 7), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(padded.at<cv::Vec3b>(6, 7), cv::Vec3b(114, 114, 114));
  p.center_pad = false;
  const Letterbox corner = yolonas::compute_letterbox(4, 6, p);
  EXPECT_EQ(corner.pad_top, 0);
  EXPECT_EQ(corner.pad_bottom, 3);
  EXPECT_EQ(yolonas::pad_image(img, corner, 0).at<cv::Vec3b>(0, 0), cv::Vec3b(10, 20, 30));
  EXPECT_THROW(yolonas::pad_image(img, corner, 300), Error);
  EXPECT_THROW(yolonas::pad_image(cv::Mat(4, 8, CV_8UC3), corner, 0), Error);  // not the planned size
}

TEST(PreprocessSteps, WriteChwOrdersChannelsAndNormalizes) {
  cv::Mat img(2, 3, CV_8UC3, cv::Scalar(255, 0, 51));  // B=255, G=0, R=51
  std::vector<float> rgb(18), bgr(18);
  yolonas::write_chw(img, true, 1.0 / 255.0, rgb.data());
  yolonas::write_chw(img, false, 1.0 / 255.0, bgr.data());
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(rgb[i], static_cast<float>(51 / 255.0));  // plane 0 = R, computed as SG: 51 / 255.0
    EXPECT_EQ(rgb[12 + i], 1.0f);                        // plane 2 = B
    EXPECT_EQ(bgr[i], 1.0f);
    EXPECT_EQ(bgr[12 + i], static_cast<float>(51 / 255.0));
    EXPECT_EQ(rgb[6 + i], 0.0f);
  }
  EXPECT_THROW(yolonas::write_chw(cv::Mat(2, 2, CV_8UC1), true, 1.0, rgb.data()), Error);
}

TEST(PreprocessSteps, PreprocessImageIsTheComposedSteps) {
  cv::Mat img(37, 53, CV_8UC3);
  cv::randu(img, 0, 256);
  for (const yolonas::Rounding rounding : {yolonas::Rounding::Python, yolonas::Rounding::Truncate}) {
    PreprocessParams p = params(64, 61);
    p.rounding = rounding;
    Letterbox lb;
    const cv::Mat padded = yolonas::letterbox_image(img, p, &lb);
    std::vector<float> composed(3 * 64 * 64);
    yolonas::write_chw(padded, p.rgb, p.scale, composed.data());
    Letterbox lb2;
    EXPECT_EQ(run(img, p, &lb2), composed);
    EXPECT_EQ(lb2.new_h, lb.new_h);
    EXPECT_EQ(lb2.pad_left, lb.pad_left);
  }
}

// A JPEG whose EXIF orientation says "turn 90 degrees clockwise" (orientation 6): an APP1 segment
// written by hand right after the SOI marker of an OpenCV-encoded JPEG.
std::vector<uchar> jpeg_with_exif_orientation_6(const cv::Mat& img) {
  std::vector<uchar> jpg;
  cv::imencode(".jpg", img, jpg);
  const std::vector<uchar> app1 = {
      0xFF, 0xE1, 0x00, 34, 'E', 'x', 'i', 'f', 0, 0,           // APP1, length 34, "Exif\0\0"
      'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,             // big-endian TIFF header, IFD at 8
      0x00, 0x01,                                               // one entry
      0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00,  // Orientation SHORT 6
      0x00, 0x00, 0x00, 0x00};                                  // no next IFD
  jpg.insert(jpg.begin() + 2, app1.begin(), app1.end());
  return jpg;
}

TEST(PreprocessSteps, ReadImageAppliesOrIgnoresTheExifOrientation) {
  yolonas::test::TempRoot dir("exif");
  cv::Mat img(10, 20, CV_8UC3, cv::Scalar(40, 80, 120));
  img(cv::Rect(0, 0, 5, 5)).setTo(cv::Scalar(255, 255, 255));  // a bright top-left corner
  const std::vector<uchar> bytes = jpeg_with_exif_orientation_6(img);
  const std::string path = dir.write("turned.jpg", std::string(bytes.begin(), bytes.end()));
  const cv::Mat stored = yolonas::read_image(path, yolonas::Orientation::AsStored);
  const cv::Mat turned = yolonas::read_image(path, yolonas::Orientation::ApplyExif);
  ASSERT_FALSE(stored.empty());
  ASSERT_FALSE(turned.empty());
  EXPECT_EQ(stored.rows, 10);
  EXPECT_EQ(stored.cols, 20);
  EXPECT_EQ(turned.rows, 20);  // turned 90 degrees clockwise: the top-left corner goes top-right
  EXPECT_EQ(turned.cols, 10);
  EXPECT_GT(turned.at<cv::Vec3b>(1, 8)[0], 200);
  EXPECT_LT(turned.at<cv::Vec3b>(1, 1)[0], 100);
  // Unreadable files give an empty image: missing, not an image, a folder.
  EXPECT_TRUE(yolonas::read_image(dir.str("missing.jpg"), yolonas::Orientation::AsStored).empty());
  EXPECT_TRUE(yolonas::read_image(dir.write("junk.jpg", "not a jpeg"), yolonas::Orientation::AsStored).empty());
  EXPECT_TRUE(yolonas::read_image(dir.root.string(), yolonas::Orientation::ApplyExif).empty());
}

TEST(PreprocessSteps, PaddedRescaleIsSgFineTuningValidation) {
  const PreprocessParams p = PreprocessParams::padded_rescale(640, 640);
  EXPECT_EQ(p.rescale_h, 640);
  EXPECT_EQ(p.rounding, yolonas::Rounding::Truncate);
  EXPECT_FALSE(p.center_pad);
  EXPECT_FALSE(p.rgb);
  EXPECT_EQ(p.pad_value, 114);
}
