// Training and fine-tuning YOLO-NAS: a short loop plus hooks, in the manner of Detectron2's
// engine/train_loop.py and engine/hooks.py. The loop runs steps (forward, PPYoloE loss, backward,
// optimizer step); everything else (LR schedule, EMA, validation, checkpoints, logging, progress,
// early stopping) is a hook (train/hooks.h), and a library user can register their own:
//
//   yolonas::Trainer t(config);
//   t.register_hook(std::make_unique<MyLogger>());      // before train()
//   yolonas::TrainResult r = t.train();
//
// Hooks talk through the epoch's metrics (Trainer::metrics(): put/get by name, Detectron2's
// EventStorage) and keep their own state, which is saved in the checkpoint under their name so that
// `resume=` continues them exactly. Defaults are SG's fine-tuning recipe (roboflow_yolo_nas_s.yaml);
// preset "coco" switches to SG's COCO recipe values.
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "yolonas/data/augment.h"
#include "yolonas/data/loader.h"
#include "yolonas/detect/model_meta.h"
#include "yolonas/eval/evaluator.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/model/model.h"
#include "yolonas/train/amp.h"
#include "yolonas/train/distill.h"
#include "yolonas/train/distributed.h"
#include "yolonas/train/loss.h"
#include "yolonas/train/optim.h"

namespace yolonas {

struct TrainConfig {
  std::string data;                  // data.yaml (YOLO, COCO json or VOC splits), a COCO or a VOC folder
  std::string model = "yolo_nas_s";  // variant or arch-params file (ignored when weights carry metadata)
  std::string weights;               // SG or yolonas checkpoint to fine-tune from; "" = from scratch
  std::string preset = "finetune";   // finetune (roboflow_yolo_nas_s) | coco (coco2017_yolo_nas_s)
  int epochs = 100;                  // roboflow recipe max_epochs 100
  int batch = 16;                    // roboflow recipe batch 16
  int imgsz = 640;
  std::string optimizer = "AdamW";   // roboflow recipe (inherits coco2017_yolo_nas_train_params)
  double lr0 = 5e-4;                 // roboflow: initial_lr 5e-4
  double weight_decay = 1e-4;        // roboflow: AdamW weight_decay 1e-4
  double momentum = 0.9;             // SGD only
  bool nesterov = true;              // SGD only
  std::string warmup_mode = "epoch"; // roboflow: LinearEpochLRWarmup ("epoch"); COCO: LinearBatchLRWarmup ("batch")
  int warmup_epochs = 3;             // roboflow: lr_warmup_epochs 3
  int warmup_steps = 1000;           // lr_warmup_steps 1000, inherited by the roboflow recipe: delays the cosine (optim.h)
  double warmup_initial_lr = 1e-6;   // SG warmup_initial_lr 1e-6
  double final_lr_ratio = 0.1;       // cosine_final_lr_ratio 0.1
  bool ema = true;                   // ema True, decay 0.9 (roboflow), threshold schedule
  double ema_decay = 0.9;
  double clip_grad = 0.0;            // clip_grad_norm None in SG recipes; > 0 enables
  int accumulate = 1;                // batch_accumulate 1
  bool freeze_backbone = false;
  // Fine-tuning from a checkpoint that records class names (yolonas checkpoints; SG's 80-class
  // weights count as COCO's): dataset classes found there by name keep their pretrained class
  // outputs, the others are re-initialized as SG does. false = SG: by index when the counts agree.
  bool match_names = true;
  int workers = 1;                   // loader threads: 1 leaves the cores to the model (2 cores: 98% vs 86% of raw speed at 640)
  uint64_t seed = 42;                // SG recipes: seed 42
  int threads = 0;                   // 0 = all cores
  // cpu | cuda | cuda:N | N (a CUDA LibTorch build is needed for a GPU); "" = cpu, or when resuming the
  // device the run was started on.
  std::string device;
  bool rgb = true;                   // feed RGB like the pretrained COCO weights and predict (see README)
  bool cache_ram = false;
  bool strict = true;                // refuse a dataset with errors; false = skip bad rows with a warning
  int val_period = 1;                // validate every N epochs (and always after the last)
  int patience = 0;                  // > 0: stop after this many validations without a better mAP50-95 (EarlyStopping)
  int max_batches = 0;               // > 0: limit batches per epoch (quick experiments)
  // SG's average_best_models (default True, 10 models): weights/average_model.pth averages the
  // (EMA) weights of this many best epochs by mAP50-95; 0 = off.
  int average_best_models = 10;
  bool plots = true;
  std::string project = "runs/detect", name = "train";
  bool exist_ok = false;
  std::string resume;                // "" | "true" (latest last.pth under project) | path to last.pth
  AugmentConfig augment = AugmentConfig::finetune_recipe();
  // Ignored boxes (COCO crowd, VOC difficult, YOLO ignore/ files such as `autolabel ignore_conf=`
  // writes) as ignore regions: background anchors inside them get no classification loss, so a
  // teacher's uncertain objects are neither targets nor taught as background. false = SG: dropped.
  bool ignore_regions = false;
  // Multi-scale training (SG's DetectionMultiscalePrePredictionCallback): every 10 batches a new input
  // size imgsz + 32 k, k drawn uniformly from [-multi_scale, multi_scale] (the largest first, so that
  // a run that fits its first batches fits all); each batch is resized to it (bilinear) with its boxes.
  // 0 = off (SG's default); SG's recipes that use it take 5.
  int multi_scale = 0;
  // Knowledge distillation (train/distill.h): a trained model with the dataset's classes (a yolonas
  // checkpoint, or SG's COCO weights for COCO's 80 classes) that the student also learns from.
  std::string teacher;
  double kd_weight = 1.0, kd_temperature = 1.0;
  // Mixed precision (train/amp.h): auto = on for CUDA (fp16 + grad scaler), off on the CPU.
  std::string amp = "auto", amp_dtype = "auto";
  // Multi-process training (train/distributed.h): `batch` is per process, as in SG; sync_bn
  // synchronizes BatchNorm statistics over the processes (SG's sync_bn).
  int world_size = 1;
  bool sync_bn = false;
  // This process's place (not saved: given again to each process, or from torchrun's environment).
  int rank = 0, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  void apply_preset(const std::string& preset);  // sets recipe values (before user overrides)
  std::string to_yaml() const;                   // args.yaml
};

struct TrainResult {
  std::string run_dir, best, last;
  std::string average;  // weights/average_model.pth ("" when average_best_models=0 or nothing was validated)
  int epochs_done = 0;
  double best_map50_95 = 0, best_map50 = 0;
  std::string stopped_early;  // why a hook ended training before the last epoch ("" = it ran them all)
};

// One epoch's values by name: "train/loss", "metrics/mAP50-95", "lr", ... (the results.csv columns)
// and whatever hooks add. A value a hook did not put is absent (an epoch without validation has no
// metrics/*).
class EpochMetrics {
 public:
  void put(const std::string& name, double value) { values_[name] = value; }
  std::optional<double> get(const std::string& name) const;
  double get_or(const std::string& name, double fallback) const { return get(name).value_or(fallback); }
  const std::map<std::string, double>& values() const { return values_; }
  nlohmann::json to_json() const;
  static EpochMetrics from_json(const nlohmann::json& j);

