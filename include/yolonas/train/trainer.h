// Training and fine-tuning YOLO-NAS: a short loop plus hooks (LR schedule, EMA, validation,
// checkpoints, logging), in the manner of Detectron2's train loop. Defaults are SG's fine-tuning
// recipe (roboflow_yolo_nas_s.yaml); preset "coco" switches to SG's COCO recipe values.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "yolonas/data/augment.h"

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
  int max_batches = 0;               // > 0: limit batches per epoch (quick experiments)
  bool plots = true;
  std::string project = "runs/detect", name = "train";
  bool exist_ok = false;
  std::string resume;                // "" | "true" (latest last.pth under project) | path to last.pth
  AugmentConfig augment = AugmentConfig::finetune_recipe();

  void apply_preset(const std::string& preset);  // sets recipe values (before user overrides)
  std::string to_yaml() const;                   // args.yaml
};

struct TrainResult {
  std::string run_dir, best, last;
  int epochs_done = 0;
  double best_map50_95 = 0, best_map50 = 0;
};

TrainResult train(const TrainConfig& config);

}  // namespace yolonas
