// The DFL decode, written twice (plain C++ for the runtime, LibTorch for the model and the loss):
// the two must give the same boxes and scores, and the model's forward_decoded must be the C++
// decode of its own raw head outputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "yolonas/detect/decode.h"
#include "yolonas/model/decode_torch.h"
#include "yolonas/model/model.h"

using namespace yolonas;

namespace {

// C++ decode of one image's level given the head's raw outputs [1, 4*bins, h, w] and [1, C, h, w].
void cpp_decode(const torch::Tensor& reg, const torch::Tensor& cls, int stride, std::vector<float>& boxes,
                std::vector<float>& scores) {
  const int bins = static_cast<int>(reg.size(1)) / 4, C = static_cast<int>(cls.size(1));
  const int h = static_cast<int>(reg.size(2)), w = static_cast<int>(reg.size(3));
  boxes.resize(static_cast<size_t>(h) * w * 4);
  scores.resize(static_cast<size_t>(h) * w * C);
  auto r = reg.contiguous(), c = cls.contiguous();
  decode_level(r.data_ptr<float>(), c.data_ptr<float>(), h, w, stride, bins, C, boxes.data(), scores.data());
}

}  // namespace

TEST(Decode, CppAndTorchDecodesAgreeOnRandomLevels) {
  torch::manual_seed(3);
  for (const auto& [h, w, stride, bins] : std::vector<std::tuple<int, int, int, int>>{{5, 7, 8, 17}, {3, 2, 32, 9}, {1, 1, 16, 17}}) {
    const auto reg = torch::randn({1, 4 * bins, h, w}) * 3;
    const auto cls = torch::randn({1, 5, h, w}) * 4;
    std::vector<float> boxes, scores;
    cpp_decode(reg, cls, stride, boxes, scores);
    // Torch: [1, hw, 4*bins] logits, anchors (x + 0.5, y + 0.5) row-major, times the stride.
    auto reg_distri = reg.flatten(2).permute({0, 2, 1});
    auto ys = torch::arange(h, torch::kFloat32) + 0.5, xs = torch::arange(w, torch::kFloat32) + 0.5;
    auto g = torch::meshgrid({ys, xs}, "ij");
    auto anchors = torch::stack({g[1], g[0]}, -1).reshape({-1, 2});
    auto tb = (dfl_decode(reg_distri, anchors) * stride).contiguous();
    auto ts = cls.flatten(2).permute({0, 2, 1}).sigmoid().contiguous();
    const float* pb = tb.data_ptr<float>();
    const float* ps = ts.data_ptr<float>();
    for (size_t i = 0; i < boxes.size(); ++i) EXPECT_NEAR(boxes[i], pb[i], 2e-5f * stride) << "box value " << i;
    for (size_t i = 0; i < scores.size(); ++i) EXPECT_NEAR(scores[i], ps[i], 1e-6f) << "score " << i;
  }
}

