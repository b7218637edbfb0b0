// Synthetic detection datasets: cut-outs pasted on background photos, exact boxes from alpha.
// See synth.h for the box rule and docs/SYNTH.md for the asset tables.
#include "yolonas/data/synth.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "yolonas/detect/coco_names.h"
#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/rng.h"
#include "yolonas/core/text.h"
#include "yolonas/core/progress.h"

namespace fs = std::filesystem;

namespace yolonas {

// =================================================================================================
// Asset tables
// =================================================================================================

const std::vector<SynthStampEntry>& synth_stamp_table() {
  // Every entry was looked at: photographs (or, for the clock, a clean clock-face graphic) with a
  // transparent background. Cartoon drawings (stamps/**/cartoon/, the pizza, the bluebird, ...)
  // are left out. Paths are relative to /usr/share/tuxpaint/stamps.
  static const std::vector<SynthStampEntry> table = {
      // animals
      {"animals/mammals/dogs/dog.png", "dog"},
      {"animals/mammals/dogs/dingo.png", "dog"},
      {"animals/mammals/equines/horse.png", "horse"},
      {"animals/mammals/bovines/sheep.png", "sheep"},
      {"animals/mammals/bovines/sheep_lamb.png", "sheep"},
      {"animals/mammals/bovines/ram.png", "sheep"},
      {"animals/mammals/bovines/cow.png", "cow"},
      {"animals/mammals/bovines/cow_white.png", "cow"},
      {"animals/mammals/bovines/bull.png", "cow"},
      {"animals/mammals/bovines/zebu.png", "cow"},
      {"animals/mammals/elephant.png", "elephant"},
      {"animals/mammals/bears/bear.png", "bear"},
      {"animals/mammals/bears/european-bear.png", "bear"},
      {"animals/mammals/equines/zebra.png", "zebra"},
      {"animals/mammals/giraffe.png", "giraffe"},
      // birds (albino_peahen is left out: it stands on a tuft of grass)
      {"animals/birds/adelaide-rosella.png", "bird"},
      {"animals/birds/blackbird.png", "bird"},
      {"animals/birds/chicken_profile.png", "bird"},
      {"animals/birds/crow.png", "bird"},
      {"animals/birds/crowned_crane.png", "bird"},
      {"animals/birds/cuckoo.png", "bird"},
      {"animals/birds/drake.png", "bird"},
      {"animals/birds/duck.png", "bird"},
      {"animals/birds/gander.png", "bird"},
      {"animals/birds/guineafowl.png", "bird"},
      {"animals/birds/helmeted_guineafowl.png", "bird"},
      {"animals/birds/hen.png", "bird"},
      {"animals/birds/heron_greatblue.png", "bird"},
      {"animals/birds/heron_greatblue_flying.png", "bird"},
      {"animals/birds/lark.png", "bird"},
      {"animals/birds/little-penguin.png", "bird"},
      {"animals/birds/magellanic_penguin.png", "bird"},
      {"animals/birds/magpie.png", "bird"},
      {"animals/birds/nandou.png", "bird"},
      {"animals/birds/ostrich.png", "bird"},
      {"animals/birds/owl.png", "bird"},
      {"animals/birds/peacock.png", "bird"},
      {"animals/birds/pelican.png", "bird"},
      {"animals/birds/penguin.png", "bird"},
      {"animals/birds/pigeon.png", "bird"},
      {"animals/birds/pink_flamingo.png", "bird"},
      {"animals/birds/quetzal.png", "bird"},
      {"animals/birds/rainbow-lorikeet.png", "bird"},
      {"animals/birds/rooster.png", "bird"},
      {"animals/birds/seagull.png", "bird"},
      {"animals/birds/silver-gull.png", "bird"},
      {"animals/birds/tucan.png", "bird"},
      {"animals/birds/turkey.png", "bird"},
      {"animals/birds/vulture.png", "bird"},
      // vehicles (sedan_police is left out: its colour channels are broken)
      {"vehicles/auto/beetle.png", "car"},
      {"vehicles/auto/sedan.png", "car"},
      {"vehicles/auto/sportscar2.png", "car"},
      {"vehicles/race/indycar.png", "car"},
      {"vehicles/auto/truck.png", "truck"},
      {"vehicles/emergency/firetruck.png", "truck"},
      {"vehicles/garbagetruck.png", "truck"},
      {"vehicles/masstransit/green_korean_bus.png", "bus"},
      {"vehicles/flight/planes/747.png", "airplane"},
      {"military/vehicles/f22_raptor.png", "airplane"},
      {"vehicles/ship/chineseJunk.png", "boat"},
      {"vehicles/ship/walnutBoat.png", "boat"},
      // food
      {"food/fruit/apple_fuji.png", "apple"},
      {"food/fruit/apple_granny_smith.png", "apple"},
      {"food/fruit/apple_green.png", "apple"},
      {"food/fruit/apple_red.png", "apple"},
      {"food/fruit/apple_sierra_beauty.png", "apple"},
      {"food/fruit/orange.png", "orange"},
      {"food/fruit/orange_seville.png", "orange"},
      {"food/fruit/mandarine.png", "orange"},
      {"food/fruit/sliced_orange.png", "orange"},
      {"food/fruit/banana.png", "banana"},
      {"food/vegetables/broccoli.png", "broccoli"},
      {"food/vegetables/carrot.png", "carrot"},
      // household
      {"household/dishes/mug.png", "cup"},
      {"household/arttools/scissors_small_closed.png", "scissors"},
      {"household/arttools/scissors_small_open.png", "scissors"},
      {"household/toilet.png", "toilet"},
      {"animals/mammals/bears/toys/edward_bear.png", "teddy bear"},
      {"symbols/clockface.png", "clock"},
      // sports balls
      {"sports/basketball.png", "sports ball"},
      {"sports/cricketball.png", "sports ball"},
      {"sports/football.png", "sports ball"},
      {"sports/soccer.png", "sports ball"},
      {"sports/tennis_ball.png", "sports ball"},
      {"sports/australian_rules_football.png", "sports ball"},
  };
  return table;
}

const std::vector<const char*>& synth_distractor_table() {
  // Photo-like stamps of things outside the synth classes, pasted without labels so that the model
  // learns that not every pasted-looking object is one of its classes.
  static const std::vector<const char*> table = {
      "animals/fish/bluegroper.png",       "animals/fish/clownfish.png",
      "animals/fish/lobster.png",          "animals/insects/mantis.png",
      "animals/insects/grasshopper.png",   "plants/flowers/rose.png",
      "plants/flowers/iris.png",           "plants/flowers/marigold.png",
      "plants/flowers/flower1.png",        "plants/flowers/flower5.png",
      "plants/mushrooms/cep.png",          "plants/trees/pinecone.png",
      "food/fruit/pear.png",               "food/fruit/pineapple.png",
      "food/fruit/lemon.png",              "food/fruit/kiwi.png",
      "food/fruit/grapes.png",             "food/fruit/strawberry.png",
      "food/fruit/pomegranate.png",        "food/fruit/avocado.png",
      "food/vegetables/corn.png",          "food/vegetables/eggplant.png",
      "food/vegetables/potato.png",        "food/vegetables/tomato.png",
      "food/vegetables/lettuce.png",       "food/vegetables/pumpkin_small.png",
      "food/vegetables/mushroom.png",      "food/vegetables/pepper.png",
      "food/vegetables/onion.png",         "household/tools/hammer.png",
      "household/tools/saw.png",           "household/tools/toolbox.png",
      "household/tools/wrench.png",        "household/key.png",
      "household/kettle.png",              "household/dishes/teapot.png",
      "hobbies/music/string/violin.png",   "hobbies/music/brass/trumpet.png",
      "hobbies/binoculars.png",            "hobbies/camera_35mm.png",
      "clothes/hats/tophat.png",           "animals/mammals/cats/tiger.png",
      "animals/mammals/cats/lion.png",     "animals/mammals/deer/deer.png",
      "animals/mammals/camel/camel.png",   "animals/marsupials/kangaroo.png",
      "animals/marsupials/koala.png",      "animals/mammals/pig.png",
      "animals/mammals/rhino_black.png",   "animals/mammals/hippopotamus.png",
      "animals/mammals/rodents/squirrel.png", "animals/mammals/rodents/rabbit.png",
      "animals/lizards/iguana.png",        "animals/amphibians/frog.png",
      "town/roadsigns/traffic_cone.png",
  };
  return table;
}

const std::vector<SynthBackgroundEntry>& synth_background_table() {
  // Photos and textures that show none of the synth classes (checked by eye). Left out on purpose:
  // opencv-doc fruits/apple/orange (fruit), home (birds in the sky), building and
  // licenseplate_motion (cars), messi5 and basketball (balls), chicky_512 (a bird), the left*/right*
  // chessboard series (repetitive); lomiri friends (dogs), free and Kleiber (birds), greentock (a
  // clock), Wine (glasses), picosdeeuropa (white dots that may be sheep); plasma ColorfulCups (cups),
  // EveningGlow (boats); mate Elephants (elephants); cartoons and logos everywhere.
  static const std::vector<SynthBackgroundEntry> table = {
      {"/usr/share/doc/opencv-doc/examples/data/aero1.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/aero3.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/aloeL.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/baboon.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/board.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/butterfly.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/ela_original.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/graf1.png", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/graf3.png", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/leuvenA.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/leuvenB.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/rubberwhale1.png", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/squirrel_cls.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/starry_night.jpg", "opencv-doc"},
      {"/usr/share/doc/opencv-doc/examples/data/stuff.jpg", "opencv-doc"},
      {"/usr/share/backgrounds/mate/nature/Aqua.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/Blinds.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/Dune.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/FreshFlower.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/Garden.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/GreenMeadow.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/LadyBird.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/RainDrops.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/Storm.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/TwoWings.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/Wood.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/mate/nature/YellowFlower.jpg", "mate-backgrounds"},
      {"/usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg", "lomiri-wallpapers-16.04"},
      {"/usr/share/backgrounds/Dragonfly_by_Bolly.jpg", "lomiri-wallpapers-16.04"},
      {"/usr/share/backgrounds/Picture_0B_by_freespace.jpg", "lomiri-wallpapers-16.04"},
      {"/usr/share/backgrounds/Picture_1A_by_freespace.jpg", "lomiri-wallpapers-16.04"},
      {"/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg", "lomiri-wallpapers-16.04"},
      {"/usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg", "lomiri-wallpapers-16.04"},
      {"/usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg", "lomiri-wallpapers-16.04"},
      {"/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg", "lomiri-wallpapers-16.04"},
      {"/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg", "lomiri-wallpapers-16.04"},
      {"/usr/share/wallpapers/BytheWater/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/ColdRipple/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/DarkestHour/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/Flow/contents/images/5120x2880.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/Grey/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/Honeywave/contents/images/5120x2880.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/PastelHills/contents/images/3200x2000.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/Path/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/Volna/contents/images/5120x2880.jpg", "plasma-workspace-wallpapers"},
      {"/usr/share/wallpapers/summer_1am/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers"},
  };
  return table;
}

std::vector<std::string> synth_background_packages() {
  std::vector<std::string> out;
  for (const auto& e : synth_background_table())
    if (std::find(out.begin(), out.end(), e.package) == out.end()) out.push_back(e.package);
  return out;
}

std::vector<std::string> synth_default_classes() {
  std::set<std::string> have;
  for (const auto& e : synth_stamp_table()) have.insert(e.coco_class);
  std::vector<std::string> out;
  for (const auto& n : coco80_names())
    if (have.count(n)) out.push_back(n);
  return out;
}

// =================================================================================================
// Helpers
// =================================================================================================

namespace {

std::string normalize_class_name(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '_') c = ' ';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const auto b = out.find_first_not_of(" \t\"'");
  const auto e = out.find_last_not_of(" \t\"'");
  return b == std::string::npos ? "" : out.substr(b, e - b + 1);
}

// Tux Paint's per-stamp STEM.dat lists "nomirror" for stamps that must not be mirrored (text, clocks).
bool tuxpaint_says_nomirror(const fs::path& png) {
  fs::path dat = png;
  dat.replace_extension(".dat");
  std::ifstream f(dat);
  std::string word;
  while (f >> word)
    if (word == "nomirror") return true;
  return false;
}

// Width and height from a JPEG's SOF segment (false when not a JPEG or not found). Lets large
// wallpapers be decoded at 1/2, 1/4 or 1/8 scale by libjpeg, which is several times faster.
bool jpeg_size(const std::string& path, int& w, int& h) {
  std::ifstream f(path, std::ios::binary);
  unsigned char b[4];
  if (!f.read(reinterpret_cast<char*>(b), 2) || b[0] != 0xFF || b[1] != 0xD8) return false;
  for (int guard = 0; guard < 1000; ++guard) {
    int c = f.get();
    while (c == 0xFF) c = f.get();  // fill bytes
    if (c == EOF) return false;
    const int marker = c;
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (!f.read(reinterpret_cast<char*>(b), 2)) return false;
    const int len = (b[0] << 8) | b[1];
    if (len < 2) return false;
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      unsigned char d[5];
      if (!f.read(reinterpret_cast<char*>(d), 5)) return false;
      h = (d[1] << 8) | d[2];
      w = (d[3] << 8) | d[4];
      return w > 0 && h > 0;
    }
    if (marker == 0xDA || marker == 0xD9) return false;  // start of scan / end: no SOF before it
    f.seekg(len - 2, std::ios::cur);
  }
  return false;
}

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
  if (p.gain != 1.0 || p.bias != 0.0) {
    cv::Mat b(m.size(), CV_8UC4);
    for (int y = 0; y < m.rows; ++y) {
      const cv::Vec4b* s = m.ptr<cv::Vec4b>(y);
      cv::Vec4b* d = b.ptr<cv::Vec4b>(y);
      for (int x = 0; x < m.cols; ++x) {
        const int a = s[x][3];
        d[x][3] = static_cast<uint8_t>(a);
        for (int k = 0; k < 3; ++k) {
          // premultiplied: (c/a * gain + bias) * a = c * gain + bias * a / 255, kept within [0, a]
          const int v = static_cast<int>(std::lround(s[x][k] * p.gain + p.bias * a / 255.0));
          d[x][k] = static_cast<uint8_t>(std::clamp(v, 0, a));
        }
      }
    }
    m = b;
  }
  Patch out;
  out.bgra = m;
  cv::Mat alpha;
  cv::extractChannel(m, alpha, 3);
  cv::compare(alpha, kSynthAlphaOn - 1, out.mask, cv::CMP_GT);
  out.total = cv::countNonZero(out.mask);
  return out;
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

void check_config(const SynthConfig& c) {
  auto bad = [](const std::string& m) { throw Error("synth: " + m); };
  if (c.n_train < 0 || c.n_val < 0) bad("n_train and n_val must be >= 0");
  if (c.imgsz < 32 || c.imgsz > 8192) bad("imgsz must be in 32..8192, got " + std::to_string(c.imgsz));
  if (c.jpeg_quality < 1 || c.jpeg_quality > 100) bad("quality must be in 1..100");
  if (c.max_objects < 1) bad("max_objects must be >= 1");
  if (c.max_distractors < 0) bad("distractors must be >= 0");
  if (!(c.empty_prob >= 0 && c.empty_prob <= 1)) bad("empty must be in [0, 1]");
  if (!(c.procedural_prob >= 0 && c.procedural_prob <= 1)) bad("procedural probability must be in [0, 1]");
  if (!(c.min_size > 0 && c.min_size <= c.max_size && c.max_size <= 1.0))
    bad("need 0 < min_size <= max_size <= 1 (fractions of the image's short side)");
  if (!(c.max_upscale >= 1.0)) bad("max_upscale must be >= 1");
  if (!(c.max_rotation >= 0 && c.max_rotation <= 180)) bad("rotate must be in [0, 180] degrees");
  if (!(c.min_visible > 0 && c.min_visible <= 1)) bad("min_visible must be in (0, 1]");
}

}  // namespace

