// `yolonas predict`: images, folders, globs, videos and cameras -> annotated media, YOLO txt labels,
// COCO-style predictions.json, one line per image with detections and timings.
#include <glob.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <opencv2/highgui.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <sstream>

#include "commands.h"
#include "yolonas/data/dataset.h"
#include "yolonas/api/detector.h"
#include "yolonas/detect/draw.h"
#include "yolonas/core/error.h"
#include "yolonas/core/text.h"
#include "yolonas/core/progress.h"
#include "yolonas/core/files.h"

namespace fs = std::filesystem;

namespace yolonas::cli {
namespace {

const std::vector<std::string> kVideoExt = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"};

std::string lower_ext(const fs::path& p) {
  return lower(p.extension().string());
}
bool has_ext(const fs::path& p, const std::vector<std::string>& exts) {
  return std::find(exts.begin(), exts.end(), lower_ext(p)) != exts.end();
}

}  // namespace

Sources resolve_sources(const std::string& source) {
  Sources s;
  if (source.empty()) throw Error("source= is required (an image, a folder, a glob like 'imgs/*.jpg', a video or a camera index)");
  auto add_file = [&](const fs::path& p, bool strict) {
    if (is_image_file(p))
      s.images.push_back(p.string());
    else if (has_ext(p, kVideoExt))
      s.videos.push_back(p.string());
    else if (strict)
      throw Error("source=" + clip(p.string()) + ": unsupported file type '" + clip(lower_ext(p), 40) +
                  "' (images: jpg png bmp tif webp; videos: mp4 avi mov mkv webm)");
  };
  if (std::all_of(source.begin(), source.end(), ::isdigit) && !fs::exists(source)) {
    if (source.size() > 3 || std::stoi(source) > 255)
      throw Error("source=" + clip(source) + ": camera index out of range (0-255); for a file, give its path");
    s.camera = std::stoi(source);
    return s;
  }
  if (source.find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    if (::glob(source.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) add_file(g.gl_pathv[i], false);
    ::globfree(&g);
    if (s.images.empty() && s.videos.empty())
      throw Error("source=" + clip(source) + ": the pattern matches no image or video");
  } else if (std::error_code ec; fs::is_directory(source, ec)) {
    // error_code forms throughout: a symlink loop or an unreadable entry is a warning, not a stop.
    std::vector<fs::path> files;
    fs::directory_iterator it(source, ec), end;
    if (ec) throw Error("source=" + clip(source) + ": cannot list the folder: " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) {
        std::fprintf(stderr, "warning: %s: stopped listing the folder: %s\n", clip(source).c_str(), ec.message().c_str());
        break;
      }
      std::error_code fe;
      const bool regular = it->is_regular_file(fe);
      if (fe) {
        std::fprintf(stderr, "warning: skipping %s: %s\n", clip(it->path().string()).c_str(), fe.message().c_str());
        continue;
      }
      if (regular) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) add_file(f, false);
    if (s.images.empty() && s.videos.empty())
      throw Error("source=" + clip(source) + ": the folder holds no image or video");
  } else if (fs::exists(source, ec)) {
    add_file(source, true);
  } else {
    throw Error("source=" + clip(source) + ": no such file or folder" + (ec ? " (" + ec.message() + ")" : ""));
  }
  return s;
}

namespace {

// "2 dog, 1 truck" from per-class counts.
std::string summarize(const std::map<int, int64_t>& counts, const std::vector<std::string>& names) {
  if (counts.empty()) return "(no detections)";
  std::string s;
  for (const auto& [c, n] : counts) {
    const std::string nm = c < static_cast<int>(names.size()) ? names[c] : "class" + std::to_string(c);
    s += (s.empty() ? "" : ", ") + std::to_string(n) + " " + nm;
  }
  return s;
}

std::string summarize(const std::vector<Detection>& dets, const std::vector<std::string>& names) {
  std::map<int, int64_t> counts;
  for (const auto& d : dets) counts[d.cls]++;
  return summarize(counts, names);
}

struct Options {
  NmsParams nms;
  bool save, save_txt, save_conf, save_json, show;
  int batch;
  std::string out_dir;
};

class Outputs {
 public:
  Outputs(const Options& o, const std::vector<std::string>& names) : o_(o), names_(names) {
    if (o.save_txt) fs::create_directories(fs::path(o.out_dir) / "labels");
    if (o.show && !std::getenv("DISPLAY")) {
      std::cerr << "warning: show=true but there is no display (DISPLAY is not set); not showing\n";
      show_ = false;
    } else {
      show_ = o.show;
    }
  }

