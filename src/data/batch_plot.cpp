#include "yolonas/data/batch_plot.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "yolonas/core/error.h"
#include "yolonas/detect/draw.h"

namespace yolonas {

void save_batch_grid(const Batch& batch, const std::string& path, const std::vector<std::string>& names,
                     int max_images) {
  const int n = std::min(batch.batch_size, std::max(1, max_images));
  if (n <= 0 || batch.height <= 0 || batch.width <= 0) throw Error("save_batch_grid: empty batch");
  const int H = batch.height, W = batch.width;
  const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int rows = (n + cols - 1) / cols;
  // Fit the grid in 1920 px so the file stays small, as Ultralytics' plot_images does.
  const double s = std::min(1.0, 1920.0 / std::max(cols * W, rows * H));
  const int tw = std::max(1, static_cast<int>(W * s)), th = std::max(1, static_cast<int>(H * s));
  cv::Mat grid(rows * th, cols * tw, CV_8UC3, cv::Scalar::all(255));
  const size_t plane = static_cast<size_t>(H) * W;

  for (int i = 0; i < n; ++i) {
    // CHW floats back to a BGR uint8 image.
    const float* src = batch.images.data() + static_cast<size_t>(i) * 3 * plane;
    const bool rgb = i < static_cast<int>(batch.rgb.size()) && batch.rgb[i];
    cv::Mat img(H, W, CV_8UC3);
    for (int y = 0; y < H; ++y) {
      uint8_t* p = img.ptr<uint8_t>(y);
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < 3; ++c) {
          const float v = src[(rgb ? 2 - c : c) * plane + static_cast<size_t>(y) * W + x];
          p[3 * x + c] = cv::saturate_cast<uint8_t>(v * 255.0f);
        }
    }
    cv::Mat tile;
    cv::resize(img, tile, cv::Size(tw, th), 0, 0, cv::INTER_AREA);
    std::vector<Detection> dets;
    for (size_t t = 0; t < batch.num_targets(); ++t) {
      const float* r = batch.targets.data() + 6 * t;
      if (static_cast<int>(r[0]) != i) continue;
      const float sx = static_cast<float>(tw) / W, sy = static_cast<float>(th) / H;
      dets.push_back({(r[2] - r[4] / 2) * sx, (r[3] - r[5] / 2) * sy, (r[2] + r[4] / 2) * sx, (r[3] + r[5] / 2) * sy,
                      1.0f, static_cast<int>(r[1])});
    }
    draw_detections(tile, dets, names, /*show_conf=*/false);
    if (i < static_cast<int>(batch.paths.size())) {
      const std::string name = std::filesystem::path(batch.paths[i]).filename().string();
      cv::putText(tile, name, cv::Point(4, th - 6), cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(255, 255, 255), 1,
                  cv::LINE_AA);
    }
    const int gx = (i % cols) * tw, gy = (i / cols) * th;
    tile.copyTo(grid(cv::Rect(gx, gy, tw, th)));
    cv::rectangle(grid, cv::Rect(gx, gy, tw, th), cv::Scalar(255, 255, 255), 2);
  }
  bool ok = false;
  try {
    ok = cv::imwrite(path, grid);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok) throw Error("cannot write '" + path + "'");
}

}  // namespace yolonas
