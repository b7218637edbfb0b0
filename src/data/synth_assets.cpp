// yolonas synth: the asset tables (read from assets/synth_assets.yaml, built into the library),
// the cut-outs and the background photos. See synth.h.
#include "yolonas/data/synth.h"

#include <yaml-cpp/yaml.h>

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
#include "yolonas/detect/coco_names.h"
#include "synth_assets_yaml.h"  // kSynthAssetsYaml: assets/synth_assets.yaml, embedded by CMake

namespace fs = std::filesystem;

namespace yolonas {

// =================================================================================================
// Asset tables (assets/synth_assets.yaml)
// =================================================================================================

namespace {

struct AssetTables {
  std::vector<SynthStampEntry> stamps;
  std::vector<std::string> distractors;
  std::vector<SynthBackgroundEntry> backgrounds;
};

// Parsed once; the file is part of the source tree (checked by the tests), so a mistake in it is a
// build defect, reported as yolonas::Error naming the entry.
const AssetTables& tables() {
  static const AssetTables t = [] {
    AssetTables out;
    const std::string origin = "assets/synth_assets.yaml (built in)";
    try {
      const YAML::Node root = YAML::Load(kSynthAssetsYaml);
      for (const auto& e : root["stamps"]) out.stamps.push_back({e["file"].as<std::string>(), e["class"].as<std::string>()});
      for (const auto& e : root["distractors"]) out.distractors.push_back(e.as<std::string>());
      for (const auto& e : root["backgrounds"])
        out.backgrounds.push_back({e["path"].as<std::string>(), e["package"].as<std::string>()});
    } catch (const YAML::Exception& e) {
      throw Error(origin + ": " + e.what());
    }
    if (out.stamps.empty() || out.backgrounds.empty()) throw Error(origin + ": no stamps or no backgrounds");
    return out;
  }();
  return t;
}

}  // namespace

const std::vector<SynthStampEntry>& synth_stamp_table() { return tables().stamps; }
const std::vector<std::string>& synth_distractor_table() { return tables().distractors; }
const std::vector<SynthBackgroundEntry>& synth_background_table() { return tables().backgrounds; }

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
    if (bg_max_side_ > 0 && read_jpeg_size(path, jw, jh)) {
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
    for (const std::string& f : synth_distractor_table()) {
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

}  // namespace yolonas
