// `yolonas autolabel model=TEACHER source=DIR|GLOB|VIDEO out=DATASET`: pseudo-labels images and
// video frames with any model yolonas runs, and writes a YOLO dataset that trains like any other:
//   DATASET/data.yaml, images/{train,val}/, labels/{train,val}/ (class cx cy w h, normalized),
//   scores/{train,val}/ (the same rows with the teacher's score), summary.txt + summary.json (per
//   class: images, boxes, mean score; what was dropped and why), preview.jpg (a mosaic of samples);
//   with ignore_conf=, ignore/{train,val}/: the boxes scored in [ignore_conf, conf), the teacher's
//   uncertain objects, which `train ignore_regions=true` neither learns nor teaches as background.
// Options: conf=0.5 or conf=0.4,person:0.6 (per class), iou, max_det, classes= (ids or names kept),
// rename=truck:vehicle,car:vehicle (classes renamed or merged), min_size=4 (shorter box side, px),
// vid_stride=30 (every Nth frame), dedup=0.97 (skip a frame this similar to the last one kept; 0 =
// off), val=0.1 (share of images in val), seed=0, keep_empty=true (images without boxes stay, as
// background), preview=16, exist_ok=false (DATASET must not exist, or be empty).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "commands.h"
#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/progress.h"
#include "yolonas/core/rng.h"
#include "yolonas/core/text.h"
#include "yolonas/detect/draw.h"
#include "yolonas/detect/postprocess.h"
#include "yolonas/detect/preprocess.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace yolonas::cli {
namespace {

int class_index(const std::string& token, const std::vector<std::string>& names, const std::string& key) {
  const std::string t = trim(token);
  if (!t.empty() && std::all_of(t.begin(), t.end(), ::isdigit)) {
    const int i = std::stoi(t);
    if (i < static_cast<int>(names.size())) return i;
  }
  auto it = std::find(names.begin(), names.end(), t);
  if (it == names.end()) throw Error(key + ": '" + clip(t, 60) + "' is not a class of the teacher (it has " +
                                     std::to_string(names.size()) + ": " + clip(join(names, ", "), 300) + ")");
  return static_cast<int>(it - names.begin());
}

struct Labeler {
  std::vector<float> conf;       // per teacher class
  std::vector<int> to_new;       // teacher class -> dataset class (-1: dropped)
  std::vector<std::string> new_names;
  double min_size = 4;
  float iou = 0.7f;
  float ignore_conf = -1;  // >= 0: boxes scored in [ignore_conf, conf) become ignore regions
};

struct ClassStats {
  int64_t images = 0, boxes = 0;
  double score_sum = 0;
};

struct Output {
  fs::path root;
  double val_share = 0.1;
  uint64_t seed = 0;
  bool keep_empty = true;
  std::set<std::string> used_names;
  std::map<int, ClassStats> stats;
  int64_t ignore_regions = 0;
  int64_t written[2] = {0, 0}, empty_kept = 0, empty_dropped = 0, below_conf = 0, too_small = 0, other_class = 0, merged_duplicates = 0;
  std::vector<std::pair<cv::Mat, std::vector<Detection>>> preview;  // thumbnails with their boxes
  int preview_max = 16;

