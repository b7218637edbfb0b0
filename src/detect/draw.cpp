#include "yolonas/detect/draw.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

namespace yolonas {

cv::Scalar class_color(int cls) {
  // 20 well-separated hues (RGB hex), cycled; the same class always gets the same colour.
  static const unsigned kPalette[] = {0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231, 0x48F90A, 0x92CC17,
                                      0x3DDB86, 0x1A9334, 0x00D4BB, 0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF,
                                      0x0018EC, 0x8438FF, 0x520085, 0xCB38FF, 0xFF95C8, 0xFF37C7};
  const unsigned c = kPalette[((cls % 20) + 20) % 20];
  return cv::Scalar(c & 0xFF, (c >> 8) & 0xFF, (c >> 16) & 0xFF);
}

namespace {

// Black or white text, whichever contrasts more with the label background.
cv::Scalar text_color(const cv::Scalar& bg) {
  const double lum = 0.114 * bg[0] + 0.587 * bg[1] + 0.299 * bg[2];
  return lum > 150 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
}

}  // namespace

void draw_detections(cv::Mat& img, const std::vector<Detection>& dets, const std::vector<std::string>& names,
                     bool show_conf, int line_width) {
  const int lw = line_width > 0 ? line_width : std::max(1, static_cast<int>(std::lround((img.rows + img.cols) * 0.0015)));
  const double font_scale = std::max(0.35, lw / 3.0);
  const int font_thick = std::max(1, lw - 1);
  // Draw low scores first so the most confident boxes end up on top.
  std::vector<const Detection*> order;
  for (const auto& d : dets) order.push_back(&d);
  std::sort(order.begin(), order.end(), [](const Detection* a, const Detection* b) { return a->score < b->score; });
  for (const Detection* d : order) {
    const cv::Scalar col = class_color(d->cls);
    const cv::Point p1(static_cast<int>(std::lround(d->x1)), static_cast<int>(std::lround(d->y1)));
    const cv::Point p2(static_cast<int>(std::lround(d->x2)), static_cast<int>(std::lround(d->y2)));
    cv::rectangle(img, p1, p2, col, lw, cv::LINE_AA);
    std::string label = (d->cls >= 0 && d->cls < static_cast<int>(names.size())) ? names[d->cls]
                                                                                  : "class" + std::to_string(d->cls);
    if (show_conf) {
      char buf[16];
      std::snprintf(buf, sizeof buf, " %.2f", d->score);
      label += buf;
    }
    int base = 0;
    const cv::Size ts = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, font_scale, font_thick, &base);
    // Label above the box when it fits, inside it otherwise.
    const bool above = p1.y - ts.height - 3 >= 0;
    const int x = std::clamp(p1.x, 0, std::max(0, img.cols - ts.width - 2));
    const cv::Point tl(x, above ? p1.y - ts.height - 3 : std::max(0, p1.y));
    const cv::Point br(x + ts.width + 2, tl.y + ts.height + 3);
    cv::rectangle(img, tl, br, col, cv::FILLED, cv::LINE_AA);
    cv::putText(img, label, cv::Point(tl.x + 1, br.y - 2), cv::FONT_HERSHEY_SIMPLEX, font_scale, text_color(col),
                font_thick, cv::LINE_AA);
  }
}

}  // namespace yolonas