// =================================================================================================
// Cut-outs and assets
// =================================================================================================

SynthCutout make_synth_cutout(const cv::Mat& bgra_straight, int class_id, const std::string& source) {
  if (bgra_straight.empty() || bgra_straight.type() != CV_8UC4)
    throw Error("synth: cut-out '" + source + "' is not an 8-bit image with an alpha channel");
  cv::Mat alpha;
  cv::extractChannel(bgra_straight, alpha, 3);
  const cv::Rect box = cv::boundingRect(alpha);
  if (box.empty()) throw Error("synth: cut-out '" + source + "' is fully transparent");
  const cv::Mat src = bgra_straight(box);
  cv::Mat pm(src.size(), CV_8UC4);
  for (int y = 0; y < src.rows; ++y) {
    const cv::Vec4b* s = src.ptr<cv::Vec4b>(y);
    cv::Vec4b* d = pm.ptr<cv::Vec4b>(y);
    for (int x = 0; x < src.cols; ++x) {
      const int a = s[x][3];
      for (int k = 0; k < 3; ++k) d[x][k] = static_cast<uint8_t>((s[x][k] * a + 127) / 255);
      d[x][3] = static_cast<uint8_t>(a);
    }
  }
  SynthCutout c;
  c.class_id = class_id;
  c.source = source;
  c.bgra = pm;
  return c;
}

