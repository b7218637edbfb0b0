#include "yolonas/train/trainer.h"

#include <torch/serialize.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <yaml-cpp/yaml.h>

#include "yolonas/data/check_data.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/eval/coco_eval.h"
#include "yolonas/detect/coco_names.h"
#include "yolonas/data/dataset.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/core/error.h"
#include "yolonas/model/fusion.h"
#include "yolonas/data/loader.h"
#include "yolonas/detect/postprocess.h"
#include "yolonas/train/loss.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/runtime/onednn_net.h"
#include "yolonas/train/optim.h"
#include "yolonas/core/plot.h"
#include "yolonas/core/progress.h"
#include "yolonas/core/files.h"
#include "yolonas/model/state_dict.h"
#include "yolonas/core/zip_check.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace yolonas {

// JSON (de)serialization of the full configuration: a resumed run rebuilds exactly the same setup.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AugmentConfig, mosaic, mosaic_prob, mosaic_border_value, affine,
                                                degrees, translate, scale_min, scale_max, shear, affine_border_value,
                                                affine_keep_size, filter_candidates, wh_thr, area_thr, ar_thr, mixup,
                                                mixup_prob, mixup_scale_min, mixup_scale_max, mixup_flip_prob,
                                                mixup_border_value, hsv, hsv_prob, hgain, sgain, vgain, flip,
                                                flip_prob, rgb2bgr_prob, pad_value, step_min_box_edge, min_box_edge)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainConfig, data, model, weights, preset, epochs, batch, imgsz,
                                                optimizer, lr0, weight_decay, momentum, nesterov, warmup_mode, warmup_epochs,
                                                warmup_steps,
                                                warmup_initial_lr, final_lr_ratio, ema, ema_decay, clip_grad,
                                                accumulate, freeze_backbone, workers, seed, threads, rgb, cache_ram,
                                                strict, val_period, max_batches, plots, project, name, exist_ok, device,
                                                match_names,
                                                resume, augment)

// ---- config -----------------------------------------------------------------------------------

void TrainConfig::apply_preset(const std::string& p) {
  preset = p;
  if (p == "finetune") {
    *this = TrainConfig{};
    return;
  }
  if (p == "coco") {  // coco2017_yolo_nas_s.yaml + coco2017_yolo_nas_train_params.yaml
    epochs = 300;
    batch = 32;
    lr0 = 2e-4;
    weight_decay = 1e-5;
    warmup_mode = "batch";  // LinearBatchLRWarmup over lr_warmup_steps 1000, no epoch warm-up
    warmup_epochs = 0;
    warmup_steps = 1000;
    ema_decay = 0.9997;
    augment = AugmentConfig::coco_recipe();
    return;
  }
  throw Error("preset=" + p + ": expected finetune or coco");
}

namespace {

// JSON -> YAML, so that args.yaml lists exactly the fields the resume record holds.
YAML::Node to_yaml_node(const json& j) {
  YAML::Node n;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) n[k] = to_yaml_node(v);
  } else if (j.is_array()) {
    for (const auto& v : j) n.push_back(to_yaml_node(v));
  } else if (j.is_string()) {
    n = j.get<std::string>();
  } else if (j.is_boolean()) {
    n = j.get<bool>();
  } else if (j.is_number_integer()) {
    n = j.get<int64_t>();
  } else if (j.is_number()) {
    char buf[32];  // shortest readable form: 0.1, not 0.10000000000000001
    std::snprintf(buf, sizeof buf, "%.10g", j.get<double>());
    n = std::string(buf);
  }
  return n;
}

}  // namespace

std::string TrainConfig::to_yaml() const {
  YAML::Emitter out;
  out << to_yaml_node(json(*this));
  return std::string(out.c_str()) + "\n";
}

