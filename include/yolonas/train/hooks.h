// The trainer's hooks (train/trainer.h). The built-in ones, in the order the Trainer calls them:
//   LrSchedulerHook   SG's LR schedule (LrSchedule, train/optim.h), set before each optimizer step
//   EmaHook           ModelEMA update after each optimizer step
//   BatchPlotHook     train_batch0..2.jpg: the first batches as the model sees them
//   ProgressHook      the progress bar with the running losses
//   ValidationHook    SG's training-time metric on the EMA weights every val_period epochs, through
//                     the evaluation library (eval/evaluator.h): metrics/mAP50-95, mAP50, precision, recall
//   (hooks registered by the user, and EarlyStoppingHook with patience=)
//   AverageModelsHook SG's average_best_models: weights/average_model.pth, the mean of the EMA weights of
//                     the N best epochs by mAP50-95 (average_best_models=N, SG's 10; 0 = off), validated
//                     once training ends
//   CheckpointHook    last.pth every epoch, best.pth when metrics/mAP50-95 improves (puts "best" = 1)
//   ResultsHook       results.csv, results.png and the epoch's console line
// Each is small and can be used alone; EarlyStoppingHook is the example of a user hook.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "yolonas/train/trainer.h"
#include "yolonas/train/weight_averaging.h"

namespace yolonas {

struct LrSchedulerHook : HookBase {
  std::string name() const override { return "lr_scheduler"; }
  void before_step(Trainer& t) override;
};

struct EmaHook : HookBase {
  std::string name() const override { return "ema"; }
  void after_step(Trainer& t) override;
};

struct BatchPlotHook : HookBase {
  explicit BatchPlotHook(int batches = 3) : batches_(batches) {}
  std::string name() const override { return "batch_plot"; }
  void before_step(Trainer& t) override;

 private:
  int batches_;
};

class ProgressHook : public HookBase {
 public:
  ProgressHook();
  ~ProgressHook() override;
  std::string name() const override { return "progress"; }
  void before_epoch(Trainer& t) override;
  void after_step(Trainer& t) override;
  void after_epoch(Trainer& t) override;

 private:
  struct Bar;
  std::unique_ptr<Bar> bar_;
};

struct ValidationHook : HookBase {
  std::string name() const override { return "validation"; }
  void after_epoch(Trainer& t) override;
};

// Stops training when metrics/mAP50-95 has not improved for `patience` validations (Ultralytics'
// patience=, counted in validations so that val_period > 1 is not penalized).
class EarlyStoppingHook : public HookBase {
 public:
  explicit EarlyStoppingHook(int patience) : patience_(patience) {}
  std::string name() const override { return "early_stopping"; }
  void after_epoch(Trainer& t) override;
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& s) override;

 private:
  int patience_;
  double best_ = -1;
  int best_epoch_ = 0, bad_ = 0;
};

// SG's average_best_models (train/weight_averaging.h). Its snapshots live in
// weights/average_snapshots/ while training runs (a resumed run continues them) and are deleted at
// the end.
class AverageModelsHook : public HookBase {
 public:
  AverageModelsHook(const std::string& weights_dir, int n);
  std::string name() const override { return "average_best_models"; }
  void after_epoch(Trainer& t) override;
  void after_train(Trainer& t) override;
  nlohmann::json state() const override { return average_.state(); }
  void load_state(const nlohmann::json& s) override { average_.load_state(s); }
  static std::string path_in(const std::string& weights_dir);  // WEIGHTS_DIR/average_model.pth
  std::string path() const;
  // The averaged model's validation once training ended (-1 before).
  double average_map50_95() const { return average_map50_95_; }
  double average_map50() const { return average_map50_; }

 private:
  std::string weights_dir_;
  BestModelsAverage average_;
  double average_map50_95_ = -1, average_map50_ = -1;
};

class CheckpointHook : public HookBase {
 public:
  std::string name() const override { return "checkpoint"; }
  void after_epoch(Trainer& t) override;
  nlohmann::json state() const override { return {{"best_fitness", best_fitness_}}; }
  void load_state(const nlohmann::json& s) override;
  double best_fitness() const { return best_fitness_; }

 private:
  double best_fitness_ = -1;
};

struct ResultsHook : HookBase {
  std::string name() const override { return "results"; }
  void after_epoch(Trainer& t) override;
};

// results.csv's columns, in order (the keys of EpochMetrics); other keys hooks put follow them.
const std::vector<std::string>& results_columns();

}  // namespace yolonas
