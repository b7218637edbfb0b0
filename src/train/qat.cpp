// Quantization-aware training of the fused graph. See qat.h.
#include "yolonas/train/qat.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/progress.h"
#include "yolonas/data/check_data.h"
#include "yolonas/data/dataset.h"
#include "yolonas/data/loader.h"
#include "yolonas/eval/evaluator.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/runtime/model_file.h"
#include "yolonas/runtime/onednn_engine.h"
#include "yolonas/train/loss.h"
#include "yolonas/train/optim.h"

namespace yolonas {

namespace fs = std::filesystem;

QatNetImpl::QatNetImpl(const DnnGraph& graph, const DnnInt8& plan) : graph_(graph), plan_(plan) {
  const size_t n = static_cast<size_t>(graph.num_buffers);
  if (plan.mult.size() != n || plan.is_unsigned.size() != n || plan.is_f32.size() != n)
    throw Error("QAT: the INT8 plan does not belong to this graph");
  weight_.resize(graph.ops.size());
  bias_.resize(graph.ops.size());
  for (size_t i = 0; i < graph_.ops.size(); ++i) {
    DnnOp& op = graph_.ops[i];
    if (op.kind != DnnOpKind::Conv && op.kind != DnnOpKind::Deconv) continue;
    const int64_t k = op.kernel;
    const size_t count = static_cast<size_t>(op.cout) * op.cin * op.kernel * op.kernel;
    if (op.weights.size() != count || op.bias.size() != static_cast<size_t>(op.cout))
      throw Error("QAT: " + op.name + " has no FP32 weights (QAT starts from an FP32 graph, not an INT8 model file)");
    const std::vector<int64_t> shape = op.kind == DnnOpKind::Deconv ? std::vector<int64_t>{op.cin, op.cout, k, k}
                                                                    : std::vector<int64_t>{op.cout, op.cin, k, k};
    weight_[i] = register_parameter("conv" + std::to_string(i) + "_weight",
                                    torch::from_blob(const_cast<float*>(op.weights.data()), shape, torch::kFloat32).clone());
    bias_[i] = register_parameter("conv" + std::to_string(i) + "_bias",
                                  torch::from_blob(const_cast<float*>(op.bias.data()), {op.cout}, torch::kFloat32).clone());
    op.weights = {};  // the parameters hold them now
    op.bias = {};
  }
}

bool QatNetImpl::quantized(int b) const { return !plan_.is_f32[static_cast<size_t>(b)]; }

// The runtime stores a quantized buffer as round(x * mult) saturated to u8 or s8 (oneDNN rounds to
// nearest even, as fake_quantize does).
torch::Tensor QatNetImpl::fake_quant_act(const torch::Tensor& x, int b) const {
  if (!quantized(b)) return x;
  const double scale = 1.0 / plan_.mult[static_cast<size_t>(b)];
  return plan_.is_unsigned[static_cast<size_t>(b)] ? torch::fake_quantize_per_tensor_affine(x, scale, 0, 0, 255)
                                                   : torch::fake_quantize_per_tensor_affine(x, scale, 0, -128, 127);
}

namespace {

// round() as std::lround does it: halves away from zero.
torch::Tensor round_half_away(const torch::Tensor& v) { return torch::sign(v) * torch::floor(v.abs() + 0.5); }

// Rounding with a straight-through gradient: the value of `rounded`, the gradient of `x`.
torch::Tensor straight_through(const torch::Tensor& x, const torch::Tensor& rounded) { return x + (rounded - x).detach(); }

}  // namespace

// What quantize_weights() stores, s8 per output channel: q = lround(w * wmult), wmult = 127 / max |w|
// (1 for an all-zero channel), as float32 arithmetic computes it; returned as q / wmult.
torch::Tensor QatNetImpl::weight_mult(const torch::Tensor& w, bool transposed) const {
  const int64_t axis = transposed ? 1 : 0;
  const torch::Tensor mx = w.detach().abs().transpose(0, axis).flatten(1).amax(1);
  return torch::where(mx > 0, 127.0f / mx, torch::ones_like(mx));
}

torch::Tensor QatNetImpl::fake_quant_weight(const torch::Tensor& w, bool transposed) const {
  std::vector<int64_t> shape(static_cast<size_t>(w.dim()), 1);
  shape[transposed ? 1 : 0] = -1;
  const torch::Tensor m = weight_mult(w, transposed).reshape(shape);
  return straight_through(w, torch::clamp(round_half_away(w.detach() * m), -127, 127) / m);
}

torch::Tensor QatNetImpl::run_op(size_t index, const std::vector<torch::Tensor>& in) {
  const DnnOp& op = graph_.ops.at(index);
  if (in.size() != op.inputs.size()) throw Error("QAT: " + op.name + ": wrong number of inputs");
  torch::Tensor y;
  switch (op.kind) {
    case DnnOpKind::Conv:
    case DnnOpKind::Deconv: {
      const bool deconv = op.kind == DnnOpKind::Deconv;
      // INT8 exactly when the runtime runs it INT8 (runs_int8). The runtime adds the bias
      // to the s32 accumulator, rounded to its units (1 / (mult_in * wmult)): so does this.
      torch::Tensor w = weight_[index], bias = bias_[index];
      if (runs_int8(op, plan_)) {
        const torch::Tensor unit = plan_.mult[static_cast<size_t>(op.inputs[0])] * weight_mult(w, deconv);
        w = fake_quant_weight(w, deconv);
        bias = straight_through(bias, round_half_away(bias.detach() * unit) / unit);
      }
      y = deconv ? torch::conv_transpose2d(in[0], w, bias, op.stride) : torch::conv2d(in[0], w, bias, op.stride, op.pad);
      if (op.relu) y = torch::relu(y);
      break;
    }
    case DnnOpKind::MaxPool: y = torch::max_pool2d(in[0], op.kernel, 1, op.pad); break;
    case DnnOpKind::Concat: y = torch::cat(in, 1); break;
    case DnnOpKind::Sum: y = in[0] * op.scales.at(0) + in[1] * op.scales.at(1); break;
  }
  return fake_quant_act(y, op.output);
}

std::vector<torch::Tensor> QatNetImpl::forward_buffers(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != graph_.input_channels) throw Error("QAT: input must be N x 3 x H x W");
  std::vector<torch::Tensor> buf(static_cast<size_t>(graph_.num_buffers));
  buf[0] = fake_quant_act(x, 0);
  std::vector<torch::Tensor> in;
  for (size_t i = 0; i < graph_.ops.size(); ++i) {
    in.clear();
    for (int b : graph_.ops[i].inputs) in.push_back(buf[static_cast<size_t>(b)]);
    buf[static_cast<size_t>(graph_.ops[i].output)] = run_op(i, in);
  }
  return buf;
}