namespace {

// ---- small helpers ------------------------------------------------------------------------------

std::string bytes_of_optimizer(torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive ar;
  opt.save(ar);
  std::string out;
  ar.save_to([&](const void* d, size_t n) {
    out.append(static_cast<const char*>(d), n);
    return n;
  });
  return out;
}

// The optimizer's state tensors are created on `device` (the parameters' device).
// The bytes are a torch::serialize archive inside the checkpoint: checked like the checkpoint itself
// (zip records, CRCs, pickle stream) before LibTorch reads them.
void load_optimizer_bytes(torch::optim::Optimizer& opt, const torch::Tensor& t, torch::Device device,
                          const std::string& origin) {
  auto c = t.contiguous();
  if (c.scalar_type() != torch::kUInt8 || c.dim() != 1) throw Error(origin + ": optimizer state is not a byte tensor");
  const auto* p = reinterpret_cast<const char*>(c.data_ptr<uint8_t>());
  verify_torch_archive(std::vector<char>(p, p + c.numel()), origin + " (optimizer state)", /*allow_deflated=*/true);
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(p, static_cast<size_t>(c.numel()), device);
    opt.load(ar);
  } catch (const c10::Error& e) {
    std::string what = e.what();
    throw Error(origin + ": optimizer state does not match this model or optimizer: " + what.substr(0, what.find('\n')));
  }
}

torch::Tensor find_key(const StateDict& sd, const std::string& k) {
  for (const auto& kv : sd)
    if (kv.first == k) return kv.second;
  return {};
}

std::string latest_last_pth(const std::string& project) {
  fs::path best;
  fs::file_time_type best_t{};
  if (!fs::exists(project)) return "";
  for (const auto& e : fs::recursive_directory_iterator(project)) {
    if (e.path().filename() == "last.pth" && (best.empty() || e.last_write_time() > best_t)) {
      best = e.path();
      best_t = e.last_write_time();
    }
  }
  return best.string();
}

struct EpochRow {
  int epoch = 0;
  double cls = 0, iou = 0, dfl = 0, loss = 0;
  double map50 = -1, map50_95 = -1, precision = -1, recall = -1;
  double lr = 0, seconds = 0;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EpochRow, epoch, cls, iou, dfl, loss, map50, map50_95, precision, recall, lr,
                                   seconds)

}  // namespace

// ---- trainer ------------------------------------------------------------------------------------

class Trainer;

// A hook sees the trainer between the loop's steps. The loop itself stays short.
struct TrainHook {
  virtual ~TrainHook() = default;
  virtual void before_step(Trainer&) {}
  virtual void after_step(Trainer&) {}  // after an optimizer step
  virtual void after_epoch(Trainer&) {}
};

class Trainer {
 public:
  // resume_ck: the checkpoint named by cfg.resume, already read by train().
  Trainer(TrainConfig c, std::optional<Checkpoint> resume_ck) : cfg(std::move(c)), resume_ck_(std::move(resume_ck)) {}
  TrainResult run();

  // State shared with the hooks.
  TrainConfig cfg;
  std::string run_dir, weights_dir;
  YoloNAS model{nullptr};
  ModelMeta meta;
  std::unique_ptr<torch::optim::Optimizer> opt;
  std::optional<ModelEMA> ema;
  std::unique_ptr<PPYoloELoss> loss;
  std::unique_ptr<DataLoader> train_loader, val_loader;
  LrSchedule sched;
  torch::Device device{torch::kCPU};
  int epoch = 0, start_epoch = 0;
  long step_in_epoch = 0;
  int64_t global_step = 0;
  double lr = 0;
  EpochRow row;
  std::vector<EpochRow> history;
  double best_fitness = -1;
  bool improved = false;

  void save_checkpoint(const std::string& path);

 private:
  void setup();
  void build_model(const std::vector<std::string>& names);
  void resume_from(const Checkpoint& ck, const std::string& path);
  std::optional<Checkpoint> resume_ck_;
  void train_one_epoch(std::vector<std::unique_ptr<TrainHook>>& hooks);
};