  std::string unique_name(const std::string& stem) {
    std::string name = stem.empty() ? "image" : stem;
    for (char& c : name)
      if (c == ' ' || c == '/' || c == '\\') c = '_';
    std::string candidate = name;
    for (int k = 1; used_names.count(candidate); ++k) candidate = name + "_" + std::to_string(k);
    used_names.insert(candidate);
    return candidate;
  }
};

// Keeps the detections the options allow, in dataset classes. Counts what it drops. With
// L.ignore_conf, the ones scored in [ignore_conf, conf) (otherwise allowed) go to `unsure`.
std::vector<Detection> select(const std::vector<Detection>& dets, const Labeler& L, Output& out,
                              std::vector<Detection>& unsure) {
  std::vector<Detection> kept;
  unsure.clear();
  for (const Detection& d : dets) {
    if (d.cls < 0 || d.cls >= static_cast<int>(L.to_new.size()) || L.to_new[d.cls] < 0) {
      ++out.other_class;
      continue;
    }
    Detection n = d;
    n.cls = L.to_new[d.cls];
    const bool small = std::min(d.x2 - d.x1, d.y2 - d.y1) < L.min_size;
    if (d.score < L.conf[d.cls]) {
      ++out.below_conf;
      if (L.ignore_conf >= 0 && d.score >= L.ignore_conf && !small) unsure.push_back(n);
      continue;
    }
    if (small) {
      ++out.too_small;
      continue;
    }
    kept.push_back(n);
  }
  // Classes merged by rename= can box one object twice (a car and a truck, both now "vehicle"):
  // NMS again within each dataset class.
  std::map<int, std::vector<size_t>> by_class;
  for (size_t i = 0; i < kept.size(); ++i) by_class[kept[i].cls].push_back(i);
  std::vector<Detection> out_dets;
  for (const auto& [cls, idx] : by_class) {
    std::vector<float> boxes, scores;
    for (size_t i : idx) {
      const Detection& d = kept[i];
      boxes.insert(boxes.end(), {d.x1, d.y1, d.x2, d.y2});
      scores.push_back(d.score);
    }
    for (int k : nms(boxes, scores, L.iou)) out_dets.push_back(kept[idx[static_cast<size_t>(k)]]);
  }
  out.merged_duplicates += static_cast<int64_t>(kept.size() - out_dets.size());
  std::sort(out_dets.begin(), out_dets.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
  return out_dets;
}

// Boxes clipped to the image (YOLO labels live in [0, 1]); those left under 1 px go.
std::vector<Detection> clip_to_image(const std::vector<Detection>& in, const cv::Mat& image) {
  std::vector<Detection> out;
  const float W = static_cast<float>(image.cols), H = static_cast<float>(image.rows);
  for (Detection d : in) {
    d.x1 = std::clamp(d.x1, 0.f, W), d.x2 = std::clamp(d.x2, 0.f, W);
    d.y1 = std::clamp(d.y1, 0.f, H), d.y2 = std::clamp(d.y2, 0.f, H);
    if (d.x2 - d.x1 >= 1 && d.y2 - d.y1 >= 1) out.push_back(d);
  }
  return out;
}

// One YOLO row: "class cx cy w h", normalized.
std::string yolo_row(const Detection& d, const cv::Mat& image) {
  const float W = static_cast<float>(image.cols), H = static_cast<float>(image.rows);
  char row[160];
  std::snprintf(row, sizeof row, "%d %.6f %.6f %.6f %.6f", d.cls, (d.x1 + d.x2) / 2 / W, (d.y1 + d.y2) / 2 / H,
                (d.x2 - d.x1) / W, (d.y2 - d.y1) / H);
  return row;
}

// Writes one labelled image: the image (a copy of the file, or the frame as JPEG), its labels and
// scores, and its ignore regions (ignore_conf=).
void write_sample(Output& out, const std::string& stem, const cv::Mat& image, const std::string& source_file,
                  const std::vector<Detection>& dets_in, const std::vector<Detection>& unsure_in) {
  const std::vector<Detection> dets = clip_to_image(dets_in, image), unsure = clip_to_image(unsure_in, image);
  if (dets.empty()) {
    if (!out.keep_empty) {
      ++out.empty_dropped;
      return;
    }
    ++out.empty_kept;
  }
  const std::string name = out.unique_name(stem);
  Rng rng = make_rng(mix_seed(out.seed, std::hash<std::string>{}(name), 7));
  const int split = rand_chance(rng, out.val_share) ? 1 : 0;
  const std::string sub = split ? "val" : "train";
  const std::string ext = source_file.empty() ? ".jpg" : lower(fs::path(source_file).extension().string());
  const fs::path img_path = out.root / "images" / sub / (name + ext);
  if (source_file.empty()) {
    if (!cv::imwrite(img_path.string(), image, {cv::IMWRITE_JPEG_QUALITY, 95}))
      throw Error(img_path.string() + ": cannot write the frame");
  } else {
    fs::copy_file(source_file, img_path, fs::copy_options::overwrite_existing);
  }
  std::string labels, scores, ignore;
  std::set<int> classes_here;
  for (const Detection& d : dets) {
    const std::string row = yolo_row(d, image);
    labels += row + "\n";
    scores += row + " " + std::to_string(d.score).substr(0, 6) + "\n";
    ClassStats& st = out.stats[d.cls];
    ++st.boxes;
    st.score_sum += d.score;
    classes_here.insert(d.cls);
  }
  for (int c : classes_here) ++out.stats[c].images;
  write_file_atomic((out.root / "labels" / sub / (name + ".txt")).string(), labels);
  write_file_atomic((out.root / "scores" / sub / (name + ".txt")).string(), scores);
  for (const Detection& d : unsure) ignore += yolo_row(d, image) + "\n";
  if (!ignore.empty()) write_file_atomic((out.root / "ignore" / sub / (name + ".txt")).string(), ignore);
  out.ignore_regions += static_cast<int64_t>(unsure.size());
  ++out.written[split];
  if (static_cast<int>(out.preview.size()) < out.preview_max && !dets.empty()) {
    const double s = 320.0 / std::max(image.cols, image.rows);
    cv::Mat thumb;
    cv::resize(image, thumb, cv::Size(), s, s, cv::INTER_AREA);
    std::vector<Detection> scaled = dets;
    for (Detection& d : scaled) d.x1 *= s, d.x2 *= s, d.y1 *= s, d.y2 *= s;
    out.preview.emplace_back(thumb, scaled);
  }
}

void write_preview(const Output& out, const std::vector<std::string>& names) {
  if (out.preview.empty()) return;
  const int n = static_cast<int>(out.preview.size()), cols = std::min(4, n), rows = (n + cols - 1) / cols;
  cv::Mat grid(rows * 324, cols * 324, CV_8UC3, cv::Scalar(40, 40, 40));
  for (int i = 0; i < n; ++i) {
    cv::Mat t = out.preview[i].first.clone();
    draw_detections(t, out.preview[i].second, names, /*show_conf=*/true, 1);
    t.copyTo(grid(cv::Rect((i % cols) * 324 + 2, (i / cols) * 324 + 2, t.cols, t.rows)));
  }
  cv::imwrite((out.root / "preview.jpg").string(), grid, {cv::IMWRITE_JPEG_QUALITY, 90});
}

}  // namespace

int cmd_autolabel(const Args& args) {
  args.check_known({"model", "weights", "source", "out", "conf", "iou", "max_det", "classes", "rename", "min_size",
                    "vid_stride", "dedup", "val", "seed", "keep_empty", "preview", "exist_ok", "imgsz", "threads",
                    "ema", "fuse", "device", "engine", "calib", "calib_method", "percentile", "int8_select", "int8_heads",
                    "int8_budget", "random_init", "augment", "ignore_conf"});
  const std::string out_dir = args.str("out", "");
  if (out_dir.empty()) throw Error("out= is required: the folder of the new dataset");
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !fs::is_empty(out_dir, ec) && !args.boolean("exist_ok", false))
    throw Error("out=" + clip(out_dir) + " exists and is not empty: choose a new folder (exist_ok=true adds to it)");
  const Sources src = resolve_sources(args.str("source", ""));
  if (src.camera >= 0) throw Error("source=: autolabel reads files (images, folders, globs, videos), not cameras");
  const int vid_stride = args.integer_in("vid_stride", 30, 1, 100000);
  const double dedup = args.real_in("dedup", 0.97, 0, 1);