  // YOLO txt: class cx cy w h [conf], normalized to the original image, boxes clipped to it.
  void write_txt(const std::string& stem, const std::vector<Detection>& dets, int w, int h, int frame = -1) {
    if (!o_.save_txt) return;
    const std::string name = frame < 0 ? stem : stem + "_" + std::to_string(frame);
    std::ofstream f(fs::path(o_.out_dir) / "labels" / (name + ".txt"));
    char buf[160];
    for (const auto& d : dets) {
      const float x1 = std::clamp(d.x1, 0.f, float(w)), x2 = std::clamp(d.x2, 0.f, float(w));
      const float y1 = std::clamp(d.y1, 0.f, float(h)), y2 = std::clamp(d.y2, 0.f, float(h));
      int n = std::snprintf(buf, sizeof buf, "%d %.6f %.6f %.6f %.6f", d.cls, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h,
                            (x2 - x1) / w, (y2 - y1) / h);
      if (o_.save_conf) std::snprintf(buf + n, sizeof buf - n, " %.6f", d.score);
      f << buf << "\n";
    }
  }

  void add_json(const std::string& stem, const std::vector<Detection>& dets, int frame = -1) {
    if (!o_.save_json) return;
    nlohmann::json id;
    const bool numeric = !stem.empty() && std::all_of(stem.begin(), stem.end(), ::isdigit);
    if (frame >= 0)
      id = stem + "_" + std::to_string(frame);
    else if (numeric)
      id = std::stoll(stem);
    else
      id = stem;
    for (const auto& d : dets) {
      auto r4 = [](float v) { return std::round(v * 1000.0) / 1000.0; };
      json_.push_back({{"image_id", id},
                       {"category_id", d.cls},
                       {"category_name", d.cls < (int)names_.size() ? names_[d.cls] : ""},
                       {"bbox", {r4(d.x1), r4(d.y1), r4(d.x2 - d.x1), r4(d.y2 - d.y1)}},
                       {"score", std::round(d.score * 1e5) / 1e5}});
    }
  }

  void show(const cv::Mat& img, int wait_ms) {
    if (!show_) return;
    cv::imshow("yolonas", img);
    cv::waitKey(wait_ms);
  }

  void finish() {
    if (o_.save_json) write_file_atomic((fs::path(o_.out_dir) / "predictions.json").string(), json_.dump() + "\n");
  }

 private:
  const Options& o_;
  const std::vector<std::string>& names_;
  nlohmann::json json_ = nlohmann::json::array();
  bool show_ = false;
};

// Why `path` cannot be read as an image, or "" when it can (FIFOs and devices would block imread).
std::string unreadable(const std::string& path, cv::Mat& out) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec) return ec.message();
  if (!fs::is_regular_file(st)) return "not a regular file";
  if (fs::file_size(path, ec) == 0) return "empty file";
  out = read_image(path, Orientation::AsStored);  // SG's predict() loads with PIL: EXIF orientation ignored
  if (out.empty()) return "cannot decode (corrupt, truncated or not an image)";
  return "";
}

// Predicts a batch; when one image fails (e.g. 1x20000 px rescales to nothing), the others still
// get their results: the batch is retried image by image and failures come back as messages.
std::vector<std::optional<ImageResult>> predict_each(Detector& det, const std::vector<cv::Mat>& imgs, const NmsParams& nms,
                                                     std::vector<std::string>& errors) {
  std::vector<std::optional<ImageResult>> out(imgs.size());
  errors.assign(imgs.size(), "");
  try {
    auto r = det.predict(imgs, nms);
    for (size_t k = 0; k < r.size(); ++k) out[k] = std::move(r[k]);
    return out;
  } catch (const Error&) {
    if (imgs.size() == 1) throw;
  }
  for (size_t k = 0; k < imgs.size(); ++k) {
    try {
      out[k] = det.predict(imgs[k], nms);
    } catch (const Error& e) {
      errors[k] = e.what();
    }
  }
  return out;
}

