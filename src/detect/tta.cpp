#include "yolonas/detect/tta.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

#include "yolonas/core/error.h"

namespace yolonas {

std::vector<TtaView> default_tta_views() { return {{1.0, false}, {0.83, true}, {0.67, false}}; }

TtaEngine::TtaEngine(std::unique_ptr<InferenceEngine> inner, float pad, std::vector<TtaView> views)
    : inner_(std::move(inner)), pad_(pad), views_(std::move(views)) {
  if (!inner_) throw Error("TTA: no engine to augment");
  if (views_.empty()) throw Error("TTA: no view");
  for (const TtaView& v : views_)
    if (!(v.scale > 0 && v.scale <= 1)) throw Error("TTA: a view's scale must be in (0, 1], got " + std::to_string(v.scale));
}

std::string TtaEngine::describe() const {
  std::string s = inner_->describe() + ", TTA:";
  for (size_t i = 0; i < views_.size(); ++i) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s %g%s", i ? "," : "", views_[i].scale, views_[i].flip ? " mirrored" : "");
    s += buf;
  }
  return s;
}

void TtaEngine::run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
                    std::vector<float>& scores) {
  const int C = inner_->num_classes();
  const size_t plane = static_cast<size_t>(height) * width;
  std::vector<std::vector<float>> view_boxes(views_.size()), view_scores(views_.size());
  std::vector<size_t> anchors(views_.size());
  std::vector<float> canvas;
  for (size_t v = 0; v < views_.size(); ++v) {
    const TtaView& view = views_[v];
    if (view.scale == 1.0 && !view.flip) {
      inner_->run(input, batch, height, width, view_boxes[v], view_scores[v]);
    } else {
      // The view: mirrored, resized into the top-left corner, the rest padded (Ultralytics' scale_img).
      const int sh = static_cast<int>(std::lround(height * view.scale)), sw = static_cast<int>(std::lround(width * view.scale));
      const int h = (sh + 31) / 32 * 32, w = (sw + 31) / 32 * 32;
      canvas.assign(static_cast<size_t>(batch) * 3 * h * w, pad_);
      for (int c = 0; c < batch * 3; ++c) {
        cv::Mat src(height, width, CV_32F, const_cast<float*>(input + c * plane));
        cv::Mat dst(h, w, CV_32F, canvas.data() + static_cast<size_t>(c) * h * w);
        cv::Mat m;  // a new buffer: flipping into a header of `src` would mirror the caller's input
        if (view.flip) cv::flip(src, m, 1);
        else m = src;
        if (sh != height || sw != width) cv::resize(m, dst(cv::Rect(0, 0, sw, sh)), cv::Size(sw, sh), 0, 0, cv::INTER_LINEAR);
        else m.copyTo(dst(cv::Rect(0, 0, sw, sh)));
      }
      inner_->run(canvas.data(), batch, h, w, view_boxes[v], view_scores[v]);
      // Back to the input's pixels: undo the scale, then the mirror.
      std::vector<float>& b = view_boxes[v];
      const float inv_x = static_cast<float>(width) / sw, inv_y = static_cast<float>(height) / sh;
      for (size_t i = 0; i + 3 < b.size(); i += 4) {
        float x1 = b[i] * inv_x, y1 = b[i + 1] * inv_y, x2 = b[i + 2] * inv_x, y2 = b[i + 3] * inv_y;
        if (view.flip) {
          const float fx1 = width - x2, fx2 = width - x1;
          x1 = fx1, x2 = fx2;
        }
        b[i] = x1, b[i + 1] = y1, b[i + 2] = x2, b[i + 3] = y2;
      }
    }
    if (view_boxes[v].size() % (4 * static_cast<size_t>(batch)) != 0)
      throw Error("TTA: the engine returned " + std::to_string(view_boxes[v].size()) + " box values for a batch of " +
                  std::to_string(batch));
    anchors[v] = view_boxes[v].size() / (4 * static_cast<size_t>(batch));
    if (view_scores[v].size() != anchors[v] * C * batch)
      throw Error("TTA: the engine returned " + std::to_string(view_scores[v].size()) + " scores for " +
                  std::to_string(anchors[v]) + " anchors");
  }
  // Image by image: every view's anchors one after the other.
  size_t total = 0;
  for (size_t a : anchors) total += a;
  boxes.resize(total * 4 * batch);
  scores.resize(total * C * batch);
  float* bo = boxes.data();
  float* so = scores.data();
  for (int i = 0; i < batch; ++i)
    for (size_t v = 0; v < views_.size(); ++v) {
      const size_t a = anchors[v];
      bo = std::copy_n(view_boxes[v].data() + i * a * 4, a * 4, bo);
      so = std::copy_n(view_scores[v].data() + i * a * C, a * C, so);
    }
}

}  // namespace yolonas