SynthCutout load_synth_cutout(const std::string& path, int class_id, int max_side) {
  const cv::Mat img = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (img.empty()) throw Error("synth: cannot read cut-out image '" + path + "'");
  cv::Mat bgra;
  if (img.depth() != CV_8U) throw Error("synth: cut-out '" + path + "' is not an 8-bit image");
  if (img.channels() != 4) throw Error("synth: cut-out '" + path + "' has no alpha channel (need RGBA)");
  bgra = img;
  SynthCutout c = make_synth_cutout(bgra, class_id, path);
  const int side = std::max(c.bgra.cols, c.bgra.rows);
  if (max_side > 0 && side > max_side) {
    const double s = static_cast<double>(max_side) / side;
    cv::Mat r;
    cv::resize(c.bgra, r, cv::Size(std::max(1, static_cast<int>(std::lround(c.bgra.cols * s))),
                                   std::max(1, static_cast<int>(std::lround(c.bgra.rows * s)))),
               0, 0, cv::INTER_AREA);
    c.bgra = r;
  }
  return c;
}

struct SynthAssets::Slot {
  std::once_flag once;
  cv::Mat img;
  std::string error;
};

SynthAssets::SynthAssets() = default;
SynthAssets::~SynthAssets() = default;
SynthAssets::SynthAssets(SynthAssets&&) noexcept = default;
SynthAssets& SynthAssets::operator=(SynthAssets&&) noexcept = default;

