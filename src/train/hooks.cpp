#include "yolonas/train/hooks.h"

#include <cstdio>
#include <sstream>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/plot.h"
#include "yolonas/core/progress.h"
#include "yolonas/data/batch_plot.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/model/engines.h"
#include "yolonas/model/state_dict.h"

namespace yolonas {

const std::vector<std::string>& results_columns() {
  static const std::vector<std::string> cols = {
      "epoch",           "train/cls_loss", "train/iou_loss", "train/dfl_loss", "train/loss", "metrics/precision",
      "metrics/recall",  "metrics/mAP50",  "metrics/mAP50-95", "lr",           "time_s"};
  return cols;
}

// ---- LR and EMA -----------------------------------------------------------------------------------

void LrSchedulerHook::before_step(Trainer& t) {
  if (t.starts_optimizer_step()) t.set_lr(t.schedule().lr_at(t.epoch(), t.step_in_epoch()));
}

void EmaHook::after_step(Trainer& t) {
  if (t.optimizer_stepped() && t.ema()) t.ema()->update(*t.model());
}

// ---- what the user sees while training --------------------------------------------------------------

void BatchPlotHook::before_step(Trainer& t) {
  if (t.epoch() != 0 || t.batch_index() >= batches_) return;
  save_batch_grid(t.batch(), t.run_dir() + "/train_batch" + std::to_string(t.batch_index()) + ".jpg", t.meta().names);
}

struct ProgressHook::Bar {
  Progress progress;
  Bar(const std::string& label, int64_t total) : progress(label, total) {}
};

ProgressHook::ProgressHook() = default;
ProgressHook::~ProgressHook() = default;

void ProgressHook::before_epoch(Trainer& t) {
  bar_ = std::make_unique<Bar>("epoch " + std::to_string(t.epoch() + 1) + "/" + std::to_string(t.config().epochs),
                               t.batches_per_epoch());
}

void ProgressHook::after_step(Trainer& t) {
  if (!bar_) return;
  const std::array<double, 4> m = t.mean_losses();
  char sfx[96];
  std::snprintf(sfx, sizeof sfx, "loss %.3f cls %.3f iou %.3f dfl %.3f", m[3], m[0], m[1], m[2]);
  bar_->progress.update(t.batch_index() + 1, sfx);
}

void ProgressHook::after_epoch(Trainer&) {
  if (bar_) bar_->progress.finish();
  bar_.reset();
}

// ---- validation ----------------------------------------------------------------------------------------

namespace {

// SG's training-time metric of `weights` (fully fused, on the engine `val` would pick: the oneDNN
// runtime on the CPU, LibTorch on a GPU).
EvalResult validate_weights(Trainer& t, const StateDict& weights, const std::string& label) {
  YoloNAS vm(t.meta().arch);
  load_state_dict(*vm, weights, "validation weights");
  vm->eval();
  EngineOptions eo;
  eo.device = t.device().str();
  const std::unique_ptr<InferenceEngine> engine = make_engine(std::move(vm), t.meta(), eo);
  EvalOptions opt;  // SG's training-time metric: NMS conf 0.01 / top 1000 / 300 kept
  opt.batch = t.config().batch;
  opt.coco = false;
  opt.sg = true;
  opt.progress_label = label;
  return evaluate(*engine, t.meta().names, t.meta().preprocessing, t.val_set(), opt);
}

// The weights validated, kept and averaged: the EMA's when EMA is on (what best.pth / last.pth give
// `yolonas val`), else the model's.
StateDict eval_weights(Trainer& t) { return t.ema() ? t.ema()->state() : state_dict(*t.model()); }

}  // namespace

void ValidationHook::after_epoch(Trainer& t) {
  const TrainConfig& c = t.config();
  const bool last = t.epoch() + 1 == c.epochs;
  if (!last && (t.epoch() + 1) % std::max(1, c.val_period) != 0) return;
  const EvalResult r = validate_weights(t, eval_weights(t), "  val");
  t.metrics().put("metrics/mAP50-95", r.sg->map);
  t.metrics().put("metrics/mAP50", r.sg50->map);
  t.metrics().put("metrics/precision", r.sg->precision);
  t.metrics().put("metrics/recall", r.sg->recall);
}

// ---- early stopping ------------------------------------------------------------------------------------

void EarlyStoppingHook::after_epoch(Trainer& t) {
  const std::optional<double> m = t.metrics().get("metrics/mAP50-95");
  if (!m) return;  // no validation this epoch
  if (*m > best_) {
    best_ = *m;
    best_epoch_ = t.epoch() + 1;
    bad_ = 0;
    return;
  }
  if (++bad_ >= patience_) {
    char why[160];
    std::snprintf(why, sizeof why, "no better mAP50-95 in the last %d validations (best %.4f at epoch %d; patience=%d)",
                  bad_, best_, best_epoch_, patience_);
    std::printf("early stopping: %s\n", why);
    t.request_stop(why);
  }
}

nlohmann::json EarlyStoppingHook::state() const {
  return {{"best", best_}, {"best_epoch", best_epoch_}, {"bad", bad_}};
}

void EarlyStoppingHook::load_state(const nlohmann::json& s) {
  best_ = s.at("best").get<double>();
  best_epoch_ = s.at("best_epoch").get<int>();
  bad_ = s.at("bad").get<int>();
}

// ---- SG's average_best_models -----------------------------------------------------------------------

AverageModelsHook::AverageModelsHook(const std::string& weights_dir, int n)
    : weights_dir_(weights_dir), average_(weights_dir + "/average_snapshots", n) {}

std::string AverageModelsHook::path_in(const std::string& weights_dir) { return weights_dir + "/average_model.pth"; }
std::string AverageModelsHook::path() const { return path_in(weights_dir_); }

void AverageModelsHook::after_epoch(Trainer& t) {
  const std::optional<double> m = t.metrics().get("metrics/mAP50-95");
  if (!m) return;  // no validation this epoch
  if (!average_.offer(eval_weights(t), *m, t.epoch() + 1)) return;
  const StateDict avg = average_.average();
  CheckpointWrite w;  // SG's average_model.pth: the averaged net, no optimizer, no EMA
  w.net = &avg;
  w.meta_json = t.meta().to_json();
  w.epoch = t.epoch() + 1;
  w.acc = *m;
  write_checkpoint(path(), w);
}

void AverageModelsHook::after_train(Trainer& t) {
  if (average_.kept() == 0) return;
  // SG validates the averaged model once training ends.
  const std::vector<int> epochs = average_.epochs_by_metric();
  const EvalResult r = validate_weights(t, read_checkpoint(path(), false).weights, "  val average");
  std::string list;
  for (size_t i = 0; i < epochs.size(); ++i) list += (i ? ", " : "") + std::to_string(epochs[i]);
  std::printf("average_model.pth (mean of the %zu best epoch%s by mAP50-95: %s): mAP50 %.4f  mAP50-95 %.4f\n",
              epochs.size(), epochs.size() == 1 ? "" : "s", list.c_str(), r.sg50->map, r.sg->map);
  std::fflush(stdout);
  average_map50_95_ = r.sg->map;
  average_map50_ = r.sg50->map;
  average_.remove_snapshots();
}

// ---- checkpoints and results ----------------------------------------------------------------------------

void CheckpointHook::after_epoch(Trainer& t) {
  // Fitness: mAP@0.5:0.95 (SG's metric_to_watch for COCO); epochs without validation keep the last.
  const double fit = t.metrics().get_or("metrics/mAP50-95", -1);
  const bool improved = fit >= 0 && fit > best_fitness_;
  if (improved) best_fitness_ = fit;
  t.metrics().put("best", improved ? 1 : 0);
  t.save_checkpoint(t.weights_dir() + "/last.pth");
  if (improved) t.save_checkpoint(t.weights_dir() + "/best.pth");
}

void CheckpointHook::load_state(const nlohmann::json& s) { best_fitness_ = s.at("best_fitness").get<double>(); }

void ResultsHook::after_epoch(Trainer& t) {
  // The finished epochs plus this one, whose metrics join the history after the hooks.
  std::vector<const EpochMetrics*> rows;
  for (const EpochMetrics& h : t.history()) rows.push_back(&h);
  rows.push_back(&t.metrics());
  std::vector<std::string> cols = results_columns();
  for (const EpochMetrics* r : rows)
    for (const auto& [k, v] : r->values())
      if (k != "best" && std::find(cols.begin(), cols.end(), k) == cols.end()) cols.push_back(k);
  std::ostringstream csv;
  for (size_t i = 0; i < cols.size(); ++i) csv << (i ? "," : "") << cols[i];
  csv << "\n";
  for (const EpochMetrics* r : rows) {
    for (size_t i = 0; i < cols.size(); ++i) {
      if (i) csv << ",";
      if (const auto v = r->get(cols[i])) csv << *v;
      else csv << -1;  // not measured this epoch (no validation)
    }
    csv << "\n";
  }
  write_file_atomic(t.run_dir() + "/results.csv", csv.str());

  const EpochMetrics& m = t.metrics();
  std::printf("epoch %d/%d: loss %.4f (cls %.4f iou %.4f dfl %.4f)", t.epoch() + 1, t.config().epochs,
              m.get_or("train/loss", 0), m.get_or("train/cls_loss", 0), m.get_or("train/iou_loss", 0),
              m.get_or("train/dfl_loss", 0));
  if (const auto map = m.get("metrics/mAP50-95"))
    std::printf("  mAP50 %.4f  mAP50-95 %.4f%s", m.get_or("metrics/mAP50", 0), *map, m.get_or("best", 0) > 0 ? "  (best)" : "");
  std::printf("  lr %.3g  %.0fs\n", m.get_or("lr", 0), m.get_or("time_s", 0));
  std::fflush(stdout);
  if (!t.config().plots) return;
  const std::vector<std::string> panels_of = {"train/cls_loss", "train/iou_loss", "train/dfl_loss", "train/loss",
                                              "metrics/mAP50",  "metrics/mAP50-95", "lr"};
  std::vector<Series> panels(panels_of.size());
  for (size_t i = 0; i < panels_of.size(); ++i) {
    panels[i].title = panels_of[i];
    for (const EpochMetrics* r : rows)
      if (const auto v = r->get(panels_of[i])) {
        panels[i].x.push_back(r->get_or("epoch", 0));
        panels[i].y.push_back(*v);
      }
  }
  save_series_grid_png(t.run_dir() + "/results.png", panels, 4);
}

}  // namespace yolonas
