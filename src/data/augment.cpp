// Training augmentations with SuperGradients' semantics. See augment.h.
#include "yolonas/data/augment.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "yolonas/core/error.h"

namespace yolonas {

namespace {
constexpr double kPi = 3.14159265358979323846;
}

// ---------------------------------------------------------------------------------------------
// Random draws
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

AugmentConfig AugmentConfig::coco_recipe() {
  // coco_detection_yolo_nas_dataset_params.yaml (YOLO_NAS_SPEC.md §6.4): no mosaic; affine on the
  // pre-resized image at its own size with translate 0.25 and the candidate filter; RGB2BGR p=0.5;
  // HSV p=0.5 with hue gain 18; flip 0.5; mixup p=0.5; padded rescale 114.
  AugmentConfig c;
  c.mosaic = false;
  c.affine = true;
  c.degrees = 0.0;
  c.translate = 0.25;
  c.scale_min = 0.5, c.scale_max = 1.5;
  c.shear = 0.0;
  c.affine_border_value = 114;
  c.affine_keep_size = true;
  c.filter_candidates = true;
  c.mixup = true;
  c.mixup_prob = 0.5;
  c.mixup_scale_min = 0.5, c.mixup_scale_max = 1.5;
  c.mixup_flip_prob = 0.5;
  c.mixup_border_value = 114;
  c.hsv = true;
  c.hsv_prob = 0.5;
  c.hgain = 18.0, c.sgain = 30.0, c.vgain = 30.0;
  c.flip = true;
  c.flip_prob = 0.5;
  c.rgb2bgr_prob = 0.5;
  return c;
}

AugmentConfig AugmentConfig::none() {
  AugmentConfig c;
  c.mosaic = c.affine = c.mixup = c.hsv = c.flip = false;
  c.rgb2bgr_prob = 0.0;
  return c;
}

std::string AugmentConfig::describe() const {
  std::ostringstream os;
  if (mosaic) os << "mosaic p=" << mosaic_prob << " border=" << mosaic_border_value << "\n";
  if (affine) {
    os << "affine degrees=" << degrees << " translate=" << translate << " scale=[" << scale_min << "," << scale_max
       << "] shear=" << shear << " border=" << affine_border_value << (affine_keep_size ? " keep_size" : "");
    if (filter_candidates) os << " filter(wh>" << wh_thr << " area>" << area_thr << " ar<" << ar_thr << ")";
    os << "\n";
  }
  if (mixup)
    os << "mixup p=" << mixup_prob << " scale=[" << mixup_scale_min << "," << mixup_scale_max
       << "] flip=" << mixup_flip_prob << "\n";
  if (hsv) os << "hsv p=" << hsv_prob << " h=" << hgain << " s=" << sgain << " v=" << vgain << "\n";
  if (flip) os << "fliplr p=" << flip_prob << "\n";
  if (rgb2bgr_prob > 0) os << "rgb2bgr p=" << rgb2bgr_prob << "\n";
  os << "rescale+pad bottom-right value=" << pad_value << ", drop boxes with min side <= " << min_box_edge << " px\n";
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// Units
// ---------------------------------------------------------------------------------------------

namespace {

void require_bgr(const cv::Mat& img, const char* what) {
  if (img.empty() || img.type() != CV_8UC3)
    throw Error(std::string(what) + ": expected a non-empty 8-bit 3-channel image");
}

void scale_boxes(std::vector<Box>& boxes, double r, double dx = 0, double dy = 0) {
  for (Box& b : boxes) {
    b.x1 = static_cast<float>(b.x1 * r + dx), b.x2 = static_cast<float>(b.x2 * r + dx);
    b.y1 = static_cast<float>(b.y1 * r + dy), b.y2 = static_cast<float>(b.y2 * r + dy);
  }
}

}  // namespace

void clip_and_filter_boxes(Sample& s, float min_edge) {
  const float W = static_cast<float>(s.image.cols), H = static_cast<float>(s.image.rows);
  std::vector<Box> kept;
  kept.reserve(s.boxes.size());
  for (Box b : s.boxes) {
    b.x1 = std::clamp(b.x1, 0.0f, W), b.x2 = std::clamp(b.x2, 0.0f, W);
    b.y1 = std::clamp(b.y1, 0.0f, H), b.y2 = std::clamp(b.y2, 0.0f, H);
    if (min_edge < 0 || std::min(b.width(), b.height()) > min_edge) kept.push_back(b);
  }
  s.boxes = std::move(kept);
}

double rescale_to_fit(Sample& s, int max_h, int max_w) {
  require_bgr(s.image, "rescale");
  const ResizePlan plan = fit_within(s.image.rows, s.image.cols, max_h, max_w, Rounding::Truncate);
  s.image = resize_image(s.image, plan.new_h, plan.new_w);
  scale_boxes(s.boxes, plan.scale);
  return plan.scale;
}

Sample mosaic4_at(const std::array<Sample, 4>& parts, int out_h, int out_w, int xc, int yc, int border_value) {
  Sample out;
  out.image = cv::Mat(2 * out_h, 2 * out_w, CV_8UC3, cv::Scalar::all(border_value));
  for (int i = 0; i < 4; ++i) {
    require_bgr(parts[i].image, "mosaic");
    const cv::Mat& src = parts[i].image;
    const ResizePlan plan = fit_within(src.rows, src.cols, out_h, out_w, Rounding::Truncate);
    const double r = plan.scale;
    const cv::Mat img = resize_image(src, plan.new_h, plan.new_w);
    const int w = img.cols, h = img.rows;
    // Large-canvas rectangle [lx1,lx2) x [ly1,ly2) and the matching part of the small image.
    int lx1, ly1, lx2, ly2, sx1, sy1;
    switch (i) {
      case 0:  // top-left: the image's bottom-right corner sits on the centre
        lx1 = std::max(xc - w, 0), ly1 = std::max(yc - h, 0), lx2 = xc, ly2 = yc;
        sx1 = w - (lx2 - lx1), sy1 = h - (ly2 - ly1);
        break;
      case 1:  // top-right
        lx1 = xc, ly1 = std::max(yc - h, 0), lx2 = std::min(xc + w, 2 * out_w), ly2 = yc;
        sx1 = 0, sy1 = h - (ly2 - ly1);
        break;
      case 2:  // bottom-left
        lx1 = std::max(xc - w, 0), ly1 = yc, lx2 = xc, ly2 = std::min(2 * out_h, yc + h);
        sx1 = w - (lx2 - lx1), sy1 = 0;
        break;
      default:  // bottom-right
        lx1 = xc, ly1 = yc, lx2 = std::min(xc + w, 2 * out_w), ly2 = std::min(2 * out_h, yc + h);
        sx1 = 0, sy1 = 0;
        break;
    }
    const int cw = std::min(lx2 - lx1, w - sx1), ch = std::min(ly2 - ly1, h - sy1);
    if (cw > 0 && ch > 0)
      img(cv::Rect(sx1, sy1, cw, ch)).copyTo(out.image(cv::Rect(lx1, ly1, cw, ch)));
    std::vector<Box> boxes = parts[i].boxes;
    scale_boxes(boxes, r, lx1 - sx1, ly1 - sy1);
    out.boxes.insert(out.boxes.end(), boxes.begin(), boxes.end());
  }
  clip_and_filter_boxes(out, 0.0f);  // SG's DetectionSample: clip, drop zero-area boxes
  return out;
}

Sample mosaic4(const std::array<Sample, 4>& parts, int out_h, int out_w, int border_value, Rng& rng) {
  const int yc = static_cast<int>(rand_uniform(rng, 0.5 * out_h, 1.5 * out_h));
  const int xc = static_cast<int>(rand_uniform(rng, 0.5 * out_w, 1.5 * out_w));
  return mosaic4_at(parts, out_h, out_w, xc, yc, border_value);
}

cv::Matx23d random_affine_matrix(int in_h, int in_w, int out_h, int out_w, const AugmentConfig& cfg, Rng& rng) {
  // SG's draw order: angle, scale, shear x, shear y, translation x, translation y.
  const double angle = rand_uniform(rng, -cfg.degrees, cfg.degrees);
  const double scale = rand_uniform(rng, cfg.scale_min, cfg.scale_max);
  const double shx = std::tan(rand_uniform(rng, -cfg.shear, cfg.shear) * kPi / 180.0);
  const double shy = std::tan(rand_uniform(rng, -cfg.shear, cfg.shear) * kPi / 180.0);
  const double tx = rand_uniform(rng, 0.5 - cfg.translate, 0.5 + cfg.translate) * out_w;
  const double ty = rand_uniform(rng, 0.5 - cfg.translate, 0.5 + cfg.translate) * out_h;

  const cv::Matx33d C(1, 0, -(in_w / 2), 0, 1, -(in_h / 2), 0, 0, 1);
  // cv::getRotationMatrix2D(centre (0,0), angle, scale): [[a, b], [-b, a]], a = s cos, b = s sin.
  const double rad = angle * kPi / 180.0;
  const double a = scale * std::cos(rad), b = scale * std::sin(rad);
  const cv::Matx33d R(a, b, 0, -b, a, 0, 0, 0, 1);
  const cv::Matx33d S(1, shx, 0, shy, 1, 0, 0, 0, 1);
  const cv::Matx33d T(1, 0, tx, 0, 1, ty, 0, 0, 1);
  const cv::Matx33d M = T * S * R * C;
  return cv::Matx23d(M(0, 0), M(0, 1), M(0, 2), M(1, 0), M(1, 1), M(1, 2));
}

void warp_affine(Sample& s, const cv::Matx23d& M, int out_h, int out_w, const AugmentConfig& cfg) {
  require_bgr(s.image, "affine");
  cv::Mat out;
  cv::warpAffine(s.image, out, M, cv::Size(out_w, out_h), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                 cv::Scalar::all(cfg.affine_border_value));
  s.image = out;

  std::vector<Box> kept;
  kept.reserve(s.boxes.size());
  for (const Box& b : s.boxes) {
    const double xs[4] = {b.x1, b.x2, b.x1, b.x2}, ys[4] = {b.y1, b.y2, b.y2, b.y1};
    double nx1 = 1e300, ny1 = 1e300, nx2 = -1e300, ny2 = -1e300;
    for (int k = 0; k < 4; ++k) {
      const double x = M(0, 0) * xs[k] + M(0, 1) * ys[k] + M(0, 2);
      const double y = M(1, 0) * xs[k] + M(1, 1) * ys[k] + M(1, 2);
      nx1 = std::min(nx1, x), nx2 = std::max(nx2, x), ny1 = std::min(ny1, y), ny2 = std::max(ny2, y);
    }
    nx1 = std::clamp(nx1, 0.0, double(out_w)), nx2 = std::clamp(nx2, 0.0, double(out_w));
    ny1 = std::clamp(ny1, 0.0, double(out_h)), ny2 = std::clamp(ny2, 0.0, double(out_h));
    if (cfg.filter_candidates) {
      const double w1 = double(b.x2) - b.x1, h1 = double(b.y2) - b.y1;
      const double w2 = nx2 - nx1, h2 = ny2 - ny1;
      const double ar = std::max(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16));
      const bool keep = w2 > cfg.wh_thr && h2 > cfg.wh_thr && w2 * h2 / (w1 * h1 + 1e-16) > cfg.area_thr && ar < cfg.ar_thr;
      if (!keep) continue;
    }
    kept.push_back({static_cast<float>(nx1), static_cast<float>(ny1), static_cast<float>(nx2), static_cast<float>(ny2),
                    b.cls});
  }
  s.boxes = std::move(kept);
  clip_and_filter_boxes(s, 0.0f);
}

void random_affine(Sample& s, int out_h, int out_w, const AugmentConfig& cfg, Rng& rng) {
  const cv::Matx23d M = random_affine_matrix(s.image.rows, s.image.cols, out_h, out_w, cfg, rng);
  warp_affine(s, M, out_h, out_w, cfg);
}

void mixup(Sample& base, Sample other, const AugmentConfig& cfg, Rng& rng) {
  require_bgr(base.image, "mixup");
  require_bgr(other.image, "mixup");
  if (rand_chance(rng, cfg.mixup_flip_prob)) hflip(other);
  const double jit = rand_uniform(rng, cfg.mixup_scale_min, cfg.mixup_scale_max);
  const int H = base.image.rows, W = base.image.cols;

  // Fit `other` into an H x W canvas (top-left), then scale that canvas by jit.
  cv::Mat canvas(H, W, CV_8UC3, cv::Scalar::all(cfg.mixup_border_value));
  const ResizePlan plan = fit_within(other.image.rows, other.image.cols, H, W, Rounding::Truncate);
  double r = plan.scale;
  const cv::Mat fitted = resize_image(other.image, plan.new_h, plan.new_w);
  fitted.copyTo(canvas(cv::Rect(0, 0, std::min(W, fitted.cols), std::min(H, fitted.rows))));
  canvas = resize_image(canvas, scaled_size(H, jit, Rounding::Truncate), scaled_size(W, jit, Rounding::Truncate));
  r *= jit;
  const int oh = canvas.rows, ow = canvas.cols;

  // Zero canvas of max(size), random crop back to H x W (SG: randint(0, extra - 1) when larger).
  cv::Mat padded(std::max(oh, H), std::max(ow, W), CV_8UC3, cv::Scalar::all(0));
  canvas.copyTo(padded(cv::Rect(0, 0, ow, oh)));
  int y_off = 0, x_off = 0;
  if (padded.rows > H) y_off = rand_int(rng, 0, padded.rows - H - 1);
  if (padded.cols > W) x_off = rand_int(rng, 0, padded.cols - W - 1);
  const cv::Mat crop = padded(cv::Rect(x_off, y_off, W, H));

  // (0.5 * a + 0.5 * b).astype(uint8) == floor((a + b) / 2) exactly.
  cv::Mat mixed(H, W, CV_8UC3);
  for (int y = 0; y < H; ++y) {
    const uint8_t* pa = base.image.ptr<uint8_t>(y);
    const uint8_t* pb = crop.ptr<uint8_t>(y);
    uint8_t* pm = mixed.ptr<uint8_t>(y);
    for (int x = 0; x < W * 3; ++x) pm[x] = static_cast<uint8_t>((pa[x] + pb[x]) >> 1);
  }
  base.image = mixed;

  for (Box b : other.boxes) {
    // adjust_box_anns: scale and clip to the scaled canvas; then shift by the crop and clip to H x W.
    b.x1 = std::clamp(static_cast<float>(b.x1 * r), 0.0f, float(ow)) - x_off;
    b.x2 = std::clamp(static_cast<float>(b.x2 * r), 0.0f, float(ow)) - x_off;
    b.y1 = std::clamp(static_cast<float>(b.y1 * r), 0.0f, float(oh)) - y_off;
    b.y2 = std::clamp(static_cast<float>(b.y2 * r), 0.0f, float(oh)) - y_off;
    base.boxes.push_back(b);
  }
  clip_and_filter_boxes(base, 0.0f);
}

std::array<int, 3> augment_hsv(cv::Mat& bgr, double hgain, double sgain, double vgain, Rng& rng) {
  const double gains[3] = {hgain, sgain, vgain};
  double g[3];
  for (double& v : g) v = rand_uniform(rng, -1.0, 1.0);
  std::array<int, 3> shift{};
  for (int i = 0; i < 3; ++i) {
    const int keep = rand_int(rng, 0, 1);  // numpy randint(0, 2)
    shift[i] = static_cast<int>(g[i] * gains[i] * keep);  // astype(int16): truncation toward zero
  }
  apply_hsv_shift(bgr, shift[0], shift[1], shift[2]);
  return shift;
}

void apply_hsv_shift(cv::Mat& bgr, int dh, int ds, int dv) {
  require_bgr(bgr, "hsv");
  cv::Mat hsv;
  cv::cvtColor(bgr, hsv, cv::COLOR_BGR2HSV);
  // Per-channel lookup tables; Python's % is non-negative for a positive modulus.
  cv::Mat lut(1, 256, CV_8UC3);
  for (int i = 0; i < 256; ++i) {
    cv::Vec3b& e = lut.at<cv::Vec3b>(0, i);
    e[0] = static_cast<uint8_t>((((i + dh) % 180) + 180) % 180);
    e[1] = static_cast<uint8_t>(std::clamp(i + ds, 0, 255));
    e[2] = static_cast<uint8_t>(std::clamp(i + dv, 0, 255));
  }
  cv::LUT(hsv, lut, hsv);
  // Into a new buffer: `bgr` may share its pixels with other Mats (a cached image, the caller's copy).
  cv::Mat out;
  cv::cvtColor(hsv, out, cv::COLOR_HSV2BGR);
  bgr = out;
}

void hflip(Sample& s) {
  cv::Mat out;
  cv::flip(s.image, out, 1);
  s.image = out;
  const float W = static_cast<float>(s.image.cols);
  for (Box& b : s.boxes) {
    const float x1 = W - b.x2, x2 = W - b.x1;
    b.x1 = x1, b.x2 = x2;
  }
}

Letterbox rescale_and_pad(Sample& s, int out_h, int out_w, int pad_value, bool center) {
  require_bgr(s.image, "rescale_and_pad");
  PreprocessParams p = PreprocessParams::padded_rescale(out_h, out_w);
  p.center_pad = center;
  p.pad_value = pad_value;
  Letterbox lb;
  s.image = letterbox_image(s.image, p, &lb);
  scale_boxes(s.boxes, lb.scale, lb.pad_left, lb.pad_top);
  return lb;
}

Letterbox pad_to_size(Sample& s, int out_h, int out_w, int pad_value, bool center) {
  require_bgr(s.image, "pad_to_size");
  Letterbox lb;
  lb.src_h = lb.new_h = s.image.rows, lb.src_w = lb.new_w = s.image.cols;
  const int pad_h = std::max(0, out_h - lb.src_h), pad_w = std::max(0, out_w - lb.src_w);
  lb.pad_top = center ? pad_h / 2 : 0;
  lb.pad_left = center ? pad_w / 2 : 0;
  lb.pad_bottom = pad_h - lb.pad_top;
  lb.pad_right = pad_w - lb.pad_left;
  if (pad_h == 0 && pad_w == 0) return lb;
  cv::Mat canvas(lb.src_h + pad_h, lb.src_w + pad_w, CV_8UC3, cv::Scalar::all(pad_value));
  s.image.copyTo(canvas(cv::Rect(lb.pad_left, lb.pad_top, lb.src_w, lb.src_h)));
  s.image = canvas;
  scale_boxes(s.boxes, 1.0, lb.pad_left, lb.pad_top);
  return lb;
}

// ---------------------------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------------------------

Sample augment_train(Sample s, const AugmentConfig& cfg, int out_h, int out_w, const SampleSource& random_sample,
                     Rng& rng) {
  require_bgr(s.image, "augment");
  if (cfg.mosaic && rand_chance(rng, cfg.mosaic_prob)) {
    if (!random_sample) throw Error("augment: mosaic needs a sample source");
    std::array<Sample, 4> parts;
    parts[0] = std::move(s);
    for (int i = 1; i < 4; ++i) parts[i] = random_sample(rng, false);
    s = mosaic4(parts, out_h, out_w, cfg.mosaic_border_value, rng);
    clip_and_filter_boxes(s, cfg.step_min_box_edge);
  }
  if (cfg.affine) {
    const int th = cfg.affine_keep_size ? s.image.rows : out_h;
    const int tw = cfg.affine_keep_size ? s.image.cols : out_w;
    random_affine(s, th, tw, cfg, rng);
    clip_and_filter_boxes(s, cfg.step_min_box_edge);
  }
  if (cfg.mixup && rand_chance(rng, cfg.mixup_prob)) {
    if (!random_sample) throw Error("augment: mixup needs a sample source");
    mixup(s, random_sample(rng, true), cfg, rng);
    clip_and_filter_boxes(s, cfg.step_min_box_edge);
  }
  if (cfg.hsv && rand_chance(rng, cfg.hsv_prob)) augment_hsv(s.image, cfg.hgain, cfg.sgain, cfg.vgain, rng);
  if (cfg.flip && rand_chance(rng, cfg.flip_prob)) hflip(s);
  rescale_and_pad(s, out_h, out_w, cfg.pad_value, /*center=*/false);
  clip_and_filter_boxes(s, cfg.min_box_edge);
  return s;
}

}  // namespace yolonas