// Returns how many images were skipped (each with a warning naming it).
size_t run_images(Detector& det, const std::vector<std::string>& paths, const Options& o, Outputs& out, double totals[3]) {
  const size_t total = paths.size();
  size_t skipped = 0;
  auto skip = [&](size_t i, const std::string& why) {
    std::fprintf(stderr, "warning: image %zu/%zu %s: skipped: %s\n", i + 1, total, clip(paths[i]).c_str(), why.c_str());
    ++skipped;
  };
  for (size_t start = 0; start < total; start += o.batch) {
    const size_t end = std::min(total, start + o.batch);
    std::vector<cv::Mat> imgs;
    std::vector<size_t> index;  // position in `paths` of each image in `imgs`
    for (size_t i = start; i < end; ++i) {
      cv::Mat m;
      const std::string why = unreadable(paths[i], m);
      if (!why.empty()) {
        skip(i, why);
        continue;
      }
      imgs.push_back(std::move(m));
      index.push_back(i);
    }
    if (imgs.empty()) continue;
    std::vector<std::string> errors;
    std::vector<std::optional<ImageResult>> results;
    try {
      results = predict_each(det, imgs, o.nms, errors);
    } catch (const Error& e) {
      skip(index[0], e.what());
      continue;
    }
    for (size_t k = 0; k < results.size(); ++k) {
      if (!results[k]) {
        skip(index[k], errors[k]);
        continue;
      }
      const auto& r = *results[k];
      const std::string& path = paths[index[k]];
      const std::string stem = fs::path(path).stem().string();
      std::printf("image %zu/%zu %s: %dx%d %s, %.1fms pre, %.1fms infer, %.1fms post\n", index[k] + 1, total,
                  path.c_str(), imgs[k].cols, imgs[k].rows, summarize(r.detections, det.names()).c_str(),
                  r.preprocess_ms, r.inference_ms, r.postprocess_ms);
      std::fflush(stdout);
      totals[0] += r.preprocess_ms;
      totals[1] += r.inference_ms;
      totals[2] += r.postprocess_ms;
      out.write_txt(stem, r.detections, imgs[k].cols, imgs[k].rows);
      out.add_json(stem, r.detections);
      if (o.save || o.show) {
        cv::Mat vis = imgs[k];
        draw_detections(vis, r.detections, det.names(), true);
        if (o.save) {
          const std::string dst = (fs::path(o.out_dir) / fs::path(path).filename()).string();
          if (!cv::imwrite(dst, vis)) throw Error("cannot write " + dst);
        }
        out.show(vis, 0);
      }
    }
  }
  return skipped;
}

// Streams a video (or camera) frame by frame: constant memory whatever the length.
size_t run_video(Detector& det, cv::VideoCapture& cap, const std::string& label, const std::string& stem,
                 const Options& o, Outputs& out, double totals[3]) {
  const int64_t nframes = static_cast<int64_t>(cap.get(cv::CAP_PROP_FRAME_COUNT));
  double fps = cap.get(cv::CAP_PROP_FPS);
  if (!(fps > 0 && fps < 1000)) fps = 25;
  cv::VideoWriter writer;
  std::string dst;
  Progress bar("video " + label, nframes > 0 ? nframes : 0);
  std::vector<cv::Mat> batch;
  size_t done = 0;
  std::map<int, int64_t> class_counts;
  auto flush = [&]() {
    if (batch.empty()) return;
    auto results = det.predict(batch, o.nms);
    for (size_t k = 0; k < results.size(); ++k) {
      const auto& r = results[k];
      const int frame = static_cast<int>(done);
      totals[0] += r.preprocess_ms;
      totals[1] += r.inference_ms;
      totals[2] += r.postprocess_ms;
      for (const auto& d : r.detections) class_counts[d.cls]++;
      out.write_txt(stem, r.detections, batch[k].cols, batch[k].rows, frame);
      out.add_json(stem, r.detections, frame);
      if (o.save || o.show) {
        draw_detections(batch[k], r.detections, det.names(), true);
        if (o.save) {
          if (!writer.isOpened()) {
            dst = (fs::path(o.out_dir) / (stem + ".mp4")).string();
            writer.open(dst, cv::VideoWriter::fourcc('m', 'p', '4', 'v'), fps, batch[k].size());
            if (!writer.isOpened()) {  // no MPEG-4 encoder: Motion-JPEG AVI always works
              dst = (fs::path(o.out_dir) / (stem + ".avi")).string();
              writer.open(dst, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, batch[k].size());
            }
            if (!writer.isOpened()) throw Error("cannot open a video writer for " + dst);
          }
          writer.write(batch[k]);
        }
        out.show(batch[k], 1);
      }
      ++done;
      bar.update(static_cast<int64_t>(done), std::to_string(r.detections.size()) + " dets");
    }
    batch.clear();
  };
  cv::Mat frame;
  while (cap.read(frame)) {
    if (frame.empty()) break;
    batch.push_back(frame.clone());
    if (static_cast<int>(batch.size()) >= o.batch) flush();
  }
  flush();
  bar.finish();
  std::printf("video %s: %zu frames, %s%s%s\n", label.c_str(), done, summarize(class_counts, det.names()).c_str(),
              dst.empty() ? "" : " -> ", dst.c_str());
  return done;
}

}  // namespace

