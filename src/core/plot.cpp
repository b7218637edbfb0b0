#include "yolonas/core/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "yolonas/core/error.h"

namespace yolonas {
namespace {

std::string fmt(double v) {
  char b[32];
  const double a = std::fabs(v);
  std::snprintf(b, sizeof b, (a != 0 && (a < 1e-3 || a >= 1e4)) ? "%.2e" : "%.4g", v);
  return b;
}

void draw_panel(cv::Mat& img, cv::Rect r, const Series& s) {
  const cv::Scalar axis(60, 60, 60), grid(225, 225, 225), line(200, 110, 30), text(20, 20, 20);
  cv::putText(img, s.title, {r.x + 50, r.y + 18}, cv::FONT_HERSHEY_SIMPLEX, 0.5, text, 1, cv::LINE_AA);
  const cv::Rect plot(r.x + 50, r.y + 28, r.width - 62, r.height - 56);
  cv::rectangle(img, plot, axis, 1);
  if (s.x.empty()) return;
  double x0 = *std::min_element(s.x.begin(), s.x.end()), x1 = *std::max_element(s.x.begin(), s.x.end());
  double y0 = *std::min_element(s.y.begin(), s.y.end()), y1 = *std::max_element(s.y.begin(), s.y.end());
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return plot.x + static_cast<int>((x - x0) / (x1 - x0) * plot.width); };
  auto py = [&](double y) { return plot.y + plot.height - static_cast<int>((y - y0) / (y1 - y0) * plot.height); };
  for (int i = 0; i <= 4; ++i) {  // horizontal grid + y labels
    const double v = y0 + (y1 - y0) * i / 4.0;
    cv::line(img, {plot.x + 1, py(v)}, {plot.x + plot.width - 1, py(v)}, grid, 1);
    cv::putText(img, fmt(v), {r.x + 2, py(v) + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.33, text, 1, cv::LINE_AA);
  }
  cv::putText(img, fmt(x0), {plot.x, plot.y + plot.height + 14}, cv::FONT_HERSHEY_SIMPLEX, 0.35, text, 1, cv::LINE_AA);
  cv::putText(img, fmt(x1), {plot.x + plot.width - 24, plot.y + plot.height + 14}, cv::FONT_HERSHEY_SIMPLEX, 0.35,
              text, 1, cv::LINE_AA);
  std::vector<cv::Point> pts;
  for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) pts.emplace_back(px(s.x[i]), py(s.y[i]));
  cv::polylines(img, pts, false, line, 2, cv::LINE_AA);
  for (const auto& p : pts) cv::circle(img, p, 2, line, cv::FILLED, cv::LINE_AA);
}

}  // namespace

void save_series_grid_png(const std::string& path, const std::vector<Series>& panels, int cols) {
  const int pw = 300, ph = 220;
  cols = std::max(1, std::min<int>(cols, static_cast<int>(std::max<size_t>(1, panels.size()))));
  const int rows = static_cast<int>((panels.size() + cols - 1) / cols);
  cv::Mat img(std::max(1, rows) * ph, cols * pw, CV_8UC3, cv::Scalar(255, 255, 255));
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(img, cv::Rect(static_cast<int>(i % cols) * pw, static_cast<int>(i / cols) * ph, pw, ph), panels[i]);
  if (!cv::imwrite(path, img)) throw Error("cannot write " + path);
}

}  // namespace yolonas