namespace {

struct LrHook : TrainHook {
  void before_step(Trainer& t) override {
    t.lr = t.sched.lr_at(t.epoch, static_cast<int>(t.step_in_epoch));
    set_lr(*t.opt, t.lr);
  }
};

struct EmaHook : TrainHook {
  void after_step(Trainer& t) override {
    if (t.ema) t.ema->update(*t.model);
  }
};

// SG's training-time DetectionMetrics on the EMA weights: NMS (conf 0.01, top 1000, max 300),
// predictions clipped to the network input, mAP@0.5:0.95 and mAP@0.5. On the CPU the fused model
// runs on the oneDNN runtime (same outputs as LibTorch's to 1e-4, about twice as fast).
struct ValidationHook : TrainHook {
  void after_epoch(Trainer& t) override {
    const bool last = t.epoch + 1 == t.cfg.epochs;
    if (!last && (t.epoch + 1) % std::max(1, t.cfg.val_period) != 0) return;
    YoloNAS vm(t.meta.arch);
    load_state_dict(*vm, t.ema ? t.ema->state() : state_dict(*t.model), "validation weights");
    vm->eval();
    fuse_for_inference(vm, "full");
    vm->to(t.device);
    const bool onednn = t.device.is_cpu();
    OnednnNetCache nets;
    if (onednn) nets = OnednnNetCache(build_dnn_graph(vm));
    std::vector<float> dnn_boxes, dnn_scores;
    std::vector<SgImage> images;
    t.val_loader->start_epoch(0);
    Batch b;
    Progress bar("  val", t.val_loader->batches_per_epoch());
    long done = 0;
    while (t.val_loader->next(b)) {
      torch::Tensor boxes, scores;
      int A = 0, C = 0;
      if (onednn) {
        OnednnNet& net = nets.get(b.batch_size, b.height, b.width);
        net.run(b.images.data(), dnn_boxes, dnn_scores);
        A = net.num_anchors(), C = net.num_classes();
      } else {
        auto x = torch::from_blob(b.images.data(), {b.batch_size, 3, b.height, b.width}, torch::kFloat32);
        c10::InferenceMode g;
        std::tie(boxes, scores) = vm->forward_decoded(x.to(t.device));
        boxes = boxes.cpu().contiguous();
        scores = scores.cpu().contiguous();
        A = static_cast<int>(boxes.size(1)), C = static_cast<int>(scores.size(2));
      }
      const size_t first = images.size();
      images.resize(first + b.batch_size);
      for (int i = 0; i < b.batch_size; ++i) {
        SgImage& im = images[first + i];
        im.clip_w = static_cast<float>(b.width);
        im.clip_h = static_cast<float>(b.height);
        const float* bi = onednn ? &dnn_boxes[static_cast<size_t>(i) * A * 4] : boxes[i].data_ptr<float>();
        const float* si = onednn ? &dnn_scores[static_cast<size_t>(i) * A * C] : scores[i].data_ptr<float>();
        for (const auto& d : postprocess(bi, si, A, C, NmsParams::valid_defaults()))
          im.preds.push_back({d.x1, d.y1, d.x2, d.y2, d.cls, d.score});
      }
      for (size_t r = 0; r < b.num_targets(); ++r) {
        const float* q = &b.targets[r * 6];
        images[first + static_cast<size_t>(q[0])].targets.push_back(
            {q[2] - q[4] / 2, q[3] - q[5] / 2, q[2] + q[4] / 2, q[3] + q[5] / 2, static_cast<int>(q[1]), 0.f});
      }
      for (size_t r = 0; r + 6 <= b.crowd.size(); r += 6) {
        const float* q = &b.crowd[r];
        images[first + static_cast<size_t>(q[0])].crowd.push_back(
            {q[2] - q[4] / 2, q[3] - q[5] / 2, q[2] + q[4] / 2, q[3] + q[5] / 2, static_cast<int>(q[1]), 0.f});
      }
      bar.update(++done);
    }
    bar.finish();
    const int nc = t.meta.arch.num_classes;
    SgMetricsParams p;
    const SgMetricsResult all = sg_detection_metrics(images, nc, p);
    p.iou_lo = p.iou_hi = 0.5f;
    const SgMetricsResult m50 = sg_detection_metrics(images, nc, p);
    t.row.map50_95 = all.map;
    t.row.map50 = m50.map;
    t.row.precision = all.precision;
    t.row.recall = all.recall;
  }
};

struct CheckpointHook : TrainHook {
  void after_epoch(Trainer& t) override {
    // Fitness: mAP@0.5:0.95 (SG's metric_to_watch for COCO); epochs without validation keep the last.
    const double fit = t.row.map50_95;
    t.improved = fit >= 0 && fit > t.best_fitness;
    if (t.improved) t.best_fitness = fit;
    t.history.push_back(t.row);
    t.save_checkpoint(t.weights_dir + "/last.pth");
    if (t.improved) t.save_checkpoint(t.weights_dir + "/best.pth");
  }
};

struct LoggerHook : TrainHook {
  void after_epoch(Trainer& t) override {
    std::ostringstream csv;
    csv << "epoch,train/cls_loss,train/iou_loss,train/dfl_loss,train/loss,metrics/precision,metrics/recall,"
           "metrics/mAP50,metrics/mAP50-95,lr,time_s\n";
    for (const auto& r : t.history)
      csv << r.epoch << "," << r.cls << "," << r.iou << "," << r.dfl << "," << r.loss << "," << r.precision << ","
          << r.recall << "," << r.map50 << "," << r.map50_95 << "," << r.lr << "," << r.seconds << "\n";
    write_file_atomic(t.run_dir + "/results.csv", csv.str());
    const auto& r = t.row;
    std::printf("epoch %d/%d: loss %.4f (cls %.4f iou %.4f dfl %.4f)", r.epoch, t.cfg.epochs, r.loss, r.cls, r.iou, r.dfl);
    if (r.map50 >= 0) std::printf("  mAP50 %.4f  mAP50-95 %.4f%s", r.map50, r.map50_95, t.improved ? "  (best)" : "");
    std::printf("  lr %.3g  %.0fs\n", r.lr, r.seconds);
    std::fflush(stdout);
    if (!t.cfg.plots) return;
    std::vector<Series> panels(7);
    const char* titles[7] = {"train/cls_loss", "train/iou_loss", "train/dfl_loss", "train/loss",
                             "metrics/mAP50", "metrics/mAP50-95", "lr"};
    for (int i = 0; i < 7; ++i) panels[i].title = titles[i];
    for (const auto& h : t.history) {
      const double v[7] = {h.cls, h.iou, h.dfl, h.loss, h.map50, h.map50_95, h.lr};
      for (int i = 0; i < 7; ++i) {
        if (i >= 4 && i <= 5 && v[i] < 0) continue;  // epochs without validation
        panels[i].x.push_back(h.epoch);
        panels[i].y.push_back(v[i]);
      }
    }
    save_series_grid_png(t.run_dir + "/results.png", panels, 4);
  }
};

}  // namespace