bool is_dataset(const std::string& calib) {
  const fs::path p(calib);
  const std::string ext = lower_ext(p);
  return ext == ".yaml" || ext == ".yml" || ext == ".json" ||
         (fs::is_directory(p) && (fs::exists(p / "data.yaml") || fs::exists(p / "annotations") || fs::exists(p / "ImageSets")));
}

std::vector<std::string> calibration_images(const std::string& calib) {
  if (calib.empty()) throw Error("calib= is empty: give a folder, a glob, an image or a data.yaml");
  std::vector<std::string> images;
  if (is_dataset(calib)) {
    const DataYaml d = open_dataset(calib);
    const std::string split = d.splits.count("train") ? "train" : d.splits.begin()->first;
    for (const LabeledImage& s : load_split(d, split).samples) images.push_back(s.image);
  } else {
    images = resolve_sources(calib).images;
  }
  if (images.empty()) throw Error("calib=" + calib + ": no image found");
  return images;
}

QuantizeOptions quantize_options(const Args& args) {
  QuantizeOptions q;
  q.method = parse_calib_method(args.str("calib_method", "max"));
  q.percentile = args.real_in("percentile", 99.99, 50, 100);
  q.float_heads = !args.boolean("int8_heads", true);
  q.selective = args.boolean("int8_select", false);
  q.budget = args.has("int8_budget") ? args.real_in("int8_budget", 0.005, 0, 1) : -1;
  return q;
}

std::shared_ptr<const EvalSet> quantize_eval(const Args& args) {
  const std::string calib = args.str("calib", "");
  if (!args.boolean("int8_select", false) || calib.empty() || !is_dataset(calib)) return nullptr;
  // The scan measures mAP on the training images (never on the images a `val` scores).
  const DataYaml d = open_dataset(calib);
  const std::string split = d.splits.count("train") ? "train" : d.splits.begin()->first;
  return std::make_shared<const EvalSet>(eval_set_from_split(load_split(d, split), calib + " (" + split + ")"));
}

namespace {
// augment=: "none" (false, the default), "true" (Ultralytics' three views) or "flip" (two views
// averaged anchor by anchor); anything else throws naming the value.
std::string augment_mode(const Args& args) {
  if (lower(args.str("augment", "")) == "flip") return "flip";
  try {
    return args.boolean("augment", false) ? "true" : "none";
  } catch (const Error&) {
    throw Error("augment=" + clip(args.str("augment", ""), 40) +
                ": expected true (three views merged by the NMS), false or flip (two views averaged)");
  }
}
}  // namespace

DetectorOptions detector_options(const Args& args) {
  DetectorOptions o;
  o.model = args.str("model", "");
  o.weights = args.str("weights", "");
  o.random_init = args.boolean("random_init", false);
  o.prefer_ema = args.boolean("ema", true);
  o.fuse = args.str("fuse", "full");
  o.imgsz = args.imgsz(0);  // 0: the checkpoint's own size
  o.threads = args.integer_in("threads", 0, 0, 1024);
  o.device = args.str("device", "cpu");
  o.engine = args.str("engine", "auto");
  o.augment = augment_mode(args);
  if (args.has("calib")) o.calibration_images = calibration_images(args.str("calib", ""));
  o.quantize = quantize_options(args);
  o.quantize_eval = quantize_eval(args);
  return o;
}

