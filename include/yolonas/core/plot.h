// Small line plots drawn with OpenCV (no plotting library on these machines): a grid of panels,
// one series per panel, for results.png (losses and metrics per epoch).
#pragma once
#include <string>
#include <vector>

namespace yolonas {

struct Series {
  std::string title;
  std::vector<double> x, y;
};

// Panels laid out `cols` per row; throws yolonas::Error if the PNG cannot be written.
void save_series_grid_png(const std::string& path, const std::vector<Series>& panels, int cols = 4);

}  // namespace yolonas