void Trainer::build_model(const std::vector<std::string>& names) {
  const int nc = static_cast<int>(names.size());
  ArchParams arch;
  std::optional<Checkpoint> ck;
  if (!cfg.weights.empty()) {
    ck = read_checkpoint(cfg.weights, /*prefer_ema=*/true);
    if (infer_rep_layout(ck->weights) != "unfused")
      throw Error(cfg.weights + ": holds a fused model; training needs the un-fused (training) layout");
  }
  if (ck && ck->meta_json) {
    const ModelMeta m = ModelMeta::from_json(*ck->meta_json, cfg.weights);
    arch = m.arch;
    meta.model_name = m.model_name;
  } else {
    const bool file = cfg.model.find('.') != std::string::npos;
    arch = file ? ArchParams::from_file(cfg.model) : ArchParams::by_name(cfg.model);
    meta.model_name = arch.name;
  }
  const int ck_classes = ck ? infer_num_classes(ck->weights, cfg.weights) : nc;
  arch.num_classes = nc;
  model = YoloNAS(arch);
  if (ck) {
    // The checkpoint's class names: its metadata, or COCO's for SG's 80-class weights.
    std::vector<std::string> ck_names;
    if (ck->meta_json) ck_names = ModelMeta::from_json(*ck->meta_json, cfg.weights).names;
    else if (ck_classes == 80) ck_names = coco80_names();
    // Old class feeding each new class when names are matched (-1: a new class).
    std::vector<int> from(static_cast<size_t>(nc), -1);
    int shared = 0;
    if (cfg.match_names && static_cast<int>(ck_names.size()) == ck_classes && ck_names != names)
      for (int k = 0; k < nc; ++k) {
        auto it = std::find(ck_names.begin(), ck_names.end(), names[static_cast<size_t>(k)]);
        if (it != ck_names.end()) from[static_cast<size_t>(k)] = static_cast<int>(it - ck_names.begin()), ++shared;
      }
    std::vector<std::string> reinit;
    if (ck_classes != nc || shared > 0)
      for (const char* h : {"head1", "head2", "head3"})
        for (const char* p : {"weight", "bias"}) reinit.push_back(std::string("heads.") + h + ".cls_pred." + p);
    load_state_dict(*model, ck->weights, cfg.weights, reinit);
    if (!reinit.empty()) {
      // SG replace_num_classes_with_random_weights: new cls_pred ~ N(mean, std) of the old tensors;
      // then classes found by name in the checkpoint take their old rows back.
      torch::NoGradGuard ng;
      for (const auto& key : reinit) {
        torch::Tensor old = find_key(ck->weights, key).to(torch::kFloat32);
        for (auto& kv : state_dict(*model)) {
          if (kv.first != key) continue;
          kv.second.normal_(old.mean().item<double>(), old.std().item<double>());
          for (int k = 0; k < nc; ++k)
            if (from[static_cast<size_t>(k)] >= 0) kv.second[k].copy_(old[from[static_cast<size_t>(k)]]);
        }
      }
      if (shared > 0) {
        std::string kept, fresh;
        for (int k = 0; k < nc; ++k) {
          std::string& list = from[static_cast<size_t>(k)] >= 0 ? kept : fresh;
          list += (list.empty() ? "" : ", ") + names[static_cast<size_t>(k)];
        }
        std::printf("fine-tuning: %d of %d classes keep their pretrained outputs, matched by name (%s)%s%s\n", shared,
                    nc, kept.c_str(), fresh.empty() ? "" : "; new, re-initialized: ", fresh.c_str());
      } else {
        std::printf("fine-tuning: %d-class checkpoint -> %d classes; class outputs (cls_pred) re-initialized\n",
                    ck_classes, nc);
      }
    }
  }
  meta.arch = arch;
  meta.names = names;
  meta.preprocessing = PreprocessParams::for_imgsz(cfg.imgsz, cfg.imgsz);
  meta.preprocessing.rgb = cfg.rgb;
  meta.conf = 0.25f;
  meta.iou = 0.7f;
}