int cmd_predict(const Args& args) {
  args.check_known({"model", "weights", "source", "conf", "iou", "imgsz", "max_det", "classes", "agnostic", "batch",
                    "save", "save_txt", "save_conf", "save_json", "show", "project", "name", "exist_ok", "threads",
                    "ema", "random_init", "fuse", "top_k", "device", "engine", "calib", "calib_method", "percentile",
                    "int8_select", "int8_heads", "int8_budget", "augment"});
  DetectorOptions dopt = detector_options(args);

  Options o;
  // conf and iou are checked now and applied once the model is loaded: its metadata gives the defaults.
  const double conf = args.real_in("conf", 0.25, 0, 1), iou = args.real_in("iou", 0.7, 0, 1);
  o.nms.max_det = args.integer_in("max_det", 300, 1, 100000);
  o.nms.top_k = args.integer_in("top_k", 1024, 1, 1000000);
  o.nms.classes = args.int_list("classes");
  o.nms.agnostic = args.boolean("agnostic", false);
  o.batch = args.integer_in("batch", 1, 1, 1024);
  o.save = args.boolean("save", true);
  o.save_txt = args.boolean("save_txt", false);
  o.save_conf = args.boolean("save_conf", false);
  o.save_json = args.boolean("save_json", false);
  o.show = args.boolean("show", false);

  const Sources src = resolve_sources(args.str("source", ""));
  Detector det = Detector::load(dopt);
  o.nms.conf = static_cast<float>(args.has("conf") ? conf : det.default_nms().conf);
  o.nms.iou = static_cast<float>(args.has("iou") ? iou : det.default_nms().iou);
  for (int c : o.nms.classes)
    if (c < 0 || c >= static_cast<int>(det.names().size()))
      throw Error("classes=" + args.str("classes", "") + ": class " + std::to_string(c) + " does not exist (model has " +
                  std::to_string(det.names().size()) + " classes)");
  std::printf("%s\n", det.describe().c_str());

  o.out_dir = make_run_dir(args.str("project", "runs/detect"), args.str("name", "predict"), args.boolean("exist_ok", false));
  Outputs out(o, det.names());
  double totals[3] = {0, 0, 0};
  size_t count = 0, skipped = 0;
  if (!src.images.empty()) {
    skipped += run_images(det, src.images, o, out, totals);
    count += src.images.size() - skipped;
  }
  for (const auto& v : src.videos) {
    cv::VideoCapture cap;
    std::error_code ec;
    if (fs::is_regular_file(v, ec)) cap.open(v);
    if (!cap.isOpened()) {
      std::fprintf(stderr, "warning: %s: skipped: cannot open video (not a regular file, corrupt, or unsupported codec)\n",
                   clip(v).c_str());
      ++skipped;
      continue;
    }
    count += run_video(det, cap, v, fs::path(v).stem().string(), o, out, totals);
  }
  if (src.camera >= 0) {
    cv::VideoCapture cap(src.camera);
    if (!cap.isOpened()) throw Error("source=" + std::to_string(src.camera) + ": cannot open camera");
    count += run_video(det, cap, "camera " + std::to_string(src.camera), "camera" + std::to_string(src.camera), o, out,
                       totals);
  }
  out.finish();
  if (count > 0) {
    const auto& pp = det.preprocessing();
    std::printf("Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image at shape (%d, 3, %d, %d)\n",
                totals[0] / count, totals[1] / count, totals[2] / count, o.batch, pp.input_h, pp.input_w);
  }
  if (skipped > 0) std::printf("%zu file%s skipped (see the warnings above)\n", skipped, skipped > 1 ? "s" : "");
  std::printf("Results saved to %s\n", o.out_dir.c_str());
  if (count == 0 && skipped > 0 && src.camera < 0)
    throw Error("source=" + clip(args.str("source", "")) + ": no image or video could be read (" + std::to_string(skipped) +
                " skipped)");
  return 0;
}

}  // namespace yolonas::cli
