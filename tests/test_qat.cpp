// Quantization-aware training (train/qat.h): the fake-quantized LibTorch graph computes the integers
// the oneDNN runtime's INT8 computes, and `yolonas train qat=true` fine-tunes a trained model into an
// INT8 model file that the runtime library loads.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "test_util.h"
#include "train_test_util.h"
#include "yolonas/detect/preprocess.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/runtime/model_file.h"
#include "yolonas/runtime/onednn_net.h"
#include "yolonas/runtime/rt_detector.h"
#include "yolonas/train/qat.h"

using namespace yolonas;
using namespace yolonas::test;
namespace fs = std::filesystem;

namespace {

std::string default_model() { return repo_dir() + "/models/yolonas_default.pth"; }

// The built-in model, fully fused, as the runtime's graph; `pp` receives its preprocessing.
DnnGraph default_graph(PreprocessParams* pp = nullptr) {
  ModelSource src;
  src.model = "";
  src.weights = default_model();
  LoadedModel lm = load_model(src);
  fuse_for_inference(lm.model, "full");
  if (pp) *pp = lm.meta.preprocessing;
  return build_dnn_graph(lm.model);
}

}  // namespace

// The built-in model, fused, calibrated on three synthetic images, run on a fourth by the runtime
// (INT8, every buffer kept) and by QatNet:
//  - op by op, each QatNet op fed the runtime's own input values: every quantized output within one
//    quantization step of the runtime's and all but a few in a million equal (QatNet sums in float,
//    the runtime in s32); the heads' FP32 outputs within 1e-3 of their range;
//  - the whole network from the image: the heads' outputs within a few percent of their range. A
//    value that rounds the other way moves the next layer by a step, and such steps spread through
//    70 layers (measured: 0.002% of the values differ at the second layer, 29% at the heads).
TEST(Qat, FakeQuantGraphComputesTheRuntimesIntegers) {
  if (!fs::exists(default_model())) GTEST_SKIP() << "models/yolonas_default.pth is missing";
  PreprocessParams pp;
  const DnnGraph graph = default_graph(&pp);
  const std::string synth = data_dir() + "/synth/";
  Int8Options io;
  io.float_heads = false;
  const DnnInt8 plan = calibrate_int8(graph, pp, {synth + "000003.jpg", synth + "000010.jpg", synth + "000017.jpg"}, 32,
                                      nullptr, io);
  std::vector<float> input(static_cast<size_t>(3) * pp.input_h * pp.input_w);
  preprocess_image(cv::imread(synth + "000024.jpg"), pp, input.data());

  OnednnNet::Options o;
  o.int8 = &plan;
  o.share_memory = false;
  o.fuse_sum = false;
  OnednnNet net(graph, 1, pp.input_h, pp.input_w, o);
  std::vector<float> boxes, scores;
  net.run(input.data(), boxes, scores);
  std::vector<torch::Tensor> rt(static_cast<size_t>(graph.num_buffers));
  for (int b = 0; b < graph.num_buffers; ++b) {
    const std::vector<int64_t> d = net.buffer_dims(b);
    rt[static_cast<size_t>(b)] = torch::tensor(net.read_buffer(b)).reshape(d);
  }

  QatNet qat(graph, plan);
  torch::NoGradGuard ng;
  const torch::Tensor x = torch::from_blob(input.data(), {1, 3, pp.input_h, pp.input_w}, torch::kFloat32);
  const std::vector<torch::Tensor> whole = qat->forward_buffers(x);
  rt[0] = whole[0];  // the input as the network sees it: quantized (the runtime keeps that copy to itself)
  size_t values = 0, equal = 0, quantized_ops = 0;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const DnnOp& op = graph.ops[i];
    std::vector<torch::Tensor> in;
    for (int b : op.inputs) in.push_back(rt[static_cast<size_t>(b)]);
    const torch::Tensor got = qat->run_op(i, in), want = rt[static_cast<size_t>(op.output)];
    ASSERT_EQ(got.sizes(), want.sizes()) << op.name;
    if (qat->quantized(op.output)) {
      ++quantized_ops;
      const double mult = plan.mult[static_cast<size_t>(op.output)];
      const torch::Tensor steps = ((got - want) * mult).abs();
      EXPECT_LE(steps.max().item<double>(), 1.01) << op.name << ": more than one quantization step apart";
      values += static_cast<size_t>(steps.numel());
      equal += static_cast<size_t>((steps < 0.01).sum().item<int64_t>());
    } else {
      const double range = std::max(1e-3, want.abs().max().item<double>());
      EXPECT_LE((got - want).abs().max().item<double>(), 1e-3 * range) << op.name << " (FP32 output)";
    }
  }
  EXPECT_GT(quantized_ops, graph.ops.size() / 2);
  const double same = static_cast<double>(equal) / static_cast<double>(values);
  std::printf("op by op: %.5f%% of %zu quantized values are the runtime's integers exactly\n", 100 * same, values);
  EXPECT_GT(same, 0.9999);  // measured 100.00000% to 5 digits: the bias and weights are rounded as the runtime does

  for (const auto* outs : {&graph.reg_outputs, &graph.cls_outputs})
    for (int b : *outs) {
      const torch::Tensor& want = rt[static_cast<size_t>(b)];
      const double range = std::max(1e-3, want.abs().max().item<double>());
      const torch::Tensor d = (whole[static_cast<size_t>(b)] - want).abs() / range;
      std::printf("whole network, head output %d: worst %.2e, mean %.2e of its range\n", b, d.max().item<double>(),
                  d.mean().item<double>());
      // Measured: worst 7.6e-2, mean 1.4e-2 on the worst output, under 2e-2 / 3.3e-3 on the others.
      EXPECT_LE(d.max().item<double>(), 0.15) << "head output " << b;
      EXPECT_LE(d.mean().item<double>(), 0.03) << "head output " << b;
    }
  // The exported graph is the model's own until training changes it.
  const DnnGraph back = qat->to_graph();
  ASSERT_EQ(back.ops.size(), graph.ops.size());
  for (size_t i = 0; i < graph.ops.size(); ++i) ASSERT_EQ(back.ops[i].weights.to_vector(), graph.ops[i].weights.to_vector());
}

