// A small training setup the training tests share: the tiny architecture at 128 px, no augmentation,
// no EMA, one loader thread; each test changes what it is about.
#pragma once
#include <string>

#include "test_util.h"
#include "yolonas/train/trainer.h"

namespace yolonas::test {

inline TrainConfig tiny_train_config(const std::string& data, const std::string& project, const std::string& name = "train") {
  TrainConfig c;
  c.data = data;
  c.model = tiny_dir() + "/tiny_arch.json";
  c.imgsz = 128;
  c.batch = 4;
  c.lr0 = 0.01;
  c.warmup_epochs = 1;
  c.augment = AugmentConfig::none();
  c.threads = 1;
  c.workers = 1;
  c.ema = false;
  c.plots = false;
  c.project = project;
  c.name = name;
  return c;
}

}  // namespace yolonas::test