YoloNASOutput QatNetImpl::forward(const torch::Tensor& x) {
  const std::vector<torch::Tensor> buf = forward_buffers(x);
  std::vector<torch::Tensor> reg, cls;
  for (size_t l = 0; l < graph_.reg_outputs.size(); ++l) {
    reg.push_back(buf[static_cast<size_t>(graph_.reg_outputs[l])]);
    cls.push_back(buf[static_cast<size_t>(graph_.cls_outputs[l])]);
  }
  return head_outputs(reg, cls, graph_.strides);
}

DnnGraph QatNetImpl::to_graph() const {
  DnnGraph g = graph_;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (!weight_[i].defined()) continue;
    const torch::Tensor w = weight_[i].detach().contiguous(), b = bias_[i].detach().contiguous();
    g.ops[i].weights = std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    g.ops[i].bias = std::vector<float>(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  }
  return g;
}

namespace {

struct Scores {
  double map50_95 = 0, map50 = 0;
};

Scores score(const DnnGraph& graph, const DnnInt8* plan, const ModelMeta& meta, const EvalSet& val, bool progress,
             const std::string& label) {
  OnednnEngine engine(graph, plan ? std::optional<DnnInt8>(*plan) : std::nullopt);
  EvalOptions eo;
  eo.progress = progress;
  eo.progress_label = label;
  const EvalResult r = evaluate(engine, meta.names, meta.preprocessing, val, eo);
  if (!r.coco) return {};
  return {r.coco->stats[0], r.coco->stats[1]};
}

}  // namespace

