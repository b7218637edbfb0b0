// yolonas synth: one image: a background, cut-outs transformed and pasted with the occlusion rule,
// boxes from the visible pixels. See synth.h.
#include "yolonas/data/synth.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/rng.h"
#include "yolonas/core/text.h"

namespace fs = std::filesystem;

namespace yolonas {
namespace {

uint8_t sat8(int v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

// A cut-out after resize/flip/rotation/brightness: premultiplied BGRA plus its object mask.
struct Patch {
  cv::Mat bgra;  // CV_8UC4 premultiplied
  cv::Mat mask;  // CV_8U, 255 where alpha >= kSynthAlphaOn
  int total = 0;
};

Patch transform_cutout(const cv::Mat& src, const SynthPlacement& p) {
  cv::Mat m = src;
  const int native = std::max(src.cols, src.rows);
  if (p.long_side > 0 && p.long_side != native) {
    const double s = static_cast<double>(p.long_side) / native;
    const cv::Size sz(std::max(1, static_cast<int>(std::lround(src.cols * s))),
                      std::max(1, static_cast<int>(std::lround(src.rows * s))));
    cv::Mat r;
    cv::resize(m, r, sz, 0, 0, s < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
    m = r;
  }
  if (p.flip) {
    cv::Mat f;
    cv::flip(m, f, 1);
    m = f;
  }
  if (p.angle_deg != 0.0) {
    const double rad = p.angle_deg * CV_PI / 180.0;
    const double c = std::abs(std::cos(rad)), s = std::abs(std::sin(rad));
    const int bw = std::max(1, static_cast<int>(std::ceil(m.cols * c + m.rows * s - 1e-6)));
    const int bh = std::max(1, static_cast<int>(std::ceil(m.cols * s + m.rows * c - 1e-6)));
    cv::Mat rot = cv::getRotationMatrix2D(cv::Point2f((m.cols - 1) * 0.5f, (m.rows - 1) * 0.5f), p.angle_deg, 1.0);
    rot.at<double>(0, 2) += (bw - 1) * 0.5 - (m.cols - 1) * 0.5;
    rot.at<double>(1, 2) += (bh - 1) * 0.5 - (m.rows - 1) * 0.5;
    cv::Mat w;
    cv::warpAffine(m, w, rot, cv::Size(bw, bh), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(0));
    m = w;
  }
  const bool colour = p.colour[0] != 1.0 || p.colour[1] != 1.0 || p.colour[2] != 1.0;
  if (p.gain != 1.0 || p.bias != 0.0 || colour) {
    cv::Mat b(m.size(), CV_8UC4);
    for (int y = 0; y < m.rows; ++y) {
      const cv::Vec4b* s = m.ptr<cv::Vec4b>(y);
      cv::Vec4b* d = b.ptr<cv::Vec4b>(y);
      for (int x = 0; x < m.cols; ++x) {
        const int a = s[x][3];
        d[x][3] = static_cast<uint8_t>(a);
        for (int k = 0; k < 3; ++k) {
          // premultiplied: (c/a * gain + bias) * a = c * gain + bias * a / 255, kept within [0, a];
          // then the colour gain of channel k, kept within [0, a] too
          int v = std::clamp(static_cast<int>(std::lround(s[x][k] * p.gain + p.bias * a / 255.0)), 0, a);
          if (colour) v = std::clamp(static_cast<int>(std::lround(v * p.colour[k])), 0, a);
          d[x][k] = static_cast<uint8_t>(v);
        }
      }
    }
    m = b;
  }
  Patch out;
  cv::Mat alpha;
  cv::extractChannel(m, alpha, 3);
  // The box mask is taken before any blur: blurring changes how the object looks, never its box.
  cv::compare(alpha, kSynthAlphaOn - 1, out.mask, cv::CMP_GT);
  out.total = cv::countNonZero(out.mask);
  if (p.blur_sigma > 0.0) {
    // Premultiplied colour blurs correctly against the transparent surround.
    cv::GaussianBlur(m, m, cv::Size(0, 0), p.blur_sigma, p.blur_sigma, cv::BORDER_CONSTANT);
  }
  if (p.feather_sigma > 0.0) {
    // Soften only the rim: pixels more than 2 px inside the opaque part keep their values.
    cv::Mat soft, inner;
    cv::GaussianBlur(m, soft, cv::Size(0, 0), p.feather_sigma, p.feather_sigma, cv::BORDER_CONSTANT);
    cv::compare(alpha, 254, inner, cv::CMP_GT);
    cv::erode(inner, inner, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(5, 5)), cv::Point(-1, -1), 1,
              cv::BORDER_CONSTANT, cv::Scalar(0));
    m.copyTo(soft, inner);
    m = soft;
  }
  out.bgra = m;
  return out;
}

// Mean straight (un-premultiplied) B, G, R of a premultiplied cut-out's opaque-enough pixels.
cv::Scalar cutout_mean_colour(const cv::Mat& bgra) {
  double sum[3] = {0, 0, 0}, asum = 0;
  for (int y = 0; y < bgra.rows; y += 2) {
    const cv::Vec4b* s = bgra.ptr<cv::Vec4b>(y);
    for (int x = 0; x < bgra.cols; x += 2) {
      if (s[x][3] < kSynthAlphaOn) continue;
      for (int k = 0; k < 3; ++k) sum[k] += s[x][k];
      asum += s[x][3];
    }
  }
  if (asum <= 0) return cv::Scalar(128, 128, 128);
  return cv::Scalar(255.0 * sum[0] / asum, 255.0 * sum[1] / asum, 255.0 * sum[2] / asum);
}

// Pastes patches in order and keeps, for every pasted one, the mask of its still-visible pixels.
class Canvas {
 public:
  explicit Canvas(cv::Mat bgr) : img_(std::move(bgr)) {}

  // Would pasting `p` at `at` keep every labelled object (and the new one, when labelled) at
  // >= min_visible of its pixels visible?  A patch entirely outside the image is never accepted.
  bool acceptable(const Patch& p, cv::Point at, bool labelled, double min_visible) const {
    const cv::Rect rect(at, p.bgra.size());
    const cv::Rect roi = rect & cv::Rect(0, 0, img_.cols, img_.rows);
    if (roi.empty() || p.total == 0) return false;
    const int inside = cv::countNonZero(p.mask(roi - at));
    if (inside == 0) return false;
    if (labelled && inside < min_visible * p.total) return false;
    for (const auto& o : placed_) {
      if (o.obj.class_id < 0) continue;
      const cv::Rect inter = o.roi & roi;
      if (inter.empty()) continue;
      cv::Mat both;
      cv::bitwise_and(o.vis(inter - o.roi.tl()), p.mask(inter - at), both);
      const int overlap = cv::countNonZero(both);
      if (overlap > 0 && (o.obj.visible_pixels - overlap) < min_visible * o.obj.total_pixels) return false;
    }
    return true;
  }

  void paste(const Patch& p, cv::Point at, int class_id, int cutout) {
    Placed o;
    o.obj.class_id = class_id;
    o.obj.cutout = cutout;
    o.obj.patch = cv::Rect(at, p.bgra.size());
    o.obj.total_pixels = p.total;
    o.roi = o.obj.patch & cv::Rect(0, 0, img_.cols, img_.rows);
    if (!o.roi.empty()) {
      // blend (premultiplied "over")
      for (int y = 0; y < o.roi.height; ++y) {
        const cv::Vec4b* s = p.bgra.ptr<cv::Vec4b>(o.roi.y - at.y + y) + (o.roi.x - at.x);
        cv::Vec3b* d = img_.ptr<cv::Vec3b>(o.roi.y + y) + o.roi.x;
        for (int x = 0; x < o.roi.width; ++x) {
          const int a = s[x][3];
          if (a == 0) continue;
          const int ia = 255 - a;
          for (int k = 0; k < 3; ++k) d[x][k] = sat8(s[x][k] + (d[x][k] * ia + 127) / 255);
        }
      }
      const cv::Mat new_mask = p.mask(o.roi - at);
      for (auto& e : placed_) {
        const cv::Rect inter = e.roi & o.roi;
        if (inter.empty()) continue;
        e.vis(inter - e.roi.tl()).setTo(0, new_mask(inter - o.roi.tl()));
        e.obj.visible_pixels = cv::countNonZero(e.vis);
      }
      o.vis = new_mask.clone();
      o.obj.visible_pixels = cv::countNonZero(o.vis);
    }
    placed_.push_back(std::move(o));
  }

  SynthImage finish() {
    SynthImage out;
    out.image = img_;
    for (auto& o : placed_) {
      if (o.obj.visible_pixels > 0) {
        const cv::Rect b = cv::boundingRect(o.vis);
        o.obj.box = b + o.roi.tl();
      }
      out.objects.push_back(o.obj);
    }
    return out;
  }

  const cv::Mat& image() const { return img_; }

 private:
  struct Placed {
    SynthObject obj;
    cv::Rect roi;  // patch clipped to the image
    cv::Mat vis;   // CV_8U over roi: 255 where the object is still visible
  };
  cv::Mat img_;
  std::vector<Placed> placed_;
};

cv::Mat procedural_background(SplitMix64& rng, int w, int h) {
  // Smooth random colour blobs (a tiny random grid upsampled with cubic interpolation) plus grain.
  const int gw = 2 + rng.below(5), gh = 2 + rng.below(5);
  cv::Mat grid(gh, gw, CV_8UC3);
  for (int y = 0; y < gh; ++y)
    for (int x = 0; x < gw; ++x)
      grid.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(rng.below(256)), static_cast<uint8_t>(rng.below(256)),
                                           static_cast<uint8_t>(rng.below(256)));
  cv::Mat bg;
  cv::resize(grid, bg, cv::Size(w, h), 0, 0, cv::INTER_CUBIC);
  cv::Mat noise(h, w, CV_8UC3);
  cv::RNG cvrng(rng.next());  // a local generator: cv::theRNG() is per-thread global state
  cvrng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(128), cv::Scalar::all(4 + rng.below(10)));
  cv::addWeighted(bg, 1.0, noise, 1.0, -128.0, bg);
  return bg;
}

cv::Mat photo_background(const cv::Mat& src, SplitMix64& rng, int w, int h) {
  const double aspect = static_cast<double>(w) / h;
  double cw = src.cols, ch = src.rows;
  if (cw / ch > aspect)
    cw = ch * aspect;
  else
    ch = cw / aspect;
  const double u = rng.uniform(0.35, 1.0);  // crop side relative to the largest crop
  const int icw = std::clamp(static_cast<int>(cw * u), 8, src.cols);
  const int ich = std::clamp(static_cast<int>(ch * u), 8, src.rows);
  const int x0 = rng.below(src.cols - icw + 1), y0 = rng.below(src.rows - ich + 1);
  cv::Mat bg;
  cv::resize(src(cv::Rect(x0, y0, icw, ich)), bg, cv::Size(w, h), 0, 0,
             icw > w ? cv::INTER_AREA : cv::INTER_LINEAR);
  if (rng.chance(0.5)) cv::flip(bg, bg, 1);
  return bg;
}

}  // namespace

