#pragma once
#include <string>
#include <vector>

namespace yolonas {

// The 80 COCO detection class names in SuperGradients' order (COCO_DETECTION_CLASSES_LIST).
const std::vector<std::string>& coco80_names();

}  // namespace yolonas