QatResult run_qat(const QatConfig& c) {
  if (c.weights.empty()) throw Error("qat=true needs weights= (the trained checkpoint QAT starts from)");
  if (is_model_file(c.weights))
    throw Error("qat: " + c.weights + " is a model file; QAT starts from the training checkpoint (.pth) it was "
                "exported from");
  if (c.epochs < 1) throw Error("qat: epochs must be >= 1");
  if (c.batch < 1) throw Error("qat: batch must be >= 1");
  set_threads(c.threads);
  ModelSource src;
  src.model = c.model;
  src.weights = c.weights;
  src.imgsz = c.imgsz;
  LoadedModel lm = load_model(src);
  fuse_for_inference(lm.model, "full");
  const DnnGraph graph = build_dnn_graph(lm.model);
  const ModelMeta meta = lm.meta;
  const PreprocessParams& pp = meta.preprocessing;
  lm.model = nullptr;

  const DataYaml data = open_dataset(c.data);
  if (data.names.size() != meta.names.size())
    throw Error("qat: " + c.data + " has " + std::to_string(data.names.size()) + " classes, the model " +
                std::to_string(meta.names.size()) + ": QAT fine-tunes a model trained on this dataset");
  CheckOptions copt;
  copt.workers = std::max(1, c.workers);
  copt.progress = c.progress;
  std::map<std::string, DataSplit> splits;
  const DataReport report = check_dataset(data, {"train", "val"}, copt, &splits);
  for (const auto& w : enforce_data_report(report, true)) std::fprintf(stderr, "warning: %s\n", w.c_str());
  DataSplit train_split = std::move(splits.at("train"));
  std::vector<std::string> train_images;
  for (const auto& s : train_split.samples) train_images.push_back(s.image);
  const EvalSet val = eval_set_from_split(std::move(splits.at("val")), c.data + " (val)");

  // The PTQ plan QAT starts from (and keeps).
  Int8Options io;
  io.method = c.calib_method;
  io.percentile = c.percentile;
  io.float_heads = c.float_heads;
  size_t used = 0;
  const DnnInt8 plan = calibrate_int8(graph, pp, train_images, c.calibration_images, &used, io);
  const std::string note = std::string("QAT from ") + calib_method_name(c.calib_method) + " calibration on " +
                           std::to_string(used) + " images";

  QatResult res;
  res.run_dir = make_run_dir(c.project, c.name, c.exist_ok);
  const std::string wdir = res.run_dir + "/weights";
  fs::create_directories(wdir);
  res.best = wdir + "/best.ynas";
  const std::string last = wdir + "/last.ynas";
  std::printf("qat: %s, %zu train / %zu val images, run folder %s\n", c.weights.c_str(), train_images.size(),
              val.image_paths.size(), res.run_dir.c_str());
  const Scores fp32 = score(graph, nullptr, meta, val, c.progress, "val fp32");
  const Scores ptq = score(graph, &plan, meta, val, c.progress, "val int8");
  res.fp32_map50_95 = fp32.map50_95;
  res.ptq_map50_95 = ptq.map50_95, res.ptq_map50 = ptq.map50;
  res.best_map50_95 = ptq.map50_95, res.best_map50 = ptq.map50;
  std::printf("qat: FP32 mAP50-95 %.4f, INT8 (PTQ) %.4f (mAP50 %.4f)\n", fp32.map50_95, ptq.map50_95, ptq.map50);
  write_model_file(res.best, graph, &plan, meta.to_json(), note + " (PTQ, before QAT)", "yolonas qat");
  std::string csv = "epoch,train/loss,metrics/mAP50-95,metrics/mAP50,lr,time_s\n";
  char line[256];
  std::snprintf(line, sizeof line, "0,,%.6g,%.6g,,0\n", ptq.map50_95, ptq.map50);
  csv += line;
  write_file_atomic(res.run_dir + "/results.csv", csv);

  QatNet net(graph, plan);
  net->train();
  LoaderConfig lc;
  lc.height = pp.input_h;
  lc.width = pp.input_w;
  lc.batch_size = c.batch;
  lc.workers = c.workers;
  lc.seed = c.seed;
  lc.train = true;
  lc.augment = AugmentConfig::finetune_recipe();
  lc.rgb = pp.rgb;
  lc.drop_last = train_split.samples.size() >= static_cast<size_t>(c.batch);
  lc.batches_per_epoch = c.max_batches;
  DataLoader loader(std::move(train_split), lc);
  PPYoloELossOptions lo;
  lo.num_classes = static_cast<int64_t>(meta.names.size());
  PPYoloELoss loss_fn(lo);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(c.lr0).weight_decay(c.weight_decay));
  const long per_epoch = loader.batches_per_epoch();
  LrSchedule sched;  // SG's cosine to lr0 / 10, no warm-up
  sched.lr0 = c.lr0;
  sched.warmup_epochs = 0;
  sched.warmup_steps = 0;
  sched.epochs = c.epochs;
  sched.steps_per_epoch = static_cast<int>(per_epoch);
  const auto t0 = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < c.epochs; ++epoch) {
    loader.start_epoch(epoch);
    Progress bar("qat " + std::to_string(epoch + 1) + "/" + std::to_string(c.epochs), per_epoch, c.progress);
    Batch b;
    double loss_sum = 0, lr = c.lr0;
    long n = 0;
    while (loader.next(b)) {
      lr = sched.lr_at(epoch, static_cast<int>(n));
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      const torch::Tensor x = torch::from_blob(b.images.data(), {b.batch_size, 3, b.height, b.width}, torch::kFloat32);
      const torch::Tensor t = torch::from_blob(b.targets.data(), {static_cast<int64_t>(b.num_targets()), 6}, torch::kFloat32);
      const LossResult l = loss_fn(net->forward(x), t);
      const double v = l.components[3].item<double>();
      if (!std::isfinite(v))
        throw Error("qat diverged (loss is not finite) at epoch " + std::to_string(epoch + 1) + "; try a lower lr0");
      opt.zero_grad();
      l.loss.backward();
      opt.step();
      loss_sum += v;
      ++n;
      char suffix[64];
      std::snprintf(suffix, sizeof suffix, "loss %.4f", loss_sum / n);
      bar.update(n, suffix);
    }
    bar.finish();
    const DnnGraph trained = net->to_graph();
    const Scores s = score(trained, &plan, meta, val, c.progress, "val int8");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_model_file(last, trained, &plan, meta.to_json(), note + ", epoch " + std::to_string(epoch + 1), "yolonas qat");
    const bool best = s.map50_95 > res.best_map50_95;
    if (best) {
      write_model_file(res.best, trained, &plan, meta.to_json(), note + ", epoch " + std::to_string(epoch + 1), "yolonas qat");
      res.best_map50_95 = s.map50_95, res.best_map50 = s.map50, res.best_epoch = epoch + 1;
    }
    std::snprintf(line, sizeof line, "%d,%.6g,%.6g,%.6g,%.6g,%.1f\n", epoch + 1, n ? loss_sum / n : 0.0, s.map50_95,
                  s.map50, lr, secs);
    csv += line;
    write_file_atomic(res.run_dir + "/results.csv", csv);
    std::printf("qat epoch %d/%d: loss %.4f  INT8 mAP50-95 %.4f  mAP50 %.4f%s  lr %.3g  %.0fs\n", epoch + 1, c.epochs,
                n ? loss_sum / n : 0.0, s.map50_95, s.map50, best ? "  (best)" : "", lr, secs);
  }
  std::printf("qat: INT8 mAP50-95 %.4f after QAT (epoch %d) vs %.4f PTQ, FP32 %.4f; INT8 model %s\n",
              res.best_map50_95, res.best_epoch, res.ptq_map50_95, res.fp32_map50_95, res.best.c_str());
  return res;
}

}  // namespace yolonas
