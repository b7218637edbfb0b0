// Drawing detections: one distinct, readable colour per class, label boxes with the class name and
// score, line width scaled with the image size.
#pragma once
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "yolonas/detect/postprocess.h"

namespace yolonas {

cv::Scalar class_color(int cls);  // BGR
void draw_detections(cv::Mat& bgr, const std::vector<Detection>& dets, const std::vector<std::string>& names,
                     bool show_conf = true, int line_width = 0 /* 0 = auto */);

}  // namespace yolonas