void Trainer::save_checkpoint(const std::string& path) {
  StateDict net = state_dict(*model);
  StateDict ema_sd;
  if (ema) ema_sd = ema->state();
  // Training state rides along as tensors/strings so that SG can still torch.load the file.
  json ts = {{"epoch", epoch + 1},
             {"global_step", global_step},
             {"ema_updates", ema ? ema->updates() : 0},
             {"best_fitness", best_fitness},
             {"config", json(cfg)}};
  ts["history"] = history;
  const std::string ob = bytes_of_optimizer(*opt);
  CheckpointWrite w;
  w.net = &net;
  w.ema = ema ? &ema_sd : nullptr;
  w.meta_json = meta.to_json();
  w.epoch = epoch + 1;
  w.acc = std::max(0.0, best_fitness);
  w.train_state_json = ts.dump();
  w.optimizer_bytes = ob;
  write_checkpoint(path, w);
}

void Trainer::resume_from(const Checkpoint& ck, const std::string& path) {
  if (!ck.train_state_json || !ck.optimizer_bytes.defined())
    throw Error(path + ": not a yolonas training checkpoint (no training state); use weights= to fine-tune from it");
  try {
    const json ts = json::parse(*ck.train_state_json);
    load_state_dict(*model, ck.weights, path);
    if (ema) {
      if (!ck.ema_weights) throw Error(path + ": has no ema_net but ema=true");
      ema->load(*ck.ema_weights, ts.at("ema_updates").get<int64_t>());
    }
    load_optimizer_bytes(*opt, ck.optimizer_bytes, device, path);
    start_epoch = ts.at("epoch").get<int>();
    global_step = ts.at("global_step").get<int64_t>();
    best_fitness = ts.at("best_fitness").get<double>();
    history = ts.at("history").get<std::vector<EpochRow>>();
  } catch (const json::exception& e) {
    throw Error(path + ": the training state recorded in the checkpoint is corrupt: " + std::string(e.what()));
  }
  if (start_epoch < 0 || global_step < 0)
    throw Error(path + ": the training state recorded in the checkpoint is corrupt (epoch " + std::to_string(start_epoch) +
                ", step " + std::to_string(global_step) + ")");
  std::printf("resuming %s from epoch %d/%d\n", path.c_str(), start_epoch + 1, cfg.epochs);
}