  Detector det = Detector::load(detector_options(args));
  const std::vector<std::string>& names = det.names();
  NmsParams nms = det.default_nms();
  nms.conf = 0.05f;  // the per-class thresholds below decide; NMS only needs the candidates
  nms.iou = static_cast<float>(args.real_in("iou", nms.iou, 0, 1));
  nms.max_det = args.integer_in("max_det", 300, 1, 100000);

  // Per-class confidence: "0.5" or "0.4,person:0.6,car:0.3".
  Labeler L;
  L.conf.assign(names.size(), 0.5f);
  auto parse_conf = [](const std::string& v) {
    return static_cast<float>(Args::from_tokens("autolabel", {"conf=" + v}).real_in("conf", 0.5, 0, 1));
  };
  const std::vector<std::string> conf_tokens = split_list(args.str("conf", "0.5"));
  for (const std::string& tok : conf_tokens)  // the global value first, then the per-class ones
    if (tok.rfind(':') == std::string::npos) std::fill(L.conf.begin(), L.conf.end(), parse_conf(tok));
  for (const std::string& tok : conf_tokens) {
    const size_t colon = tok.rfind(':');
    if (colon != std::string::npos) L.conf[class_index(tok.substr(0, colon), names, "conf")] = parse_conf(tok.substr(colon + 1));
  }
  nms.conf = std::min(nms.conf, *std::min_element(L.conf.begin(), L.conf.end()));
  if (args.has("ignore_conf")) {
    L.ignore_conf = static_cast<float>(args.real_in("ignore_conf", 0.25, 0, 1));
    if (L.ignore_conf >= *std::max_element(L.conf.begin(), L.conf.end()))
      throw Error("ignore_conf=" + args.str("ignore_conf", "") + " must be below conf: the boxes scored in [ignore_conf, conf) "
                  "become ignore regions");
    nms.conf = std::min(nms.conf, L.ignore_conf);
  }
  // Classes kept (default all), renamed or merged; the dataset's classes in the teacher's order.
  std::vector<bool> keep(names.size(), !args.has("classes"));
  for (const std::string& tok : split_list(args.str("classes", ""))) keep[class_index(tok, names, "classes")] = true;
  std::vector<std::string> target(names);
  for (const std::string& tok : split_list(args.str("rename", ""))) {
    const size_t colon = tok.find(':');
    if (colon == std::string::npos || trim(tok.substr(colon + 1)).empty())
      throw Error("rename=" + clip(tok, 60) + ": expected old:new (e.g. rename=truck:vehicle,car:vehicle)");
    target[class_index(tok.substr(0, colon), names, "rename")] = trim(tok.substr(colon + 1));
  }
  L.to_new.assign(names.size(), -1);
  for (size_t i = 0; i < names.size(); ++i) {
    if (!keep[i]) continue;
    auto it = std::find(L.new_names.begin(), L.new_names.end(), target[i]);
    if (it == L.new_names.end()) {
      L.new_names.push_back(target[i]);
      it = L.new_names.end() - 1;
    }
    L.to_new[i] = static_cast<int>(it - L.new_names.begin());
  }
  L.min_size = args.real_in("min_size", 4, 0, 100000);
  L.iou = nms.iou;