 private:
  std::map<std::string, double> values_;
};

class Trainer;

// multi_scale: the side of the batch `batch_index` of `epoch` (SG's rule, above). The same for every
// rank and for a resumed run: drawn from (seed, epoch, batch_index / 10). range 0: imgsz.
int multiscale_size(int imgsz, int range, uint64_t seed, int epoch, long batch_index);

// Resizes a training batch (N x 3 x H x W) to size x size, bilinear, and scales its box rows
// (image, class, cx, cy, w, h in input pixels; targets and ignored boxes) with it.
void resize_batch(torch::Tensor& images, torch::Tensor& targets, torch::Tensor& ignored, int size);

// A hook: called by the loop at fixed points. Every method does nothing by default.
class HookBase {
 public:
  virtual ~HookBase() = default;
  virtual std::string name() const = 0;  // unique: the key of the hook's state in the checkpoint
  virtual void before_train(Trainer&) {}
  virtual void before_epoch(Trainer&) {}
  virtual void before_step(Trainer&) {}  // before each batch's forward pass
  virtual void after_step(Trainer&) {}   // after its backward pass (and the optimizer step, when one was made)
  virtual void after_epoch(Trainer&) {}
  virtual void after_train(Trainer&) {}
  // State restored on resume (saved with every checkpoint).
  virtual nlohmann::json state() const { return nullptr; }
  virtual void load_state(const nlohmann::json&) {}
};

class Trainer {
 public:
  // Checks the config (throws yolonas::Error naming the key); with resume=, reads the run's own
  // configuration from its last.pth (only device= may be changed). Nothing is built yet.
  explicit Trainer(TrainConfig config);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Adds a hook, called after the built-in ones (LR, EMA, batch plots, progress, validation) and
  // before the checkpoint and results writers, in registration order. Before train().
  void register_hook(std::unique_ptr<HookBase> hook);
  // Sets up (dataset check, model, loader, optimizer; resumes) and runs the epochs.
  TrainResult train();
  // Ends training after the current epoch (its checkpoint is still written).
  void request_stop(const std::string& why);