void SynthAssets::reset_background_cache() {
  slots_.clear();
  for (size_t i = 0; i < background_files.size(); ++i) slots_.push_back(std::make_unique<Slot>());
}

const cv::Mat& SynthAssets::background(size_t i) const {
  if (i >= slots_.size() || slots_.size() != background_files.size())
    throw Error("synth: background " + std::to_string(i) + " out of range (call reset_background_cache())");
  Slot& s = *slots_[i];
  std::call_once(s.once, [&] {
    const std::string& path = background_files[i];
    int flags = cv::IMREAD_COLOR, jw = 0, jh = 0;
    if (bg_max_side_ > 0 && jpeg_size(path, jw, jh)) {
      const int side = std::max(jw, jh);
      if (side >= 8 * bg_max_side_)
        flags = cv::IMREAD_REDUCED_COLOR_8;
      else if (side >= 4 * bg_max_side_)
        flags = cv::IMREAD_REDUCED_COLOR_4;
      else if (side >= 2 * bg_max_side_)
        flags = cv::IMREAD_REDUCED_COLOR_2;
    }
    cv::Mat img = cv::imread(path, flags);
    if (img.empty()) {
      s.error = "synth: cannot decode background image '" + path + "'";
      return;
    }
    const int side = std::max(img.cols, img.rows);
    if (bg_max_side_ > 0 && side > bg_max_side_) {
      const double f = static_cast<double>(bg_max_side_) / side;
      cv::Mat r;
      cv::resize(img, r, cv::Size(std::max(1, static_cast<int>(std::lround(img.cols * f))),
                                  std::max(1, static_cast<int>(std::lround(img.rows * f)))),
                 0, 0, cv::INTER_AREA);
      img = r;
    }
    s.img = img;
  });
  if (s.img.empty()) throw Error(s.error);
  return s.img;
}

