// yolonas synth: the dataset on disk (images, YOLO labels, data.yaml), written by worker threads.
// See synth.h.
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
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <sstream>
#include <thread>

#include "yolonas/core/progress.h"

namespace fs = std::filesystem;

namespace yolonas {
namespace {

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
  for (double v : {c.feather_prob, c.object_blur_prob, c.noise_prob, c.jpeg_artefact_prob})
    if (!(v >= 0 && v <= 1)) bad("the photo-compositing probabilities must be in [0, 1]");
  if (!(c.colour_match >= 0 && c.colour_match <= 1)) bad("colour_match must be in [0, 1]");
}

}  // namespace

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
