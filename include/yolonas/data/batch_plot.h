// What the model sees in training: a grid of a batch's images with their target boxes.
#pragma once
#include <string>
#include <vector>

#include "yolonas/data/loader.h"

namespace yolonas {

// Writes a grid of the batch's first max_images images with their target boxes and class names
// (train_batch0.jpg, ...), the way Ultralytics shows what the model sees. Throws if it cannot write.
void save_batch_grid(const Batch& batch, const std::string& path, const std::vector<std::string>& names,
                     int max_images = 16);

}  // namespace yolonas