SynthAssets load_synth_assets(const SynthConfig& config) {
  SynthAssets a;
  const int max_side = std::max(config.imgsz, 64);

  // ---- classes and cut-outs ----
  std::vector<std::string> requested;
  for (const auto& c : config.classes) {
    const std::string n = normalize_class_name(c);
    if (n.empty()) continue;
    if (std::find(requested.begin(), requested.end(), n) != requested.end())
      throw Error("synth: class '" + n + "' is listed twice in classes=");
    requested.push_back(n);
  }

  if (!config.cutout_files.empty()) {
    std::vector<std::string> available;
    for (const auto& f : config.cutout_files) {
      const std::string n = normalize_class_name(f.class_name);
      if (std::find(available.begin(), available.end(), n) == available.end()) available.push_back(n);
    }
    a.class_names = requested.empty() ? available : requested;
    for (const auto& n : a.class_names)
      if (std::find(available.begin(), available.end(), n) == available.end())
        throw Error("synth: no cut-out for class '" + n + "' (have: " + join(available, ", ") + ")");
    a.cutouts_of_class.assign(a.class_names.size(), {});
    for (const auto& f : config.cutout_files) {
      const auto it = std::find(a.class_names.begin(), a.class_names.end(), normalize_class_name(f.class_name));
      if (it == a.class_names.end()) continue;
      const int cls = static_cast<int>(it - a.class_names.begin());
      a.cutouts_of_class[cls].push_back(static_cast<int>(a.cutouts.size()));
      a.cutouts.push_back(load_synth_cutout(f.path, cls, max_side));
    }
    for (const auto& f : config.distractor_files) a.distractors.push_back(load_synth_cutout(f, -1, max_side));
  } else {
    const fs::path root(config.stamps_dir);
    if (!fs::is_directory(root))
      throw Error("synth: the cut-out images are missing: '" + config.stamps_dir +
                  "' does not exist. Install the Debian package " + kTuxpaintPackage +
                  " (sudo apt-get install " + kTuxpaintPackage + ")");
    const std::vector<std::string> available = synth_default_classes();
    a.class_names = requested.empty() ? available : requested;
    for (const auto& n : a.class_names)
      if (std::find(available.begin(), available.end(), n) == available.end())
        throw Error("synth: no cut-outs for class '" + n + "'" +
                    (std::find(coco80_names().begin(), coco80_names().end(), n) != coco80_names().end()
                         ? " (Tux Paint has no photo-like stamp of it, see docs/SYNTH.md)"
                         : "") +
                    "; classes= accepts: " + join(available, ", "));
    a.cutouts_of_class.assign(a.class_names.size(), {});
    int missing = 0;
    for (const auto& e : synth_stamp_table()) {
      const auto it = std::find(a.class_names.begin(), a.class_names.end(), e.coco_class);
      if (it == a.class_names.end()) continue;
      const fs::path p = root / e.file;
      if (!fs::exists(p)) {
        ++missing;
        a.notes.push_back("cut-out not found (skipped): " + p.string());
        continue;
      }
      const int cls = static_cast<int>(it - a.class_names.begin());
      a.cutouts_of_class[cls].push_back(static_cast<int>(a.cutouts.size()));
      a.cutouts.push_back(load_synth_cutout(p.string(), cls, max_side));
      a.cutouts.back().mirror = !tuxpaint_says_nomirror(p);
    }
    for (size_t c = 0; c < a.class_names.size(); ++c)
      if (a.cutouts_of_class[c].empty())
        throw Error("synth: no cut-out image found for class '" + a.class_names[c] + "' under '" +
                    config.stamps_dir + "' (" + std::to_string(missing) +
                    " table files missing); reinstall the Debian package " + kTuxpaintPackage);
    for (const char* f : synth_distractor_table()) {
      const fs::path p = root / f;
      if (!fs::exists(p)) continue;
      a.distractors.push_back(load_synth_cutout(p.string(), -1, max_side));
      a.distractors.back().mirror = !tuxpaint_says_nomirror(p);
    }
  }

  // ---- backgrounds ----
  if (!config.background_files.empty() || !config.background_dirs.empty()) {
    for (const auto& f : config.background_files) {
      if (!fs::is_regular_file(f)) throw Error("synth: background image '" + f + "' does not exist");
      a.background_files.push_back(f);
    }
    for (const auto& d : config.background_dirs) {
      if (!fs::is_directory(d)) throw Error("synth: backgrounds folder '" + d + "' does not exist");
      std::vector<std::string> found;
      for (const auto& e : fs::recursive_directory_iterator(d))
        if (e.is_regular_file() && is_image_file(e.path())) found.push_back(e.path().string());
      if (found.empty()) throw Error("synth: no images in backgrounds folder '" + d + "'");
      std::sort(found.begin(), found.end());
      a.background_files.insert(a.background_files.end(), found.begin(), found.end());
    }
  } else {
    std::map<std::string, int> missing_by_pkg;
    for (const auto& e : synth_background_table()) {
      if (fs::is_regular_file(e.path))
        a.background_files.push_back(e.path);
      else
        ++missing_by_pkg[e.package];
    }
    if (a.background_files.empty())
      throw Error("synth: no background photos found. Install at least one of the Debian packages " +
                  join(synth_background_packages(), ", ") + " (sudo apt-get install " +
                  join(synth_background_packages(), " ") + ")");
    for (const auto& [pkg, n] : missing_by_pkg)
      a.notes.push_back(std::to_string(n) + " background photos of the Debian package " + pkg +
                        " are missing (apt-get install " + pkg + " for more variety)");
  }
  a.set_background_max_side(std::clamp(2 * config.imgsz, 256, 2048));
  a.reset_background_cache();
  return a;
}

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