void Trainer::setup() {
  device = parse_device(cfg.device);
  // Resume: train() has resolved cfg.resume to the checkpoint and restored the config from it.
  const bool resuming = resume_ck_.has_value();
  run_dir = resuming ? fs::path(cfg.resume).parent_path().parent_path().string()
                     : make_run_dir(cfg.project, cfg.name, cfg.exist_ok);
  weights_dir = run_dir + "/weights";
  fs::create_directories(weights_dir);
  if (!resuming) write_file_atomic(run_dir + "/args.yaml", cfg.to_yaml());

  const DataYaml data = open_dataset(cfg.data);
  for (const char* split : {"train", "val"})
    if (!data.splits.count(split))
      throw Error(cfg.data + ": has no '" + split + "' split; training needs train and val (" +
                  data_format_name(data.format) + " data; docs/DATASETS.md lists the layouts read)");
  // Refuse a broken dataset up front, with every problem listed (or warn and skip with strict=false).
  CheckOptions copt;
  copt.workers = std::max(1, cfg.workers);
  copt.progress = true;
  std::map<std::string, YoloSplit> splits;
  const DataReport report = check_dataset(data, {"train", "val"}, copt, &splits);
  for (const auto& w : enforce_data_report(report, cfg.strict)) std::fprintf(stderr, "warning: %s\n", w.c_str());
  YoloSplit train_split = std::move(splits.at("train"));
  YoloSplit val_split = std::move(splits.at("val"));
  drop_bad_images(train_split, report);
  drop_bad_images(val_split, report);

  build_model(data.names);
  if (cfg.freeze_backbone)
    for (auto& p : model->backbone->parameters()) p.set_requires_grad(false);
  model->to(device);  // before the optimizer and the EMA take references / copies

  LoaderConfig lc;
  lc.height = lc.width = cfg.imgsz;
  lc.batch_size = cfg.batch;
  lc.workers = cfg.workers;
  lc.seed = cfg.seed;
  lc.train = true;
  lc.augment = cfg.augment;
  lc.rgb = cfg.rgb;
  lc.cache_ram = cfg.cache_ram;
  lc.strict = cfg.strict;
  lc.drop_last = train_split.samples.size() >= static_cast<size_t>(cfg.batch);
  lc.batches_per_epoch = cfg.max_batches;
  train_loader = std::make_unique<DataLoader>(std::move(train_split), lc);
  LoaderConfig vc = lc;
  vc.train = false;
  vc.drop_last = false;
  vc.batches_per_epoch = 0;
  // Validation sees what predict() sees: the model's own preprocessing (detect/preprocess.h).
  vc.val_preprocess = meta.preprocessing;
  vc.cache_ram = false;
  val_loader = std::make_unique<DataLoader>(std::move(val_split), vc);

  OptimConfig oc;
  oc.name = cfg.optimizer;
  oc.lr0 = cfg.lr0;
  oc.weight_decay = cfg.weight_decay;
  oc.momentum = cfg.momentum;
  oc.nesterov = cfg.nesterov;
  opt = make_optimizer(*model, oc);
  if (cfg.ema) ema.emplace(*model, cfg.ema_decay);
  PPYoloELossOptions lo;
  lo.num_classes = meta.arch.num_classes;
  loss = std::make_unique<PPYoloELoss>(lo);

  sched.lr0 = cfg.lr0;
  sched.warmup_initial_lr = cfg.warmup_initial_lr;
  sched.warmup_epochs = cfg.warmup_epochs;
  sched.warmup_steps = cfg.warmup_steps;
  sched.batch_warmup = cfg.warmup_mode == "batch";
  sched.final_lr_ratio = cfg.final_lr_ratio;
  sched.epochs = cfg.epochs;
  sched.steps_per_epoch = static_cast<int>((train_loader->batches_per_epoch() + cfg.accumulate - 1) / cfg.accumulate);

  if (resuming) resume_from(*resume_ck_, cfg.resume);
}