  Output out;
  out.root = out_dir;
  out.val_share = args.real_in("val", 0.1, 0, 1);
  out.seed = static_cast<uint64_t>(args.integer_in("seed", 0, 0, 1 << 30));
  out.keep_empty = args.boolean("keep_empty", true);
  out.preview_max = args.integer_in("preview", 16, 0, 256);
  for (const char* sub : {"images/train", "images/val", "labels/train", "labels/val", "scores/train", "scores/val"})
    fs::create_directories(out.root / sub);
  if (L.ignore_conf >= 0)
    for (const char* sub : {"ignore/train", "ignore/val"}) fs::create_directories(out.root / sub);
  std::printf("%s\nautolabel: %zu image(s), %zu video(s) -> %s (%zu classes)\n", det.describe().c_str(),
              src.images.size(), src.videos.size(), out_dir.c_str(), L.new_names.size());

  int64_t unreadable = 0, frames_seen = 0, frames_duplicate = 0;
  std::vector<Detection> unsure;
  {
    Progress bar("autolabel", static_cast<int64_t>(src.images.size()));
    int64_t done = 0;
    for (const std::string& path : src.images) {
      const cv::Mat img = read_image(path, Orientation::ApplyExif);  // as training will read it
      bar.update(++done);
      if (img.empty()) {
        std::fprintf(stderr, "warning: %s: skipped: cannot read the image\n", clip(path).c_str());
        ++unreadable;
        continue;
      }
      const cv::Mat bgr = to_bgr8(img);
      // The file is copied as it is, so the labels must be for the pixels a reader sees: EXIF
      // rotation applied (as cv::imread and SG's datasets do).
      const std::vector<Detection> kept = select(det.predict(bgr, nms).detections, L, out, unsure);
      write_sample(out, fs::path(path).stem().string(), bgr, path, kept, unsure);
    }
  }
  for (const std::string& video : src.videos) {
    cv::VideoCapture cap(video);
    if (!cap.isOpened()) {
      std::fprintf(stderr, "warning: %s: skipped: cannot open the video\n", clip(video).c_str());
      ++unreadable;
      continue;
    }
    const int64_t total = static_cast<int64_t>(cap.get(cv::CAP_PROP_FRAME_COUNT));
    Progress bar(fs::path(video).filename().string(), total > 0 ? total : 0);
    cv::Mat frame, last_thumb;
    for (int64_t f = 0; cap.read(frame); ++f) {
      bar.update(f + 1);
      if (f % vid_stride != 0) continue;
      ++frames_seen;
      cv::Mat thumb;
      cv::resize(frame, thumb, cv::Size(32, 32), 0, 0, cv::INTER_AREA);
      cv::cvtColor(thumb, thumb, cv::COLOR_BGR2GRAY);
      if (dedup > 0 && !last_thumb.empty() && 1.0 - cv::norm(thumb, last_thumb, cv::NORM_L1) / (255.0 * 32 * 32) >= dedup) {
        ++frames_duplicate;
        continue;
      }
      last_thumb = thumb;
      char stem[64];
      std::snprintf(stem, sizeof stem, "_f%06lld", static_cast<long long>(f));
      const std::vector<Detection> kept = select(det.predict(frame, nms).detections, L, out, unsure);
      write_sample(out, fs::path(video).stem().string() + stem, frame, "", kept, unsure);
    }
  }

