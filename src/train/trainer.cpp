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
#include "yolonas/detect/coco_names.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"
#include "yolonas/data/loader.h"
#include "yolonas/train/loss.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/train/hooks.h"
#include "yolonas/train/optim.h"
#include "yolonas/core/files.h"
#include "yolonas/model/state_dict.h"
#include "yolonas/core/text.h"
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
                                                strict, val_period, patience, max_batches, plots, project, name, exist_ok, device,
                                                match_names,
                                                resume, augment, amp, amp_dtype, world_size, sync_bn, teacher, kd_weight,
                                                kd_temperature, average_best_models, ignore_regions, multi_scale)

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

}  // namespace

// ---- epoch metrics ------------------------------------------------------------------------------

std::optional<double> EpochMetrics::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

json EpochMetrics::to_json() const { return json(values_); }

EpochMetrics EpochMetrics::from_json(const json& j) {
  EpochMetrics m;
  // Checkpoints of earlier versions stored fixed fields: mapped onto the column names.
  static const std::map<std::string, std::string> kOld = {
      {"cls", "train/cls_loss"},   {"iou", "train/iou_loss"},     {"dfl", "train/dfl_loss"},
      {"loss", "train/loss"},      {"map50", "metrics/mAP50"},    {"map50_95", "metrics/mAP50-95"},
      {"precision", "metrics/precision"}, {"recall", "metrics/recall"}, {"seconds", "time_s"}};
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number()) throw Error("epoch record: '" + clip(k, 40) + "' is not a number");
    auto old = kOld.find(k);
    const std::string key = old != kOld.end() ? old->second : k;
    const double value = v.get<double>();
    if (old != kOld.end() && k != "cls" && k != "iou" && k != "dfl" && k != "loss" && k != "seconds" && value < 0)
      continue;  // the old format wrote -1 for "not validated"
    m.put(key, value);
  }
  return m;
}

// ---- the trainer ----------------------------------------------------------------------------------

namespace {

TrainConfig resolve_config(const TrainConfig& user, std::optional<Checkpoint>& resume_ck) {
  TrainConfig config = user;
  if (!config.resume.empty() && config.resume != "false") {
    // Everything but the checkpoint to resume comes from the run's own record.
    const std::string path = config.resume == "true" ? latest_last_pth(config.project) : config.resume;
    if (path.empty() || !fs::exists(path))
      throw Error("resume=" + clip(config.resume) + ": no last.pth found" +
                  (config.resume == "true" ? " under " + clip(config.project) : ""));
    resume_ck = read_checkpoint(path, /*prefer_ema=*/false);
    if (!resume_ck->train_state_json) throw Error(path + ": not a yolonas training checkpoint (no training state)");
    try {
      config = json::parse(*resume_ck->train_state_json).at("config").get<TrainConfig>();
    } catch (const json::exception& e) {
      throw Error(path + ": unreadable training state: " + e.what());
    }
    config.resume = path;
    if (!user.device.empty()) config.device = user.device;  // e.g. resume a GPU run on the CPU
    if (config.world_size != user.world_size)
      throw Error(path + ": the run was trained by " + std::to_string(config.world_size) +
                  " process(es); resume it with the same world size (got " + std::to_string(user.world_size) + ")");
    config.rank = user.rank, config.local_rank = user.local_rank;
    config.master_addr = user.master_addr, config.master_port = user.master_port;
  }
  if (config.epochs <= 0 || config.batch <= 0 || config.accumulate <= 0)
    throw Error("epochs, batch and accumulate must be positive");
  if (config.imgsz < 32 || config.imgsz % 32 != 0)
    throw Error("imgsz=" + std::to_string(config.imgsz) + " is not a multiple of 32");
  if (config.data.empty()) throw Error("data= is required (a data.yaml, or a COCO or Pascal VOC dataset folder)");
  if (config.warmup_epochs < 0 || config.warmup_steps < 0) throw Error("warmup_epochs and warmup_steps must be >= 0");
  if (config.warmup_mode != "epoch" && config.warmup_mode != "batch")
    throw Error("warmup_mode=" + clip(config.warmup_mode, 40) +
                ": expected epoch (LinearEpochLRWarmup) or batch (LinearBatchLRWarmup)");
  if (config.patience < 0) throw Error("patience must be >= 0 (0 = no early stopping)");
  if (config.average_best_models < 0) throw Error("average_best_models must be >= 0 (0 = off)");
  if (config.kd_weight < 0 || !(config.kd_temperature > 0))
    throw Error("kd_weight must be >= 0 and kd_temperature > 0");
  if (config.multi_scale < 0 || config.imgsz - 32 * config.multi_scale < 64)
    throw Error("multi_scale=" + std::to_string(config.multi_scale) + ": imgsz=" + std::to_string(config.imgsz) +
                " minus 32 x multi_scale must leave at least 64 (multi_scale <= " +
                std::to_string(std::max(0, (config.imgsz - 64) / 32)) + ")");
  if (config.world_size < 1 || config.rank < 0 || config.rank >= config.world_size)
    throw Error("rank=" + std::to_string(config.rank) + " is not in [0, world_size=" + std::to_string(config.world_size) + ")");
  return config;
}

}  // namespace