void Trainer::train_one_epoch(std::vector<std::unique_ptr<TrainHook>>& hooks) {
  model->train();
  if (cfg.freeze_backbone) model->backbone->eval();  // frozen BN statistics too
  train_loader->start_epoch(epoch);
  Progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs),
               train_loader->batches_per_epoch());
  Batch b;
  long i = 0;
  double sums[4] = {0, 0, 0, 0};
  step_in_epoch = 0;
  const long n = train_loader->batches_per_epoch();
  while (train_loader->next(b)) {
    if (epoch == 0 && i < 3 && cfg.plots)
      save_batch_grid(b, run_dir + "/train_batch" + std::to_string(i) + ".jpg", meta.names);
    if (i % cfg.accumulate == 0)
      for (auto& h : hooks) h->before_step(*this);
    auto x = torch::from_blob(b.images.data(), {b.batch_size, 3, b.height, b.width}, torch::kFloat32);
    auto targets = torch::from_blob(b.targets.data(), {static_cast<int64_t>(b.num_targets()), 6}, torch::kFloat32);
    LossResult lr_ = (*loss)(model->forward(x.to(device)), targets.to(device));
    if (!std::isfinite(lr_.loss.item<double>()))
      throw Error("training diverged (loss is not finite) at epoch " + std::to_string(epoch + 1) + ", batch " +
                  std::to_string(i) + "; try a lower lr0");
    (lr_.loss / cfg.accumulate).backward();
    for (int k = 0; k < 4; ++k) sums[k] += lr_.components[k].item<double>();
    ++i;
    if (i % cfg.accumulate == 0 || i == n) {
      if (cfg.clip_grad > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), cfg.clip_grad);
      opt->step();
      opt->zero_grad();
      ++global_step;
      for (auto& h : hooks) h->after_step(*this);
      ++step_in_epoch;
    }
    char sfx[96];
    std::snprintf(sfx, sizeof sfx, "loss %.3f cls %.3f iou %.3f dfl %.3f", sums[3] / i, sums[0] / i, sums[1] / i,
                  sums[2] / i);
    bar.update(i, sfx);
  }
  bar.finish();
  row = EpochRow{};
  row.epoch = epoch + 1;
  row.cls = sums[0] / std::max<long>(1, i);
  row.iou = sums[1] / std::max<long>(1, i);
  row.dfl = sums[2] / std::max<long>(1, i);
  row.loss = sums[3] / std::max<long>(1, i);
  row.lr = lr;
}