// =================================================================================================
// Rendering
// =================================================================================================

SynthImage render_synth_image(const cv::Mat& background, const std::vector<SynthCutout>& cutouts,
                              const std::vector<SynthPlacement>& placements) {
  if (background.empty() || background.type() != CV_8UC3) throw Error("synth: background must be 8-bit BGR");
  Canvas canvas(background.clone());
  for (const auto& p : placements) {
    if (p.cutout < 0 || p.cutout >= static_cast<int>(cutouts.size()))
      throw Error("synth: placement refers to cut-out " + std::to_string(p.cutout));
    const Patch patch = transform_cutout(cutouts[p.cutout].bgra, p);
    canvas.paste(patch, cv::Point(p.x, p.y), cutouts[p.cutout].class_id, p.cutout);
  }
  return canvas.finish();
}

uint64_t synth_image_seed(uint64_t seed, int split, int64_t index) {
  return mix64(mix64(seed ^ 0x5EED5EED5EED5EEDULL) ^ mix64((static_cast<uint64_t>(split) << 48) ^
                                                           static_cast<uint64_t>(index)));
}

SynthImage synth_random_image(const SynthAssets& assets, const SynthConfig& config, uint64_t image_seed) {
  SplitMix64 rng(image_seed);
  // ---- size: long side imgsz; square, 4:3, 3:4 or 16:9 ----
  const int L = config.imgsz;
  auto even = [](double v) { return std::max(2, static_cast<int>(std::lround(v / 2.0)) * 2); };
  int w = L, h = L;
  const double shape = rng.uniform();
  if (shape < 0.5) {
  } else if (shape < 0.75) {
    h = even(L * 0.75);
  } else if (shape < 0.9) {
    w = even(L * 0.75);
  } else {
    h = even(L * 9.0 / 16.0);
  }

  // ---- background ----
  cv::Mat bg;
  if (assets.background_files.empty() || rng.chance(config.procedural_prob)) {
    bg = procedural_background(rng, w, h);
  } else {
    const int idx = rng.below(static_cast<int>(assets.background_files.size()));
    bg = photo_background(assets.background(static_cast<size_t>(idx)), rng, w, h);
  }
  bg.convertTo(bg, -1, rng.uniform(0.75, 1.25), rng.uniform(-20.0, 20.0));

  // ---- what to paste ----
  const int nc = static_cast<int>(assets.class_names.size());
  struct Item {
    bool labelled;
    int index;
  };
  std::vector<Item> items;
  const bool empty = rng.chance(config.empty_prob);
  const int n_lab = (empty || nc == 0 || assets.cutouts.empty()) ? 0 : 1 + rng.below(config.max_objects);
  const int n_dis = assets.distractors.empty() ? 0 : rng.below(config.max_distractors + 1);
  for (int i = 0; i < n_lab; ++i) {
    const auto& pool = assets.cutouts_of_class[static_cast<size_t>(rng.below(nc))];
    items.push_back({true, pool[static_cast<size_t>(rng.below(static_cast<int>(pool.size())))]});
  }
  for (int i = 0; i < n_dis; ++i) items.push_back({false, rng.below(static_cast<int>(assets.distractors.size()))});
  for (int i = static_cast<int>(items.size()) - 1; i > 0; --i) std::swap(items[i], items[rng.below(i + 1)]);

  // ---- paste ----
  const cv::Scalar bg_mean = cv::mean(bg);
  Canvas canvas(bg);
  const double short_side = std::min(w, h);
  for (const Item& it : items) {
    const SynthCutout& c = it.labelled ? assets.cutouts[static_cast<size_t>(it.index)]
                                       : assets.distractors[static_cast<size_t>(it.index)];
    const int native = std::max(c.bgra.cols, c.bgra.rows);
    double hi = std::min(config.max_size * short_side, config.max_upscale * native);
    double lo = std::min(std::max(config.min_size * short_side, 12.0), hi);
    SynthPlacement p;
    p.long_side = std::max(1, static_cast<int>(std::lround(std::exp(rng.uniform(std::log(lo), std::log(hi))))));
    p.flip = rng.chance(0.5) && c.mirror;
    p.angle_deg = rng.chance(0.5) ? 0.0 : rng.uniform(-config.max_rotation, config.max_rotation);
    p.gain = rng.uniform(0.7, 1.25);
    p.bias = rng.uniform(-20.0, 20.0);
    if (config.colour_match > 0.0) {
      // Pull the cut-out's colour cast (and, half as much, its brightness) toward the background's.
      const double t = rng.uniform(0.0, config.colour_match);
      const cv::Scalar o = cutout_mean_colour(c.bgra);
      const double bl = (bg_mean[0] + bg_mean[1] + bg_mean[2]) / 3.0 + 1.0;
      const double ol = (o[0] + o[1] + o[2]) / 3.0 + 1.0;
      for (int k = 0; k < 3; ++k) {
        const double cast = ((bg_mean[k] + 1.0) / bl) / ((o[k] + 1.0) / ol);
        p.colour[k] = std::clamp(std::pow(cast, t) * std::pow(bl / ol, 0.5 * t), 0.5, 2.0);
      }
    }
    if (rng.chance(config.object_blur_prob)) p.blur_sigma = rng.uniform(0.4, 1.2);
    if (rng.chance(config.feather_prob)) p.feather_sigma = rng.uniform(0.5, 1.0);
    const Patch patch = transform_cutout(c.bgra, p);
    if (patch.total == 0) continue;
    for (int t = 0; t < kSynthPlacementTries; ++t) {
      const double cx = rng.uniform(0, w), cy = rng.uniform(0, h);
      const cv::Point at(static_cast<int>(std::floor(cx - patch.bgra.cols * 0.5)),
                         static_cast<int>(std::floor(cy - patch.bgra.rows * 0.5)));
      if (canvas.acceptable(patch, at, it.labelled, config.min_visible)) {
        canvas.paste(patch, at, it.labelled ? c.class_id : -1, it.index);
        break;
      }
    }
  }
  SynthImage out = canvas.finish();

  // ---- whole-image photometric jitter (boxes unaffected) ----
  if (rng.chance(0.3)) out.image.convertTo(out.image, -1, rng.uniform(0.85, 1.15), rng.uniform(-10.0, 10.0));
  if (rng.chance(0.05)) {
    cv::Mat g;
    cv::cvtColor(out.image, g, cv::COLOR_BGR2GRAY);
    cv::cvtColor(g, out.image, cv::COLOR_GRAY2BGR);
  }
  if (rng.chance(0.2)) cv::GaussianBlur(out.image, out.image, cv::Size(3, 3), rng.uniform(0.5, 1.1));
  if (rng.chance(config.noise_prob)) {
    cv::Mat noise(out.image.size(), CV_16SC3);
    cv::RNG cvrng(rng.next());
    cvrng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(rng.uniform(2.0, 7.0)));
    cv::Mat img16;
    out.image.convertTo(img16, CV_16SC3);
    img16 += noise;
    img16.convertTo(out.image, CV_8UC3);
  }
  if (rng.chance(config.jpeg_artefact_prob)) {
    std::vector<uint8_t> jpg;
    cv::imencode(".jpg", out.image, jpg, {cv::IMWRITE_JPEG_QUALITY, 35 + rng.below(56)});
    out.image = cv::imdecode(jpg, cv::IMREAD_COLOR);
  }
  return out;
}

std::string synth_label_text(const SynthImage& img) {
  std::string out;
  const double W = img.image.cols, H = img.image.rows;
  char buf[128];
  for (const auto& o : img.objects) {
    if (o.class_id < 0 || o.box.empty()) continue;
    std::snprintf(buf, sizeof buf, "%d %.6f %.6f %.6f %.6f\n", o.class_id, (o.box.x + o.box.width * 0.5) / W,
                  (o.box.y + o.box.height * 0.5) / H, o.box.width / W, o.box.height / H);
    out += buf;
  }
  return out;
}

}  // namespace yolonas
