// One function per CLI mode; each returns the process exit code and throws yolonas::Error on bad input.
#pragma once
#include "yolonas/core/args.h"
#include "yolonas/api/detector.h"

namespace yolonas::cli {

// The model keys shared by predict and val: model weights random_init ema fuse imgsz threads device
// engine calib.
DetectorOptions detector_options(const Args& args);

// calib=: INT8 calibration images from a folder, a glob, an image, or a dataset (data.yaml, COCO or
// VOC folder: its train split, else its first split). Throws when it names no image.
std::vector<std::string> calibration_images(const std::string& calib);

int cmd_predict(const Args& args);
int cmd_val(const Args& args);
int cmd_benchmark(const Args& args);
int cmd_check_data(const Args& args);
int cmd_synth(const Args& args);
int cmd_train(const Args& args);
int cmd_export(const Args& args);

}  // namespace yolonas::cli
