// `yolonas train data=data.yaml model=yolo_nas_s weights=PATH epochs= batch= imgsz= ...`
#include <cstdio>

#include "commands.h"
#include "yolonas/core/error.h"
#include "yolonas/train/trainer.h"

namespace yolonas::cli {

namespace {

TrainConfig train_config(const Args& args) {
  args.check_known({"data", "model", "weights", "preset", "epochs", "batch", "imgsz", "optimizer", "lr0",
                    "weight_decay", "momentum", "nesterov", "warmup_epochs", "warmup_steps", "warmup_mode", "warmup_initial_lr", "final_lr_ratio",
                    "ema", "ema_decay", "clip_grad", "accumulate", "freeze", "workers", "seed", "threads", "rgb",
                    "cache", "strict", "val_period", "patience", "max_batches", "plots", "project", "name", "exist_ok", "resume", "device", "match_names",
                    "mosaic", "mixup", "hsv", "fliplr", "degrees", "translate", "scale", "shear", "augment"});
  TrainConfig c;
  c.apply_preset(args.str("preset", "finetune"));
  c.data = args.str("data", "");
  c.model = args.str("model", c.model);
  c.weights = args.str("weights", "");
  c.epochs = args.integer("epochs", c.epochs);
  c.batch = args.integer("batch", c.batch);
  c.imgsz = args.imgsz(c.imgsz);
  c.optimizer = args.str("optimizer", c.optimizer);
  c.lr0 = args.real_in("lr0", c.lr0, 0, 10);
  c.weight_decay = args.real("weight_decay", c.weight_decay);
  c.momentum = args.real("momentum", c.momentum);
  c.nesterov = args.boolean("nesterov", c.nesterov);
  c.warmup_mode = args.str("warmup_mode", c.warmup_mode);  // checked by train()
  c.warmup_epochs = args.integer("warmup_epochs", c.warmup_epochs);
  c.warmup_steps = args.integer("warmup_steps", c.warmup_steps);
  c.warmup_initial_lr = args.real("warmup_initial_lr", c.warmup_initial_lr);
  c.final_lr_ratio = args.real("final_lr_ratio", c.final_lr_ratio);
  c.ema = args.boolean("ema", c.ema);
  c.ema_decay = args.real("ema_decay", c.ema_decay);
  c.clip_grad = args.real("clip_grad", c.clip_grad);
  c.accumulate = args.integer("accumulate", c.accumulate);
  const std::string freeze = args.str("freeze", "none");
  if (freeze != "none" && freeze != "backbone" && freeze != "false")
    throw Error("freeze=" + freeze + ": expected none or backbone");
  c.freeze_backbone = freeze == "backbone";
  c.workers = args.integer("workers", c.workers);
  c.seed = static_cast<uint64_t>(args.integer("seed", static_cast<int>(c.seed)));
  c.threads = args.integer("threads", c.threads);
  c.match_names = args.boolean("match_names", c.match_names);
  c.device = args.str("device", "");
  c.rgb = args.boolean("rgb", c.rgb);
  const std::string cache = args.str("cache", "false");
  if (cache != "false" && cache != "ram" && cache != "true") throw Error("cache=" + cache + ": expected false or ram");
  c.cache_ram = cache != "false";
  c.strict = args.boolean("strict", c.strict);
  c.val_period = args.integer("val_period", c.val_period);
  c.patience = args.integer_in("patience", c.patience, 0, 1000000);
  c.max_batches = args.integer("max_batches", c.max_batches);
  c.plots = args.boolean("plots", c.plots);
  c.project = args.str("project", c.project);
  c.name = args.str("name", c.name);
  c.exist_ok = args.boolean("exist_ok", c.exist_ok);
  c.resume = args.str("resume", "");
  if (c.resume == "false") c.resume.clear();
  // Augmentation switches (Ultralytics names where they exist).
  if (args.has("augment") && !args.boolean("augment", true)) c.augment = AugmentConfig::none();
  c.augment.mosaic = args.boolean("mosaic", c.augment.mosaic);
  c.augment.mixup = args.boolean("mixup", c.augment.mixup);
  c.augment.hsv = args.boolean("hsv", c.augment.hsv);
  c.augment.flip_prob = args.real("fliplr", c.augment.flip ? c.augment.flip_prob : 0.0);
  c.augment.flip = c.augment.flip_prob > 0;
  c.augment.degrees = args.real("degrees", c.augment.degrees);
  c.augment.translate = args.real("translate", c.augment.translate);
  c.augment.shear = args.real("shear", c.augment.shear);
  if (args.has("scale")) {  // Ultralytics: scale=0.5 -> [0.5, 1.5]
    const double s = args.real("scale", 0.5);
    c.augment.scale_min = 1.0 - s;
    c.augment.scale_max = 1.0 + s;
  }
  if (c.optimizer != "AdamW" && c.optimizer != "Adam" && c.optimizer != "SGD" && c.optimizer != "adamw" &&
      c.optimizer != "adam" && c.optimizer != "sgd")
    throw Error("optimizer=" + c.optimizer + ": expected AdamW, Adam or SGD");
  return c;
}

}  // namespace

int cmd_train(const Args& args, TrainOutcome* out) {
  TrainResult r = train(train_config(args));
  if (out) *out = {r.run_dir, r.best, r.last, r.stopped_early, r.epochs_done, r.best_map50_95, r.best_map50};
  if (!r.stopped_early.empty()) std::printf("stopped after epoch %d: %s\n", r.epochs_done, r.stopped_early.c_str());
  std::printf("training done: best mAP50-95 %.4f, mAP50 %.4f\nweights: %s (best), %s (last)\nResults saved to %s\n",
              r.best_map50_95, r.best_map50, r.best.c_str(), r.last.c_str(), r.run_dir.c_str());
  return 0;
}

}  // namespace yolonas::cli