Trainer::Trainer(TrainConfig config) {
  cfg_ = resolve_config(config, resume_ck_);
  hooks_.push_back(std::make_unique<LrSchedulerHook>());
  if (!is_main()) return;  // the other ranks only train: rank 0 keeps the EMA, validates, shows and writes
  hooks_.push_back(std::make_unique<EmaHook>());
  if (cfg_.plots) hooks_.push_back(std::make_unique<BatchPlotHook>());
  hooks_.push_back(std::make_unique<ProgressHook>());
  hooks_.push_back(std::make_unique<ValidationHook>());
}

Trainer::~Trainer() = default;

void Trainer::register_hook(std::unique_ptr<HookBase> hook) {
  if (!hook) throw Error("register_hook: null hook");
  for (const auto* list : {&hooks_, &user_hooks_})
    for (const auto& h : *list)
      if (h->name() == hook->name()) throw Error("register_hook: a hook named '" + hook->name() + "' is registered already");
  user_hooks_.push_back(std::move(hook));
}

void Trainer::request_stop(const std::string& why) {
  if (stop_reason_.empty()) stop_reason_ = why.empty() ? "stopped by a hook" : why;
}

long Trainer::batches_per_epoch() const { return train_loader_ ? train_loader_->batches_per_epoch() : 0; }

bool Trainer::starts_optimizer_step() const { return batch_index_ % cfg_.accumulate == 0; }

std::array<double, 4> Trainer::mean_losses() const {
  const double n = static_cast<double>(std::max<long>(1, batch_index_ + 1));
  return {loss_sums_[0] / n, loss_sums_[1] / n, loss_sums_[2] / n, loss_sums_[3] / n};
}

void Trainer::set_lr(double lr) {
  lr_ = lr;
  yolonas::set_lr(*opt_, lr);
}