// The runtime's decode of cell-major (NHWC) outputs against the planar decode (itself checked
// against LibTorch above), on levels larger than one block of cells and split at odd cells as the
// runtime's threads split them; extreme logits included.
TEST(Decode, CellMajorDecodeEqualsThePlanarDecode) {
  torch::manual_seed(4);
  for (const auto& [h, w, bins, C] : std::vector<std::tuple<int, int, int, int>>{{9, 13, 17, 80}, {4, 5, 9, 3}, {20, 20, 17, 1}}) {
    const int hw = h * w;
    auto reg = torch::randn({1, 4 * bins, h, w}) * 4;
    auto cls = torch::randn({1, C, h, w}) * 6;
    cls[0][0][0][0] = -1000.0f;
    cls[0][C - 1][h - 1][w - 1] = 1000.0f;
    const auto reg_nhwc = reg.permute({0, 2, 3, 1}).contiguous(), cls_nhwc = cls.permute({0, 2, 3, 1}).contiguous();
    std::vector<float> boxes, scores;
    cpp_decode(reg, cls, 16, boxes, scores);
    std::vector<float> boxes2(boxes.size(), -1.0f), scores2(scores.size(), -1.0f);
    for (const auto& [first, last] : std::vector<std::pair<int, int>>{{0, 37}, {37, 101}, {101, hw}})
      if (first < hw)
        decode_cells_nhwc(reg_nhwc.data_ptr<float>(), cls_nhwc.data_ptr<float>(), h, w, 16, bins, C, first,
                          std::min(last, hw), boxes2.data(), scores2.data());
    for (size_t i = 0; i < boxes.size(); ++i) ASSERT_NEAR(boxes2[i], boxes[i], 1e-4f) << "box value " << i;
    for (size_t i = 0; i < scores.size(); ++i) ASSERT_NEAR(scores2[i], scores[i], 1e-7f) << "score " << i;
    EXPECT_EQ(scores2[0], 0.0f);
    EXPECT_EQ(scores2.back(), 1.0f);
  }
}

TEST(Decode, ExtremeLogitsStayFinite) {
  // One bin far above the rest: the distance is that bin's index, not NaN or inf.
  const int bins = 17;
  auto reg = torch::full({1, 4 * bins, 1, 1}, -1000.0f);
  for (int side = 0; side < 4; ++side) reg[0][side * bins + 16 - side][0][0] = 1000.0f;
  auto cls = torch::tensor({-1000.0f, 1000.0f}).reshape({1, 2, 1, 1});
  std::vector<float> boxes, scores;
  cpp_decode(reg, cls, 8, boxes, scores);
  EXPECT_FLOAT_EQ(boxes[0], (0.5f - 16) * 8);
  EXPECT_FLOAT_EQ(boxes[1], (0.5f - 15) * 8);
  EXPECT_FLOAT_EQ(boxes[2], (0.5f + 14) * 8);
  EXPECT_FLOAT_EQ(boxes[3], (0.5f + 13) * 8);
  EXPECT_EQ(scores[0], 0.0f);
  EXPECT_EQ(scores[1], 1.0f);
}

TEST(Decode, AnchorCountsAndPoints) {
  EXPECT_EQ(count_anchors(640, 640, {8, 16, 32}), 8400);
  EXPECT_EQ(count_anchors(320, 256, {8, 16, 32}), 40 * 32 + 20 * 16 + 10 * 8);
  float ax, ay;
  anchor_point(7, 5, ax, ay);
  EXPECT_EQ(ax, 2.5f);
  EXPECT_EQ(ay, 1.5f);
}

TEST(Decode, ForwardDecodedIsTheDecodeOfTheRawOutputs) {
  torch::manual_seed(5);
  ArchParams a = ArchParams::yolo_nas_s();
  a.num_classes = 3;
  YoloNAS m(a);
  m->eval();
  torch::NoGradGuard ng;
  auto x = torch::rand({2, 3, 64, 96});
  auto [boxes, scores] = m->forward_decoded(x);
  auto out = m->forward(x);
  EXPECT_TRUE(torch::allclose(boxes, out.pred_bboxes, 0, 1e-5));
  EXPECT_TRUE(torch::allclose(scores, out.pred_scores, 0, 0));
  // The raw distribution of anchor 0 of image 1, decoded by hand in C++.
  auto reg = out.reg_distri[1][0].contiguous();  // [4*17]
  std::vector<float> r(reg.data_ptr<float>(), reg.data_ptr<float>() + 68);
  std::vector<float> box(4), score(3);
  auto cls = out.cls_logits[1][0].contiguous();
  decode_level(r.data(), cls.data_ptr<float>(), 1, 1, 8, 17, 3, box.data(), score.data());
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(box[k], boxes[1][0][k].item<float>(), 1e-4);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(score[k], scores[1][0][k].item<float>(), 1e-6);
}