// `yolonas train qat=true`: the built-in model fine-tuned on the synthetic set for two steps gives
// INT8 model files (PTQ as best.ynas until an epoch beats it), results.csv with the PTQ row and one
// epoch, and the runtime library loads the file and detects with it. Gradients pass the fake
// quantization: two steps move 78 of the 80 convolutions (the stride-32 box branch gets none when no
// object of these batches is assigned to that level).
TEST(Qat, TrainWritesInt8ModelFilesTheRuntimeLoads) {
  if (!fs::exists(default_model())) GTEST_SKIP() << "models/yolonas_default.pth is missing";
  const std::string root = fresh_run_dir("yolonas_qat", "qat");
  const std::string log = root + "/qat.log";
  const int code = wait_exit(spawn_cli({"train", "qat=true", "weights=" + default_model(),
                                        "data=" + data_dir() + "/synth_val/data.yaml", "epochs=1", "max_batches=2",
                                        "batch=4", "threads=1", "lr0=1e-4", "project=" + root, "name=q"},
                                       log));
  std::ifstream f(log);
  const std::string out((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("INT8 (PTQ)"), std::string::npos) << out;
  for (const char* name : {"best.ynas", "last.ynas"}) {
    const ModelFile mf = read_model_file(root + "/q/weights/" + name);
    EXPECT_TRUE(mf.int8.has_value()) << name;
    EXPECT_NE(mf.int8_note.find("QAT from max calibration on 24 images"), std::string::npos) << mf.int8_note;
  }
  std::ifstream csv(root + "/q/results.csv");
  std::vector<std::string> rows;
  for (std::string l; std::getline(csv, l);) rows.push_back(l);
  ASSERT_EQ(rows.size(), 3u) << "header, PTQ, epoch 1";
  EXPECT_EQ(rows[1].rfind("0,", 0), 0u);
  EXPECT_EQ(rows[2].rfind("1,", 0), 0u);

  // The trained weights moved: last.ynas against the model QAT started from.
  const ModelFile trained = read_model_file(root + "/q/weights/last.ynas");
  const DnnGraph start = default_graph();
  size_t convs = 0, changed = 0;
  for (size_t i = 0; i < start.ops.size(); ++i) {
    const DnnOp& a = start.ops[i];
    const DnnOp& b = trained.graph.ops[i];
    if (a.kind != DnnOpKind::Conv && a.kind != DnnOpKind::Deconv) continue;
    ++convs;
    const bool moved = a.bias.to_vector() != b.bias.to_vector();
    changed += moved;
    if (!moved) std::printf("bias unchanged: %s\n", a.name.c_str());
  }
  std::printf("%zu of %zu convolutions' biases moved\n", changed, convs);
  EXPECT_GE(changed * 10, convs * 9) << "the step moved (nearly) every convolution";

  const auto det = rt::Detector::load(root + "/q/weights/last.ynas", 1);
  EXPECT_TRUE(det.int8());
  const ImageResult r = det.predict(cv::imread(data_dir() + "/synth/000024.jpg"));
  EXPECT_FALSE(r.detections.empty());

  // Without weights: a clear error.
  const int bad = wait_exit(spawn_cli({"train", "qat=true", "data=" + data_dir() + "/synth_val/data.yaml"}, root + "/bad.log"));
  std::ifstream fb(root + "/bad.log");
  const std::string bad_out((std::istreambuf_iterator<char>(fb)), std::istreambuf_iterator<char>());
  EXPECT_NE(bad, 0);
  EXPECT_NE(bad_out.find("qat=true needs weights="), std::string::npos) << bad_out;
  // A model file is not a starting point (its weights may already be s8).
  const int bad2 = wait_exit(spawn_cli({"train", "qat=true", "weights=" + root + "/q/weights/last.ynas",
                                        "data=" + data_dir() + "/synth_val/data.yaml"},
                                       root + "/bad2.log"));
  std::ifstream fb2(root + "/bad2.log");
  const std::string bad2_out((std::istreambuf_iterator<char>(fb2)), std::istreambuf_iterator<char>());
  EXPECT_NE(bad2, 0);
  EXPECT_NE(bad2_out.find("is a model file; QAT starts from the training checkpoint"), std::string::npos) << bad2_out;
}