void Trainer::build_model(const std::vector<std::string>& names) {
  const int nc = static_cast<int>(names.size());
  ArchParams arch;
  std::optional<Checkpoint> ck;
  if (!cfg_.weights.empty()) {
    ck = read_checkpoint(cfg_.weights, /*prefer_ema=*/true);
    if (infer_rep_layout(ck->weights) != "unfused")
      throw Error(cfg_.weights + ": holds a fused model; training needs the un-fused (training) layout");
  }
  if (ck && ck->meta_json) {
    const ModelMeta m = ModelMeta::from_json(*ck->meta_json, cfg_.weights);
    arch = m.arch;
    meta_.model_name = m.model_name;
  } else {
    const bool file = cfg_.model.find('.') != std::string::npos;
    arch = file ? ArchParams::from_file(cfg_.model) : ArchParams::by_name(cfg_.model);
    meta_.model_name = arch.name;
  }
  const int ck_classes = ck ? infer_num_classes(ck->weights, cfg_.weights) : nc;
  arch.num_classes = nc;
  model_ = YoloNAS(arch);
  if (ck) {
    // The checkpoint's class names: its metadata, or COCO's for SG's 80-class weights.
    std::vector<std::string> ck_names;
    if (ck->meta_json) ck_names = ModelMeta::from_json(*ck->meta_json, cfg_.weights).names;
    else if (ck_classes == 80) ck_names = coco80_names();
    // Old class feeding each new class when names are matched (-1: a new class).
    std::vector<int> from(static_cast<size_t>(nc), -1);
    int shared = 0;
    if (cfg_.match_names && static_cast<int>(ck_names.size()) == ck_classes && ck_names != names)
      for (int k = 0; k < nc; ++k) {
        auto it = std::find(ck_names.begin(), ck_names.end(), names[static_cast<size_t>(k)]);
        if (it != ck_names.end()) from[static_cast<size_t>(k)] = static_cast<int>(it - ck_names.begin()), ++shared;
      }
    std::vector<std::string> reinit;
    if (ck_classes != nc || shared > 0)
      for (const char* h : {"head1", "head2", "head3"})
        for (const char* p : {"weight", "bias"}) reinit.push_back(std::string("heads.") + h + ".cls_pred." + p);
    load_state_dict(*model_, ck->weights, cfg_.weights, reinit);
    if (!reinit.empty()) {
      // SG replace_num_classes_with_random_weights: new cls_pred ~ N(mean, std) of the old tensors;
      // then classes found by name in the checkpoint take their old rows back.
      torch::NoGradGuard ng;
      for (const auto& key : reinit) {
        torch::Tensor old = find_key(ck->weights, key).to(torch::kFloat32);
        for (auto& kv : state_dict(*model_)) {
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
  meta_.arch = arch;
  meta_.names = names;
  meta_.preprocessing = PreprocessParams::for_imgsz(cfg_.imgsz, cfg_.imgsz);
  meta_.preprocessing.rgb = cfg_.rgb;
  meta_.conf = 0.25f;
  meta_.iou = 0.7f;
}

void Trainer::save_checkpoint(const std::string& path) {
  StateDict net = state_dict(*model_);
  StateDict ema_sd;
  if (ema_) ema_sd = ema_->state();
  json hooks = json::object();
  for (const auto* list : {&hooks_, &user_hooks_})
    for (const auto& h : *list) {
      json st = h->state();
      if (!st.is_null()) hooks[h->name()] = std::move(st);
    }
  json history = json::array();
  for (const EpochMetrics& m : history_) history.push_back(m.to_json());
  // Training state rides along as tensors/strings so that SG can still torch.load the file.
  json ts = {{"epoch", epoch_ + 1},   {"global_step", global_step_}, {"ema_updates", ema_ ? ema_->updates() : 0},
             {"config", json(cfg_)},  {"history", history},          {"hooks", hooks}};
  if (scaler_) ts["grad_scaler"] = scaler_->state();
  CheckpointWrite w;
  w.net = &net;
  w.ema = ema_ ? &ema_sd : nullptr;
  w.meta_json = meta_.to_json();
  w.epoch = epoch_ + 1;
  double best = 0;
  for (const EpochMetrics& m : history_) best = std::max(best, m.get_or("metrics/mAP50-95", 0));
  w.acc = best;
  w.train_state_json = ts.dump();
  w.optimizer_bytes = bytes_of_optimizer(*opt_);
  write_checkpoint(path, w);
}

void Trainer::resume_from() {
  const Checkpoint& ck = *resume_ck_;
  const std::string& path = cfg_.resume;
  if (!ck.train_state_json || !ck.optimizer_bytes.defined())
    throw Error(path + ": not a yolonas training checkpoint (no training state); use weights= to fine-tune from it");
  try {
    const json ts = json::parse(*ck.train_state_json);
    load_state_dict(*model_, ck.weights, path);
    if (ema_) {  // rank 0
      if (!ck.ema_weights) throw Error(path + ": has no ema_net but ema=true");
      ema_->load(*ck.ema_weights, ts.at("ema_updates").get<int64_t>());
    }
    load_optimizer_bytes(*opt_, ck.optimizer_bytes, device_, path);
    start_epoch_ = ts.at("epoch").get<int>();
    if (scaler_ && ts.contains("grad_scaler")) scaler_->load_state(ts.at("grad_scaler").get<std::vector<double>>());
    global_step_ = ts.at("global_step").get<int64_t>();
    for (const json& e : ts.at("history")) history_.push_back(EpochMetrics::from_json(e));
    resumed_hook_states_ = ts.value("hooks", json::object());
    if (!ts.contains("hooks") && ts.contains("best_fitness"))  // earlier versions: the checkpoint hook's state
      resumed_hook_states_["checkpoint"] = {{"best_fitness", ts.at("best_fitness")}};
  } catch (const json::exception& e) {
    throw Error(path + ": the training state recorded in the checkpoint is corrupt: " + std::string(e.what()));
  } catch (const Error& e) {
    throw Error(path + ": the training state recorded in the checkpoint is corrupt: " + std::string(e.what()));
  }
  if (start_epoch_ < 0 || global_step_ < 0)
    throw Error(path + ": the training state recorded in the checkpoint is corrupt (epoch " + std::to_string(start_epoch_) +
                ", step " + std::to_string(global_step_) + ")");
  std::printf("resuming %s from epoch %d/%d\n", path.c_str(), start_epoch_ + 1, cfg_.epochs);
}

void Trainer::setup() {
  const bool resuming = resume_ck_.has_value();
  if (is_main()) {
    run_dir_ = resuming ? fs::path(cfg_.resume).parent_path().parent_path().string()
                        : make_run_dir(cfg_.project, cfg_.name, cfg_.exist_ok);
    weights_dir_ = run_dir_ + "/weights";
    fs::create_directories(weights_dir_);
    if (!resuming) write_file_atomic(run_dir_ + "/args.yaml", cfg_.to_yaml());
  }

  const DataYaml data = open_dataset(cfg_.data);
  for (const char* split : {"train", "val"})
    if (!data.splits.count(split))
      throw Error(cfg_.data + ": has no '" + split + "' split; training needs train and val (" +
                  data_format_name(data.format) + " data; docs/DATASETS.md lists the layouts read)");
  // Refuse a broken dataset up front, with every problem listed (or warn and skip with strict=false).
  CheckOptions copt;
  copt.workers = std::max(1, cfg_.workers);
  copt.progress = is_main();
  std::map<std::string, DataSplit> splits;
  const DataReport report = check_dataset(data, {"train", "val"}, copt, &splits);
  for (const auto& w : enforce_data_report(report, cfg_.strict)) std::fprintf(stderr, "warning: %s\n", w.c_str());
  DataSplit train_split = std::move(splits.at("train"));
  DataSplit val_split = std::move(splits.at("val"));
  drop_bad_images(train_split, report);
  drop_bad_images(val_split, report);
  size_t ignored_boxes = 0, ignored_images = 0;
  for (const LabeledImage& s : train_split.samples)
    if (!s.ignored.empty()) ignored_boxes += s.ignored.size(), ++ignored_images;
  if (ignored_boxes > 0 && is_main())
    std::printf("%zu ignored boxes (crowd, difficult, ignore/) in %zu train images: %s\n", ignored_boxes, ignored_images,
                cfg_.ignore_regions ? "ignore regions (no classification loss on the background anchors inside)"
                                    : "dropped, as SG does (ignore_regions=true uses them as ignore regions)");

  build_model(data.names);
  if (cfg_.freeze_backbone)
    for (auto& p : model_->backbone->parameters()) p.set_requires_grad(false);
  model_->to(device_);  // before the optimizer and the EMA take references / copies
  if (dist_) {
    // Every rank starts from rank 0's weights and BatchNorm statistics.
    std::vector<torch::Tensor> state;
    for (const auto& p : model_->parameters()) state.push_back(p.data());
    for (const auto& b : model_->buffers()) state.push_back(b);
    dist_->broadcast_(state, 0);
    if (cfg_.sync_bn) sync_bn_ = std::make_unique<SyncBatchNormScope>();
  }

  LoaderConfig lc;
  lc.height = lc.width = cfg_.imgsz;
  lc.batch_size = cfg_.batch;
  lc.workers = cfg_.workers;
  lc.seed = cfg_.seed;
  lc.train = true;
  lc.augment = cfg_.augment;
  lc.rgb = cfg_.rgb;
  lc.cache_ram = cfg_.cache_ram;
  lc.strict = cfg_.strict;
  lc.ignore_regions = cfg_.ignore_regions;
  lc.drop_last = dist_ || train_split.samples.size() >= static_cast<size_t>(cfg_.batch);
  lc.shard_rank = cfg_.rank;
  lc.shard_count = cfg_.world_size;
  lc.batches_per_epoch = cfg_.max_batches;
  train_loader_ = std::make_unique<DataLoader>(std::move(train_split), lc);
  // Validation runs the evaluation library on the val split, with the model's own preprocessing:
  // what `yolonas val` does with the saved weights (ValidationHook).
  val_set_ = eval_set_from_split(std::move(val_split), cfg_.data + " (val)");

  OptimConfig oc;
  oc.name = cfg_.optimizer;
  oc.lr0 = cfg_.lr0;
  oc.weight_decay = cfg_.weight_decay;
  oc.momentum = cfg_.momentum;
  oc.nesterov = cfg_.nesterov;
  opt_ = make_optimizer(*model_, oc);
  if (cfg_.ema && is_main()) ema_.emplace(*model_, cfg_.ema_decay);
  PPYoloELossOptions lo;
  lo.num_classes = meta_.arch.num_classes;
  if (dist_) {
    lo.allreduce_sum = [this](torch::Tensor& t) { dist_->allreduce_sum_(t); };
    lo.world_size = cfg_.world_size;
  }
  if (!cfg_.teacher.empty()) {
    ModelSource ts;
    ts.weights = cfg_.teacher;
    LoadedModel t = load_model(ts);
    if (t.meta.names != meta_.names)
      throw Error("teacher=" + clip(cfg_.teacher) + ": its classes (" + clip(join(t.meta.names, ", "), 200) +
                  ") are not the dataset's (" + clip(join(meta_.names, ", "), 200) + ")");
    if (t.meta.arch.reg_max != meta_.arch.reg_max)
      throw Error("teacher=" + clip(cfg_.teacher) + ": its DFL has another number of bins than the student's");
    teacher_ = t.model;
    teacher_->to(device_);
    teacher_->eval();  // BatchNorm statistics frozen; no dropout in YOLO-NAS
    for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
    if (is_main())
      std::printf("distillation: teacher %s (%s), kd_weight %g, temperature %g\n", clip(cfg_.teacher).c_str(),
                  t.meta.model_name.c_str(), cfg_.kd_weight, cfg_.kd_temperature);
  }
  if (cfg_.multi_scale > 0 && is_main())
    std::printf("multi-scale: every 10 batches a new size from %d to %d (steps of 32), the largest first\n",
                cfg_.imgsz - 32 * cfg_.multi_scale, cfg_.imgsz + 32 * cfg_.multi_scale);
  amp_ = resolve_amp(cfg_.amp, cfg_.amp_dtype, device_);
  if (amp_.scaler) scaler_.emplace();
  loss_fn_ = std::make_unique<PPYoloELoss>(lo);

  sched_.lr0 = cfg_.lr0;
  sched_.warmup_initial_lr = cfg_.warmup_initial_lr;
  sched_.warmup_epochs = cfg_.warmup_epochs;
  sched_.warmup_steps = cfg_.warmup_steps;
  sched_.batch_warmup = cfg_.warmup_mode == "batch";
  sched_.final_lr_ratio = cfg_.final_lr_ratio;
  sched_.epochs = cfg_.epochs;
  sched_.steps_per_epoch = static_cast<int>((train_loader_->batches_per_epoch() + cfg_.accumulate - 1) / cfg_.accumulate);

  if (resuming) resume_from();
}

int multiscale_size(int imgsz, int range, uint64_t seed, int epoch, long batch_index) {
  if (range <= 0) return imgsz;
  if (epoch == 0 && batch_index < 10) return imgsz + 32 * range;  // the largest first, as SG
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(epoch),
                    static_cast<uint32_t>(batch_index / 10), 0x6d73u};
  std::mt19937 gen(seq);
  return imgsz + 32 * std::uniform_int_distribution<int>(-range, range)(gen);
}

void resize_batch(torch::Tensor& images, torch::Tensor& targets, torch::Tensor& ignored, int size) {
  const int64_t h = images.size(2), w = images.size(3);
  if (h == size && w == size) return;
  namespace F = torch::nn::functional;
  images = F::interpolate(images, F::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{size, size})
                                      .mode(torch::kBilinear)
                                      .align_corners(false));
  const torch::Tensor scale =
      torch::tensor({1.f, 1.f, float(size) / w, float(size) / h, float(size) / w, float(size) / h}, targets.options());
  if (targets.numel()) targets = targets * scale;
  if (ignored.defined() && ignored.numel()) ignored = ignored * scale.to(ignored.device());
}

bool Trainer::run_step() {
  torch::Tensor x = torch::from_blob(batch_.images.data(), {batch_.batch_size, 3, batch_.height, batch_.width}, torch::kFloat32);
  torch::Tensor targets =
      torch::from_blob(batch_.targets.data(), {static_cast<int64_t>(batch_.num_targets()), 6}, torch::kFloat32);
  torch::Tensor ignore;
  if (!batch_.crowd.empty())
    ignore = torch::from_blob(batch_.crowd.data(), {static_cast<int64_t>(batch_.crowd.size() / 6), 6}, torch::kFloat32)
                 .to(device_);
  torch::Tensor xd = x.to(device_), td = targets.to(device_);
  if (cfg_.multi_scale > 0)  // new tensors: the loader's buffers are left as they are
    resize_batch(xd, td, ignore, multiscale_size(cfg_.imgsz, cfg_.multi_scale, cfg_.seed, epoch_, batch_index_));
  YoloNASOutput out, teacher_out;
  {
    AutocastScope autocast(amp_, device_);
    out = model_->forward(xd);
    if (teacher_) {  // the same augmented batch; no graph, no gradient
      torch::NoGradGuard ng;
      teacher_out = teacher_->forward(xd);
    }
  }
  if (amp_.enabled)  // the loss in float32 (train/amp.h)
    for (YoloNASOutput* o : {&out, &teacher_out})
      for (torch::Tensor* t : {&o->pred_bboxes, &o->pred_scores, &o->cls_logits, &o->reg_distri})
        if (t->defined()) *t = t->to(torch::kFloat32);
  loss_ = (*loss_fn_)(out, td, ignore);
  if (teacher_) {
    const DistillationLoss kd = distillation_loss(out, teacher_out, cfg_.kd_temperature);
    loss_.loss = loss_.loss + cfg_.kd_weight * kd.loss;
    kd_sum_ += kd.loss.item<double>();
  }
  // The logged losses are the mean over the ranks (= the single-process loss of the global batch).
  torch::Tensor logged = loss_.components.to(torch::kFloat64).cpu();
  if (dist_) {
    torch::Tensor t = loss_.components.to(torch::kFloat64).clone();
    dist_->allreduce_sum_(t);
    logged = (t / cfg_.world_size).cpu();
  }
  if (!std::isfinite(logged[3].item<double>()))
    throw Error("training diverged (loss is not finite) at epoch " + std::to_string(epoch_ + 1) + ", batch " +
                std::to_string(batch_index_) + "; try a lower lr0");
  torch::Tensor l = loss_.loss / cfg_.accumulate;
  (scaler_ ? scaler_->scale(l) : l).backward();
  for (int k = 0; k < 4; ++k) loss_sums_[static_cast<size_t>(k)] += logged[k].item<double>();
  const long n = train_loader_->batches_per_epoch();
  if ((batch_index_ + 1) % cfg_.accumulate != 0 && batch_index_ + 1 != n) return false;
  optimizer_step();
  ++global_step_;
  return true;
}

void Trainer::optimizer_step() {
  std::vector<torch::Tensor> params;
  for (const auto& p : model_->parameters())
    if (p.requires_grad()) params.push_back(p);
  if (dist_) dist_->allreduce_mean_gradients(params);  // identical gradients on every rank from here
  const bool finite = scaler_ ? scaler_->unscale_(params) : true;
  if (finite) {
    if (cfg_.clip_grad > 0) torch::nn::utils::clip_grad_norm_(params, cfg_.clip_grad);
    opt_->step();
  }
  if (scaler_) scaler_->update(finite);  // a float16 overflow skips the step and halves the scale
  opt_->zero_grad();
}

// After training: every rank must hold the same weights (identical gradients and optimizer steps).
// Rank 0's per-tensor sums are compared bit for bit with each rank's own.
void Trainer::check_ranks_agree() {
  if (!dist_) return;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> sums;
  for (const auto& p : model_->parameters()) sums.push_back(p.detach().to(torch::kFloat64).sum().reshape({1}));
  torch::Tensor mine = torch::cat(sums).cpu();
  torch::Tensor root = mine.clone().to(device_);
  dist_->broadcast_({root}, 0);
  torch::Tensor differ = torch::tensor({mine.ne(root.cpu()).sum().item<double>()}, torch::kFloat64).to(device_);
  dist_->allreduce_sum_(differ);
  const double n = differ.item<double>();
  if (n > 0)
    throw Error("distributed training: the ranks' weights differ (" + std::to_string(static_cast<long>(n)) +
                " tensor(s) not equal to rank 0's)");
  if (is_main())
    std::printf("weights identical on all %d ranks (%zu tensors compared with rank 0)\n", cfg_.world_size, sums.size());
}

void Trainer::run_epoch() {
  model_->train();
  if (cfg_.freeze_backbone) model_->backbone->eval();  // frozen BN statistics too
  train_loader_->start_epoch(epoch_);
  loss_sums_ = {};
  kd_sum_ = 0;
  step_in_epoch_ = 0;
  metrics_ = EpochMetrics{};
  std::vector<HookBase*> all;
  for (const auto* list : {&hooks_, &user_hooks_})
    for (const auto& h : *list) all.push_back(h.get());
  for (HookBase* h : all) h->before_epoch(*this);
  for (batch_index_ = 0; train_loader_->next(batch_); ++batch_index_) {
    stepped_ = false;
    for (HookBase* h : all) h->before_step(*this);
    stepped_ = run_step();
    for (HookBase* h : all) h->after_step(*this);
    if (stepped_) ++step_in_epoch_;
  }
  const std::array<double, 4> m = {loss_sums_[0], loss_sums_[1], loss_sums_[2], loss_sums_[3]};
  const double n = static_cast<double>(std::max<long>(1, batch_index_));
  metrics_.put("epoch", epoch_ + 1);
  metrics_.put("train/cls_loss", m[0] / n);
  metrics_.put("train/iou_loss", m[1] / n);
  metrics_.put("train/dfl_loss", m[2] / n);
  metrics_.put("train/loss", m[3] / n);
  if (teacher_) metrics_.put("train/kd_loss", kd_sum_ / n);  // this rank's; train/loss stays the detection loss
  metrics_.put("lr", lr_);
}

TrainResult Trainer::train() {
  set_threads(cfg_.threads);
  torch::manual_seed(cfg_.seed);  // the from-scratch initialization (the same on every rank)
  device_ = parse_device(cfg_.device);
  if (cfg_.world_size > 1) {
    if (device_.is_cuda()) device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(cfg_.local_rank));
    dist_ = Distributed::init({cfg_.world_size, cfg_.rank, cfg_.local_rank, cfg_.master_addr, cfg_.master_port}, device_);
  }
  setup();
  // The writers run last, so that every other hook's state of this epoch is in the checkpoint.
  hooks_.insert(hooks_.end(), std::make_move_iterator(user_hooks_.begin()), std::make_move_iterator(user_hooks_.end()));
  user_hooks_.clear();
  if (is_main()) {
    if (cfg_.average_best_models > 0)
      hooks_.push_back(std::make_unique<AverageModelsHook>(weights_dir_, cfg_.average_best_models));
    hooks_.push_back(std::make_unique<CheckpointHook>());
    hooks_.push_back(std::make_unique<ResultsHook>());
  }
  for (const auto& h : hooks_)
    if (resumed_hook_states_.contains(h->name())) h->load_state(resumed_hook_states_.at(h->name()));
  if (is_main()) {
    std::printf("training %s (%d classes) on %s: %zu train / %zu val images, %ld batches/epoch, run folder %s\n",
                meta_.model_name.c_str(), meta_.arch.num_classes, cfg_.data.c_str(), train_loader_->num_samples(),
                val_set_->image_paths.size(), train_loader_->batches_per_epoch(), run_dir_.c_str());
    if (dist_)
      std::printf("distributed: %d processes over %s (rank 0 at %s:%d), batch %d per process = %d per step, "
                  "BatchNorm %s\n",
                  cfg_.world_size, dist_->backend().c_str(), cfg_.master_addr.c_str(), cfg_.master_port, cfg_.batch,
                  cfg_.batch * cfg_.world_size, sync_bn_ ? "synchronized (sync_bn)" : "per process");
    if (amp_.enabled) std::printf("mixed precision: %s\n", amp_.describe().c_str());
    std::fflush(stdout);
  }
  for (const auto& h : hooks_) h->before_train(*this);
  int done = start_epoch_;
  for (epoch_ = start_epoch_; epoch_ < cfg_.epochs && stop_reason_.empty(); ++epoch_) {
    const auto t0 = std::chrono::steady_clock::now();
    run_epoch();
    metrics_.put("time_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    for (const auto& h : hooks_) h->after_epoch(*this);
    history_.push_back(metrics_);
    done = epoch_ + 1;
    // Rank 0 decides (early stopping, user hooks); the others follow.
    if (dist_ && dist_->broadcast_value(stop_reason_.empty() ? 0.0 : 1.0) > 0 && stop_reason_.empty())
      stop_reason_ = "stopped by rank 0";
  }
  check_ranks_agree();
  for (const auto& h : hooks_) h->after_train(*this);
  for (const auto& w : train_loader_->take_warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  TrainResult r;
  r.run_dir = run_dir_;
  if (is_main()) {
    r.last = weights_dir_ + "/last.pth";
    r.best = fs::exists(weights_dir_ + "/best.pth") ? weights_dir_ + "/best.pth" : r.last;
    if (cfg_.average_best_models > 0 && fs::exists(AverageModelsHook::path_in(weights_dir_)))
      r.average = AverageModelsHook::path_in(weights_dir_);
  }
  r.epochs_done = done;
  r.stopped_early = stop_reason_;
  for (const EpochMetrics& h : history_) {
    const double m = h.get_or("metrics/mAP50-95", -1);
    if (m >= r.best_map50_95) r.best_map50_95 = m, r.best_map50 = h.get_or("metrics/mAP50", 0);
  }
  return r;
}

TrainResult train(const TrainConfig& config) {
  Trainer t(config);
  if (t.config().patience > 0) t.register_hook(std::make_unique<EarlyStoppingHook>(t.config().patience));
  return t.train();
}

}  // namespace yolonas