TrainResult Trainer::run() {
  set_threads(cfg.threads);
  torch::manual_seed(cfg.seed);  // the from-scratch initialization
  setup();
  std::vector<std::unique_ptr<TrainHook>> hooks;
  hooks.push_back(std::make_unique<LrHook>());
  hooks.push_back(std::make_unique<EmaHook>());
  hooks.push_back(std::make_unique<ValidationHook>());
  hooks.push_back(std::make_unique<CheckpointHook>());
  hooks.push_back(std::make_unique<LoggerHook>());
  std::printf("training %s (%d classes) on %s: %zu train / %zu val images, %ld batches/epoch, run folder %s\n",
              meta.model_name.c_str(), meta.arch.num_classes, cfg.data.c_str(), train_loader->num_samples(),
              val_loader->num_samples(), train_loader->batches_per_epoch(), run_dir.c_str());
  std::fflush(stdout);
  for (epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    train_one_epoch(hooks);
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto& h : hooks) h->after_epoch(*this);
  }
  for (const auto& w : train_loader->take_warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  TrainResult r;
  r.run_dir = run_dir;
  r.last = weights_dir + "/last.pth";
  r.best = fs::exists(weights_dir + "/best.pth") ? weights_dir + "/best.pth" : r.last;
  r.epochs_done = cfg.epochs;
  for (const auto& h : history)
    if (h.map50_95 >= r.best_map50_95) r.best_map50_95 = h.map50_95, r.best_map50 = h.map50;
  return r;
}

TrainResult train(const TrainConfig& user_config) {
  TrainConfig config = user_config;
  std::optional<Checkpoint> resume_ck;
  if (!config.resume.empty() && config.resume != "false") {
    // Everything but the checkpoint to resume comes from the run's own record.
    const std::string path = config.resume == "true" ? latest_last_pth(config.project) : config.resume;
    if (path.empty() || !fs::exists(path))
      throw Error("resume=" + config.resume + ": no last.pth found" +
                  (config.resume == "true" ? " under " + config.project : ""));
    resume_ck = read_checkpoint(path, /*prefer_ema=*/false);
    if (!resume_ck->train_state_json) throw Error(path + ": not a yolonas training checkpoint (no training state)");
    try {
      config = json::parse(*resume_ck->train_state_json).at("config").get<TrainConfig>();
    } catch (const json::exception& e) {
      throw Error(path + ": unreadable training state: " + e.what());
    }
    config.resume = path;
    if (!user_config.device.empty()) config.device = user_config.device;  // e.g. resume a GPU run on the CPU
  }
  if (config.epochs <= 0 || config.batch <= 0 || config.accumulate <= 0)
    throw Error("epochs, batch and accumulate must be positive");
  if (config.imgsz < 32 || config.imgsz % 32 != 0)
    throw Error("imgsz=" + std::to_string(config.imgsz) + " is not a multiple of 32");
  if (config.data.empty())
    throw Error("data= is required (a data.yaml, or a COCO or Pascal VOC dataset folder)");
  if (config.warmup_epochs < 0 || config.warmup_steps < 0) throw Error("warmup_epochs and warmup_steps must be >= 0");
  if (config.warmup_mode != "epoch" && config.warmup_mode != "batch")
    throw Error("warmup_mode=" + config.warmup_mode + ": expected epoch (LinearEpochLRWarmup) or batch (LinearBatchLRWarmup)");
  Trainer t(config, std::move(resume_ck));
  return t.run();
}

}  // namespace yolonas