  // data.yaml, summary, preview.
  std::string yaml = "# Pseudo-labelled by `yolonas autolabel` with " + det.describe() + "\n# source: " +
                     args.str("source", "") + "; conf " + args.str("conf", "0.5") + "; scores in scores/\n" +
                     (L.ignore_conf >= 0 ? "# ignore regions (scores from ignore_conf " + args.str("ignore_conf", "") +
                                               " up to conf) in ignore/: train with ignore_regions=true\n"
                                         : std::string()) +
                     "path: " + fs::absolute(out.root).string() + "\ntrain: images/train\nval: images/val\nnames:\n";
  for (size_t i = 0; i < L.new_names.size(); ++i) yaml += "  " + std::to_string(i) + ": \"" + L.new_names[i] + "\"\n";
  write_file_atomic((out.root / "data.yaml").string(), yaml);
  json classes = json::array();
  std::string table = "class                 images    boxes  mean score\n";
  char line[600];
  for (size_t i = 0; i < L.new_names.size(); ++i) {
    const ClassStats st = out.stats.count(static_cast<int>(i)) ? out.stats.at(static_cast<int>(i)) : ClassStats{};
    const double mean = st.boxes ? st.score_sum / st.boxes : 0;
    classes.push_back({{"class", L.new_names[i]}, {"images", st.images}, {"boxes", st.boxes}, {"mean_score", mean}});
    if (st.boxes == 0) continue;
    std::snprintf(line, sizeof line, "%-20s %7lld %8lld %11.3f\n", clip(L.new_names[i], 20).c_str(),
                  static_cast<long long>(st.images), static_cast<long long>(st.boxes), mean);
    table += line;
  }
  std::snprintf(line, sizeof line,
                "%lld train + %lld val images (%lld without boxes kept as background, %lld dropped); %lld unreadable; "
                "video frames: %lld sampled, %lld skipped as near-duplicates; boxes dropped: %lld below conf, %lld "
                "smaller than %g px, %lld of other classes, %lld duplicates of merged classes\n",
                static_cast<long long>(out.written[0]), static_cast<long long>(out.written[1]),
                static_cast<long long>(out.empty_kept), static_cast<long long>(out.empty_dropped),
                static_cast<long long>(unreadable), static_cast<long long>(frames_seen),
                static_cast<long long>(frames_duplicate), static_cast<long long>(out.below_conf),
                static_cast<long long>(out.too_small), L.min_size, static_cast<long long>(out.other_class),
                static_cast<long long>(out.merged_duplicates));
  table += line;
  if (L.ignore_conf >= 0) {
    std::snprintf(line, sizeof line, "ignore regions (scored %g up to conf, in ignore/): %lld\n", L.ignore_conf,
                  static_cast<long long>(out.ignore_regions));
    table += line;
  }
  write_file_atomic((out.root / "summary.txt").string(), table);
  json summary = {{"teacher", det.describe()},
                  {"classes", classes},
                  {"train_images", out.written[0]},
                  {"val_images", out.written[1]},
                  {"background_images", out.empty_kept},
                  {"unreadable", unreadable},
                  {"frames_sampled", frames_seen},
                  {"frames_duplicate", frames_duplicate},
                  {"ignore_regions", out.ignore_regions},
                  {"dropped", {{"below_conf", out.below_conf}, {"too_small", out.too_small}, {"other_class", out.other_class},
                               {"merged_duplicates", out.merged_duplicates}}}};
  write_file_atomic((out.root / "summary.json").string(), summary.dump(2) + "\n");
  write_preview(out, L.new_names);
  std::printf("%sdataset: %s/data.yaml (preview.jpg, summary.txt, scores/)\n", table.c_str(), out_dir.c_str());
  if (out.written[0] + out.written[1] == 0) throw Error("autolabel: no image could be read from source=" + args.str("source", ""));
  return 0;
}

}  // namespace yolonas::cli