  // ---- what hooks see ----
  const TrainConfig& config() const { return cfg_; }
  const std::string& run_dir() const { return run_dir_; }
  const std::string& weights_dir() const { return weights_dir_; }
  const ModelMeta& meta() const { return meta_; }
  YoloNAS& model() { return model_; }
  ModelEMA* ema() { return ema_ ? &*ema_ : nullptr; }
  torch::optim::Optimizer& optimizer() { return *opt_; }
  const LrSchedule& schedule() const { return sched_; }
  torch::Device device() const { return device_; }
  // Rank 0 (or the only process): validates, writes checkpoints and logs.
  bool is_main() const { return cfg_.rank == 0; }
  Distributed* distributed() { return dist_.get(); }
  const AmpSettings& amp() const { return amp_; }
  const EvalSet& val_set() const { return *val_set_; }
  int epoch() const { return epoch_; }              // 0-based, the epoch running
  long batch_index() const { return batch_index_; } // 0-based batch of the epoch (before/after_step)
  long batches_per_epoch() const;
  int64_t global_step() const { return global_step_; }  // optimizer steps made
  int step_in_epoch() const { return step_in_epoch_; }  // optimizer steps made this epoch
  bool starts_optimizer_step() const;  // before_step: this batch opens an accumulation window
  bool optimizer_stepped() const { return stepped_; }  // after_step: this batch ended with an optimizer step
  const Batch& batch() const { return batch_; }
  const LossResult& loss() const { return loss_; }  // after_step: this batch's loss
  // Running means of the epoch's losses so far: cls, iou, dfl, total.
  std::array<double, 4> mean_losses() const;
  double lr() const { return lr_; }
  void set_lr(double lr);
  EpochMetrics& metrics() { return metrics_; }  // this epoch's
  const std::vector<EpochMetrics>& history() const { return history_; }  // finished epochs
  // Writes a training checkpoint (SG layout + training state + every hook's state), atomically.
  void save_checkpoint(const std::string& path);

 private:
  void setup();
  void build_model(const std::vector<std::string>& names);
  void resume_from();
  void run_epoch();
  bool run_step();  // forward + loss + backward (+ optimizer step): true when the optimizer stepped
  void optimizer_step();
  void check_ranks_agree();

  TrainConfig cfg_;
  std::optional<Checkpoint> resume_ck_;
  std::vector<std::unique_ptr<HookBase>> hooks_, user_hooks_;
  std::string run_dir_, weights_dir_;
  YoloNAS model_{nullptr};
  ModelMeta meta_;
  std::unique_ptr<torch::optim::Optimizer> opt_;
  std::optional<ModelEMA> ema_;
  std::unique_ptr<PPYoloELoss> loss_fn_;
  std::unique_ptr<DataLoader> train_loader_;
  std::optional<EvalSet> val_set_;
  LrSchedule sched_;
  torch::Device device_{torch::kCPU};
  int epoch_ = 0, start_epoch_ = 0, step_in_epoch_ = 0;
  long batch_index_ = 0;
  int64_t global_step_ = 0;
  bool stepped_ = false;
  double lr_ = 0;
  Batch batch_;
  LossResult loss_;
  std::array<double, 4> loss_sums_{};
  EpochMetrics metrics_;
  std::vector<EpochMetrics> history_;
  std::string stop_reason_;
  nlohmann::json resumed_hook_states_;
  std::unique_ptr<Distributed> dist_;
  YoloNAS teacher_{nullptr};
  double kd_sum_ = 0;
  std::unique_ptr<SyncBatchNormScope> sync_bn_;
  AmpSettings amp_;
  std::optional<GradScaler> scaler_;
};

// Trainer(config) with the built-in hooks (and EarlyStopping when config.patience > 0), trained.
TrainResult train(const TrainConfig& config);

}  // namespace yolonas
