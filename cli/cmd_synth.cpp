// `yolonas synth out=DIR ...`: writes a synthetic YOLO-format detection dataset (see synth.h).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "yolonas/core/error.h"
#include "yolonas/core/progress.h"
#include "yolonas/data/synth.h"

namespace yolonas::cli {
namespace {

const std::vector<std::string> kSynthKeys = {
    "out",        "n_train",  "n_val",       "imgsz",    "classes",   "seed",     "workers",
    "quality",    "exist_ok", "max_objects", "empty",    "distractors", "min_size", "max_size",
    "rotate",     "min_visible", "backgrounds", "stamps", "list",      "photo"};

std::vector<std::string> split_names(std::string s) {
  if (!s.empty() && s.front() == '[') s.erase(0, 1);
  if (!s.empty() && s.back() == ']') s.pop_back();
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    std::string t;
    for (char c : item)
      if (c != '"' && c != '\'') t += c;
    const auto b = t.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    out.push_back(t.substr(b, t.find_last_not_of(" \t") - b + 1));
  }
  return out;
}

// `yolonas synth list=true`: the class table with the installed cut-outs, and the backgrounds.
int list_assets(const SynthConfig& cfg) {
  namespace fs = std::filesystem;
  std::cout << "classes (default order = class ids), cut-outs from " << cfg.stamps_dir << " ("
            << kTuxpaintPackage << "):\n";
  const auto classes = synth_default_classes();
  for (size_t i = 0; i < classes.size(); ++i) {
    int have = 0, all = 0;
    std::string files;
    for (const auto& e : synth_stamp_table()) {
      if (classes[i] != e.coco_class) continue;
      ++all;
      if (fs::exists(fs::path(cfg.stamps_dir) / e.file)) ++have;
      files += std::string(files.empty() ? "" : " ") + fs::path(e.file).stem().string();
    }
    std::printf("  %2zu %-12s %2d/%-2d %s\n", i, classes[i].c_str(), have, all, files.c_str());
  }
  int dis = 0;
  for (const std::string& f : synth_distractor_table()) dis += fs::exists(fs::path(cfg.stamps_dir) / f) ? 1 : 0;
  std::printf("distractors (unlabelled): %d/%zu installed\n", dis, synth_distractor_table().size());
  std::cout << "backgrounds:\n";
  for (const auto& pkg : synth_background_packages()) {
    int have = 0, all = 0;
    for (const auto& e : synth_background_table()) {
      if (pkg != e.package) continue;
      ++all;
      if (fs::exists(e.path)) ++have;
    }
    std::printf("  %-28s %2d/%-2d%s\n", pkg.c_str(), have, all, have == 0 ? "  (not installed)" : "");
  }
  return 0;
}

}  // namespace

int cmd_synth(const Args& args) {
  args.check_known(kSynthKeys);
  SynthConfig cfg;
  cfg.out_dir = args.str("out", "");
  cfg.n_train = args.integer("n_train", cfg.n_train);
  cfg.n_val = args.integer("n_val", cfg.n_val);
  cfg.imgsz = args.integer("imgsz", cfg.imgsz);
  if (auto c = args.opt_str("classes")) {
    cfg.classes = split_names(*c);
    if (cfg.classes.size() == 1 && cfg.classes[0] == "all") cfg.classes.clear();
  }
  cfg.seed = static_cast<uint64_t>(static_cast<int64_t>(args.integer("seed", 0)));
  cfg.workers = args.integer("workers", cfg.workers);
  cfg.jpeg_quality = args.integer("quality", cfg.jpeg_quality);
  cfg.exist_ok = args.boolean("exist_ok", false);
  cfg.max_objects = args.integer("max_objects", cfg.max_objects);
  cfg.empty_prob = args.real("empty", cfg.empty_prob);
  cfg.max_distractors = args.integer("distractors", cfg.max_distractors);
  cfg.min_size = args.real("min_size", cfg.min_size);
  cfg.max_size = args.real("max_size", cfg.max_size);
  cfg.max_rotation = args.real("rotate", cfg.max_rotation);
  cfg.min_visible = args.real("min_visible", cfg.min_visible);
  cfg.stamps_dir = args.str("stamps", cfg.stamps_dir);
  if (!args.boolean("photo", true)) {  // photo=false: plain pasting (no colour match, feather, blur, noise, JPEG)
    cfg.colour_match = cfg.feather_prob = cfg.object_blur_prob = cfg.noise_prob = cfg.jpeg_artefact_prob = 0.0;
  }
  if (auto b = args.opt_str("backgrounds")) cfg.background_dirs = split_names(*b);

  if (args.boolean("list", false)) return list_assets(cfg);
  if (cfg.out_dir.empty())
    throw Error("synth: out=DIR is required, e.g. `yolonas synth out=datasets/synth n_train=2000 n_val=300`");

  Progress progress("synth", static_cast<int64_t>(cfg.n_train) + cfg.n_val);
  const SynthSummary s = generate_synthetic_dataset(cfg, &progress);

  for (const auto& n : s.notes) std::cerr << "note: " << n << "\n";
  const double per_min = s.seconds > 0 ? s.images / s.seconds * 60.0 : 0.0;
  std::printf("synth: %lld images (%d train, %d val), %lld boxes, %lld images without objects\n",
              static_cast<long long>(s.images), cfg.n_train, cfg.n_val, static_cast<long long>(s.boxes),
              static_cast<long long>(s.empty_images));
  std::printf("       %zu classes from %d cut-outs (+%d distractors) on %d backgrounds, seed %llu\n",
              s.class_names.size(), s.cutouts, s.distractors, s.backgrounds,
              static_cast<unsigned long long>(cfg.seed));
  std::printf("       %.1f s (%.0f images/min)\n", s.seconds, per_min);
  std::string per_class;
  for (size_t i = 0; i < s.class_names.size(); ++i)
    per_class += (i ? ", " : "") + s.class_names[i] + " " + std::to_string(s.boxes_per_class[i]);
  std::printf("boxes per class: %s\n", per_class.c_str());
  std::printf("data: %s\n", s.data_yaml.c_str());
  return 0;
}

}  // namespace yolonas::cli
