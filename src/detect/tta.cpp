#include "yolonas/detect/tta.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

#include "yolonas/core/error.h"
#include "yolonas/detect/decode.h"

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

FlipAverageEngine::FlipAverageEngine(std::unique_ptr<InferenceEngine> inner, std::vector<int> strides)
    : inner_(std::move(inner)), strides_(std::move(strides)) {
  if (!inner_) throw Error("augment=flip: no engine to augment");
  if (strides_.empty()) throw Error("augment=flip: the model has no output level");
  for (int s : strides_)
    if (s <= 0) throw Error("augment=flip: a stride must be positive, got " + std::to_string(s));
}

std::string FlipAverageEngine::describe() const { return inner_->describe() + ", flip-averaged"; }

void FlipAverageEngine::run(const float* input, int batch, int height, int width, std::vector<float>& boxes,
                            std::vector<float>& scores) {
  for (int s : strides_)
    if (width % s != 0 || height % s != 0)
      throw Error("augment=flip: the input is " + std::to_string(width) + "x" + std::to_string(height) +
                  "; its sides must be multiples of the stride " + std::to_string(s) +
                  " for the mirrored anchors to fall on the anchors they mirror");
  const int C = inner_->num_classes();
  const size_t plane = static_cast<size_t>(height) * width, image = 3 * plane;
  // Images 0..batch-1 as they are, then their mirror images.
  both_.resize(2 * batch * image);
  std::copy_n(input, batch * image, both_.data());
  for (size_t p = 0; p < static_cast<size_t>(batch) * 3; ++p)
    for (int y = 0; y < height; ++y) {
      const float* src = input + p * plane + static_cast<size_t>(y) * width;
      std::reverse_copy(src, src + width, both_.data() + (batch * 3 + p) * plane + static_cast<size_t>(y) * width);
    }
  inner_->run(both_.data(), 2 * batch, height, width, boxes_, scores_);
  const size_t A = static_cast<size_t>(count_anchors(height, width, strides_));
  if (boxes_.size() != 2 * batch * A * 4 || scores_.size() != 2 * batch * A * C)
    throw Error("augment=flip: the engine returned " + std::to_string(boxes_.size()) + " box values and " +
                std::to_string(scores_.size()) + " scores for " + std::to_string(2 * batch) + " images of " +
                std::to_string(A) + " anchors");
  boxes.resize(batch * A * 4);
  scores.resize(batch * A * C);
  const float W = static_cast<float>(width);
  for (int i = 0; i < batch; ++i) {
    const float* b0 = boxes_.data() + i * A * 4;
    const float* b1 = boxes_.data() + (batch + i) * A * 4;
    const float* s0 = scores_.data() + i * A * C;
    const float* s1 = scores_.data() + (batch + i) * A * C;
    float* bo = boxes.data() + i * A * 4;
    float* so = scores.data() + i * A * C;
    size_t level = 0;  // the first anchor of the level
    for (int s : strides_) {
      const int gh = height / s, gw = width / s;
      for (int y = 0; y < gh; ++y)
        for (int x = 0; x < gw; ++x) {
          const size_t a = level + static_cast<size_t>(y) * gw + x, m = level + static_cast<size_t>(y) * gw + (gw - 1 - x);
          // The mirror's box around anchor m, mirrored back: x1 = W - x2, x2 = W - x1.
          bo[a * 4 + 0] = 0.5f * (b0[a * 4 + 0] + (W - b1[m * 4 + 2]));
          bo[a * 4 + 1] = 0.5f * (b0[a * 4 + 1] + b1[m * 4 + 1]);
          bo[a * 4 + 2] = 0.5f * (b0[a * 4 + 2] + (W - b1[m * 4 + 0]));
          bo[a * 4 + 3] = 0.5f * (b0[a * 4 + 3] + b1[m * 4 + 3]);
          for (int c = 0; c < C; ++c) so[a * C + c] = 0.5f * (s0[a * C + c] + s1[m * C + c]);
        }
      level += static_cast<size_t>(gh) * gw;
    }
  }
}

}  // namespace yolonas