// =================================================================================================
// Dataset
// =================================================================================================

std::string synth_data_yaml(const std::string& root_abs, const std::vector<std::string>& names,
                            const std::string& comment) {
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  };
  std::ostringstream y;
  if (!comment.empty()) {
    std::istringstream lines(comment);
    std::string line;
    while (std::getline(lines, line)) y << "# " << line << "\n";
  }
  y << "path: " << quote(root_abs) << "\n";
  y << "train: images/train\n";
  y << "val: images/val\n";
  y << "nc: " << names.size() << "\n";
  y << "names:\n";
  for (size_t i = 0; i < names.size(); ++i) y << "  " << i << ": " << quote(names[i]) << "\n";
  return y.str();
}

namespace {

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  if (!f) throw Error("synth: cannot write '" + p.string() + "'");
  f << text;
  if (!f) throw Error("synth: cannot write '" + p.string() + "'");
}

bool non_empty_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && fs::directory_iterator(p, ec) != fs::directory_iterator();
}

struct CvThreadsGuard {
  int old;
  CvThreadsGuard() : old(cv::getNumThreads()) { cv::setNumThreads(1); }
  ~CvThreadsGuard() { cv::setNumThreads(old); }
};

}  // namespace

SynthSummary generate_synthetic_dataset(const SynthConfig& config, Progress* progress) {
  check_config(config);
  if (config.out_dir.empty()) throw Error("synth: out= is required (the dataset folder to create)");
  const auto t0 = std::chrono::steady_clock::now();

  SynthAssets assets = load_synth_assets(config);

  const fs::path root = fs::absolute(fs::path(config.out_dir)).lexically_normal();
  const char* splits[2] = {"train", "val"};
  bool exists = fs::exists(root / "data.yaml");
  for (const char* s : splits)
    exists = exists || non_empty_dir(root / "images" / s) || non_empty_dir(root / "labels" / s);
  if (exists && !config.exist_ok)
    throw Error("synth: '" + root.string() +
                "' already holds a dataset; choose another out= or pass exist_ok=true to replace it");
  std::error_code ec;
  for (const char* s : splits) {
    fs::remove_all(root / "images" / s, ec);
    fs::remove_all(root / "labels" / s, ec);
    fs::create_directories(root / "images" / s, ec);
    fs::create_directories(root / "labels" / s, ec);
    if (!fs::is_directory(root / "images" / s) || !fs::is_directory(root / "labels" / s))
      throw Error("synth: cannot create folders under '" + root.string() + "'");
  }
  fs::remove(root / "data.yaml", ec);

  const int64_t total = static_cast<int64_t>(config.n_train) + config.n_val;
  const int nc = static_cast<int>(assets.class_names.size());
  int workers = config.workers > 0 ? config.workers : static_cast<int>(std::thread::hardware_concurrency());
  workers = static_cast<int>(std::clamp<int64_t>(workers, 1, std::max<int64_t>(1, total)));

  std::atomic<int64_t> next{0}, done{0};
  std::atomic<bool> stop{false};
  std::mutex mu;  // guards first_error, progress and the merged counts
  std::exception_ptr first_error;
  SynthSummary sum;
  sum.boxes_per_class.assign(static_cast<size_t>(nc), 0);
  const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, config.jpeg_quality};

  auto work = [&] {
    std::vector<int64_t> per_class(static_cast<size_t>(nc), 0);
    int64_t boxes = 0, empty = 0;
    try {
      for (;;) {
        if (stop.load()) break;
        const int64_t j = next.fetch_add(1);
        if (j >= total) break;
        const int split = j < config.n_train ? 0 : 1;
        const int64_t idx = split == 0 ? j : j - config.n_train;
        const SynthImage img = synth_random_image(assets, config, synth_image_seed(config.seed, split, idx));
        char name[32];
        std::snprintf(name, sizeof name, "%06lld", static_cast<long long>(idx));
        const fs::path ip = root / "images" / splits[split] / (std::string(name) + ".jpg");
        const fs::path lp = root / "labels" / splits[split] / (std::string(name) + ".txt");
        if (!cv::imwrite(ip.string(), img.image, params)) throw Error("synth: cannot write '" + ip.string() + "'");
        write_text(lp, synth_label_text(img));
        int n = 0;
        for (const auto& o : img.objects)
          if (o.class_id >= 0 && !o.box.empty()) {
            ++per_class[static_cast<size_t>(o.class_id)];
            ++n;
          }
        boxes += n;
        if (n == 0) ++empty;
        const int64_t d = done.fetch_add(1) + 1;
        if (progress) {
          std::lock_guard<std::mutex> lock(mu);
          progress->update(d);
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!first_error) first_error = std::current_exception();
      stop = true;
    }
    std::lock_guard<std::mutex> lock(mu);
    for (int c = 0; c < nc; ++c) sum.boxes_per_class[static_cast<size_t>(c)] += per_class[static_cast<size_t>(c)];
    sum.boxes += boxes;
    sum.empty_images += empty;
  };

  {
    CvThreadsGuard guard;
    std::vector<std::thread> threads;
    for (int t = 1; t < workers; ++t) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
  }
  if (first_error) std::rethrow_exception(first_error);
  if (progress) progress->finish();

  std::ostringstream comment;
  comment << "Synthetic detection dataset made by `yolonas synth` (see docs/SYNTH.md)\n"
          << "seed=" << config.seed << " imgsz=" << config.imgsz << " n_train=" << config.n_train
          << " n_val=" << config.n_val << "\n"
          << "cut-outs: " << assets.cutouts.size() << " (+" << assets.distractors.size()
          << " unlabelled distractors), backgrounds: " << assets.background_files.size();
  sum.data_yaml = (root / "data.yaml").string();
  write_text(root / "data.yaml", synth_data_yaml(root.string(), assets.class_names, comment.str()));

  sum.images = total;
  sum.class_names = assets.class_names;
  sum.backgrounds = static_cast<int>(assets.background_files.size());
  sum.cutouts = static_cast<int>(assets.cutouts.size());
  sum.distractors = static_cast<int>(assets.distractors.size());
  sum.notes = assets.notes;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace yolonas
