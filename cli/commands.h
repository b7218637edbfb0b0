// One function per CLI mode; each returns the process exit code and throws yolonas::Error on bad input.
#pragma once
#include "yolonas/core/args.h"
#include "yolonas/api/detector.h"

namespace yolonas::cli {

// The model keys shared by predict and val: model weights random_init ema fuse imgsz threads device
// engine calib.
DetectorOptions detector_options(const Args& args);

// source=: an image, a folder, a glob, a video or a camera index, as predict reads it. Throws with
// the reason when it names nothing readable.
struct Sources {
  std::vector<std::string> images, videos;
  int camera = -1;
};
Sources resolve_sources(const std::string& source);

// calib=: INT8 calibration images from a folder, a glob, an image, or a dataset (data.yaml, COCO or
// VOC folder: its train split, else its first split). Throws when it names no image.
std::vector<std::string> calibration_images(const std::string& calib);

// calib_method= percentile= int8_heads= int8_select= int8_budget= (engine=int8 and export int8=true).
QuantizeOptions quantize_options(const Args& args);
// With int8_select=true and calib= a dataset: its train split, which the selective scan measures
// mAP on; else none (the scan then measures the output error on the calibration images).
std::shared_ptr<const EvalSet> quantize_eval(const Args& args);

int cmd_predict(const Args& args);
// run_dir_out: where metrics.json was written.
int cmd_val(const Args& args, std::string* run_dir_out = nullptr);
int cmd_benchmark(const Args& args);
int cmd_check_data(const Args& args);
int cmd_synth(const Args& args);
// What a training run produced (train/trainer.h's TrainResult, without LibTorch in this header).
struct TrainOutcome {
  std::string run_dir, best, last, stopped_early;
  std::string average;  // weights/average_model.pth, or "" (average_best_models=false)
  int epochs_done = 0;
  double best_map50_95 = 0, best_map50 = 0;
};
int cmd_train(const Args& args, TrainOutcome* out = nullptr);
int cmd_export(const Args& args);
int cmd_serve(const Args& args);
int cmd_autolabel(const Args& args);

}  // namespace yolonas::cli
