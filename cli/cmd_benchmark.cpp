// `yolonas benchmark`: ms/image of the inference engines (LibTorch un-fused, SG partial fusion, full
// fusion + Conv/BN folding; the oneDNN runtime in FP32 and INT8) for each batch size and thread
// count, plus peak RSS. Timings are medians
// over `iters` runs after `warmup` runs; results also go to benchmark.csv in the run folder.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <chrono>
#include <optional>
#include <map>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "commands.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"
#include "yolonas/core/text.h"
#include "yolonas/data/loader.h"
#include "yolonas/train/loss.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/export/onnx_export.h"
#include "yolonas/runtime/model_file.h"
#include "yolonas/runtime/onednn_engine.h"
#include "yolonas/runtime/onednn_net.h"
#include "yolonas/runtime/rt_detector.h"
#include "yolonas/train/amp.h"
#include "yolonas/train/optim.h"
#include "yolonas/core/files.h"
#include "yolonas/core/sysinfo.h"
#include "yolonas/eval/evaluator.h"

namespace fs = std::filesystem;

namespace yolonas::cli {
namespace {

// profile=true: the time per op kind of `net` over `iters` runs of `input`, as a table.
void print_profile(OnednnNet& net, const float* input, int iters) {
  std::vector<float> boxes, scores;
  net.set_profiling(true);
  for (int i = 0; i < std::max(1, iters); ++i) net.run(input, boxes, scores);
  const auto rows = net.profile();
  double total = 0;
  for (const auto& r : rows) total += r.ms;
  std::printf("  %-26s %6s %10s %7s\n", "op kind", "steps", "ms/run", "share");
  for (const auto& r : rows)
    std::printf("  %-26s %6d %10.2f %6.1f%%\n", r.kind.c_str(), r.steps, r.ms, 100.0 * r.ms / std::max(total, 1e-9));
  std::printf("  %-26s %6s %10.2f (each step waited for: a little above the plain run)\n", "total", "", total);
  net.set_profiling(false);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// ONNX Runtime on the same graph, in this run (npm onnxruntime-node through scripts/ort_run.js, the
// peer to beat): median ms per batch, or a negative value with `why` set when it cannot run here.
double ort_batch_ms(const DnnGraph& graph, int b, int h, int w, int threads, int iters, int warmup, std::string& why) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  fs::path script;
  for (const fs::path& c : {exe.parent_path().parent_path() / "scripts/ort_run.js", fs::path("scripts/ort_run.js")})
    if (fs::exists(c)) script = c;
  if (script.empty()) {
    why = "scripts/ort_run.js not found next to the binary";
    return -1;
  }
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    why = "node is not installed";
    return -1;
  }
  const fs::path dir = fs::temp_directory_path() / ("yolonas_ort_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  OnnxExportOptions eo;
  eo.height = h, eo.width = w;
  write_file_atomic((dir / "m.onnx").string(), export_onnx(graph, eo));
  std::vector<float> x(static_cast<size_t>(b) * 3 * h * w, 0.5f);
  write_file_atomic((dir / "x.f32").string(), std::string(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float)));
  const std::string cmd = "node '" + script.string() + "' '" + (dir / "m.onnx").string() + "' '" + (dir / "x.f32").string() +
                          "' " + std::to_string(b) + " 3 " + std::to_string(h) + " " + std::to_string(w) + " '" +
                          (dir / "out").string() + "' " + std::to_string(threads) + " " + std::to_string(iters) + " " +
                          std::to_string(warmup) + " > '" + (dir / "log").string() + "' 2>&1";
  double ms = -1;
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream j(dir / "out" / "outputs.json");
    const nlohmann::json doc = nlohmann::json::parse(j, nullptr, false);
    if (!doc.is_discarded() && doc.contains("ms")) ms = median(doc["ms"].get<std::vector<double>>());
  } else {
    std::ifstream l(dir / "log");
    std::string line;
    std::getline(l, line);
    why = "ONNX Runtime failed: " + (line.empty() ? std::string("see scripts/setup.sh (onnxruntime-node)") : clip(line, 200));
  }
  fs::remove_all(dir, ec);
  return ms;
}

// Training throughput: the full pipeline (threaded loader with the fine-tuning augmentations,
// forward, PPYoloE loss, backward, AdamW step) against forward+backward+step of the same model on
// random tensors of the same shape. The ratio says whether data loading or the loss is a bottleneck.
int benchmark_training(const Args& args) {
  const std::string data = args.str("data", "");
  if (data.empty()) throw Error("benchmark train=true needs data=data.yaml (any YOLO dataset, e.g. from yolonas synth)");
  DetectorOptions o;
  o.model = args.str("model", "yolo_nas_s");
  o.weights = args.str("weights", "");
  o.random_init = o.weights.empty();
  const int imgsz = args.imgsz(640), batch = args.integer("batch", 8);
  const int iters = args.integer("iters", 5), warmup = args.integer("warmup", 1);
  const int threads = set_threads(args.integer("threads", 2));
  check_input_size(imgsz, imgsz);
  const torch::Device device = parse_device(args.str("device", "cpu"));
  const AmpSettings amp = resolve_amp(args.str("amp", "auto"), args.str("amp_dtype", "auto"), device);
  std::optional<GradScaler> scaler;
  if (amp.scaler) scaler.emplace();
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  };
  DataSplit split = load_split(open_dataset(data), "train");
  o.num_classes = static_cast<int>(split.names.size());
  LoadedModel lm = load_model(o);
  YoloNAS& model = lm.model;
  if (lm.meta.arch.num_classes != o.num_classes)
    throw Error("the model has " + std::to_string(lm.meta.arch.num_classes) + " classes, the data " +
                std::to_string(o.num_classes));
  model->train();
  model->to(device);
  OptimConfig oc;
  auto opt = make_optimizer(*model, oc);
  PPYoloELossOptions lo;
  lo.num_classes = o.num_classes;
  PPYoloELoss loss(lo);
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };

  // One optimizer step as the trainer makes it (train/trainer.cpp): autocast forward, float32 loss,
  // scaled backward, unscale + step.
  auto step = [&](const torch::Tensor& xb, const torch::Tensor* targets) {
    YoloNASOutput out;
    {
      AutocastScope autocast(amp, device);
      out = model->forward(xb);
    }
    if (amp.enabled)
      for (torch::Tensor* t : {&out.pred_bboxes, &out.pred_scores, &out.cls_logits, &out.reg_distri})
        if (t->defined()) *t = t->to(torch::kFloat32);
    torch::Tensor l = targets ? loss(out, *targets).loss : out.cls_logits.mean() + out.reg_distri.mean();
    (scaler ? scaler->scale(l) : l).backward();
    std::vector<torch::Tensor> params = model->parameters();
    const bool finite = scaler ? scaler->unscale_(params) : true;
    if (finite) opt->step();
    if (scaler) scaler->update(finite);
    opt->zero_grad();
  };
  // Raw: random tensors already on the device, forward + backward + step.
  torch::Tensor x = torch::rand({batch, 3, imgsz, imgsz}).to(device);
  std::vector<double> raw;
  for (int i = 0; i < warmup + iters; ++i) {
    sync();
    const auto t0 = clock::now();
    step(x, nullptr);
    sync();
    if (i >= warmup) raw.push_back(secs(t0));
  }
  // Full pipeline.
  LoaderConfig lc;
  lc.height = lc.width = imgsz;
  lc.batch_size = batch;
  lc.workers = args.integer("workers", 1);
  lc.batches_per_epoch = warmup + iters;
  DataLoader loader(std::move(split), lc);
  loader.start_epoch(0);
  Batch b;
  std::vector<double> full;
  for (int i = 0; i < warmup + iters; ++i) {
    const auto t0 = clock::now();  // waiting for the next batch counts
    if (!loader.next(b)) break;
    auto xb = torch::from_blob(b.images.data(), {b.batch_size, 3, b.height, b.width}, torch::kFloat32).to(device);
    auto tb = torch::from_blob(b.targets.data(), {static_cast<int64_t>(b.num_targets()), 6}, torch::kFloat32).to(device);
    step(xb, &tb);
    sync();
    if (i >= warmup) full.push_back(secs(t0));
  }
  const double raw_ips = batch / median(raw), full_ips = full.empty() ? 0 : batch / median(full);
  std::printf("training %s imgsz %d batch %d on %s (%d threads, %d loader workers, amp %s): raw forward+backward "
              "%.2f images/s, full pipeline %.2f images/s (%.0f%%), peak RSS %.0f MiB\n",
              lm.meta.model_name.c_str(), imgsz, batch, device.str().c_str(), threads, lc.workers,
              amp.describe().c_str(), raw_ips, full_ips, 100.0 * full_ips / raw_ips, peak_rss_mib());
  return 0;
}

// A model file (.ynas) on the runtime: start-up (load, then the first inference, which creates the
// primitives and reorders the weights) and then the steady speed, per batch and thread count.
int benchmark_model_file(const Args& args, const std::string& path) {
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  const int iters = args.integer("iters", 5), warmup = args.integer("warmup", 1);
  std::vector<int> batches = args.int_list("batches"), threads = args.int_list("threads");
  if (batches.empty()) batches = {1, 8};
  if (threads.empty()) threads = {1, 2};
  rt::set_runtime_threads(threads.back());
  // Start-up, measured first in this process (before anything has warmed oneDNN's caches).
  const auto t0 = clock::now();
  ModelFile mf = read_model_file(path);
  const auto t1 = clock::now();
  const int h = mf.info.preprocessing.input_h, w = mf.info.preprocessing.input_w;
  const std::string label = mf.int8 ? "ynas-int8" : "ynas-fp32";
  OnednnEngine engine(std::move(mf.graph), std::move(mf.int8), mf.int8_note);
  std::vector<float> x(static_cast<size_t>(3) * h * w, 0.5f), boxes, scores;
  const auto t2 = clock::now();
  engine.net(1, h, w);
  const auto t3 = clock::now();
  engine.run(x.data(), 1, h, w, boxes, scores);
  const auto t4 = clock::now();
  std::printf("start-up of %s (%s, %dx%d, %d threads): read %.0f ms + net creation %.0f ms + first inference %.0f ms = "
              "%.0f ms\n",
              path.c_str(), label.c_str(), h, w, threads.back(), ms(t0, t1), ms(t2, t3), ms(t3, t4), ms(t0, t4));
  const std::string out_dir =
      make_run_dir(args.str("project", "runs/detect"), args.str("name", "benchmark"), args.boolean("exist_ok", false));
  std::ostringstream csv;
  csv << "model,engine,imgsz,batch,threads,ms_per_image,ms_per_batch,images_per_s,startup_ms\n";
  std::printf("%-12s %-10s %6s %6s %8s %14s %14s\n", "model", "engine", "imgsz", "batch", "threads", "ms/image", "images/s");
  bool first_row = true;
  for (int b : batches) {
    std::vector<float> xb(static_cast<size_t>(b) * 3 * h * w, 0.5f);
    for (int t : threads) {
      rt::set_runtime_threads(t);
      // Primitives are created for the thread count in effect: a fresh engine per thread count.
      OnednnEngine fresh(engine.graph(), engine.int8_plan() ? std::optional<DnnInt8>(*engine.int8_plan()) : std::nullopt);
      std::vector<double> times;
      for (int i = 0; i < warmup + iters; ++i) {
        const auto a = clock::now();
        fresh.run(xb.data(), b, h, w, boxes, scores);
        if (i >= warmup) times.push_back(ms(a, clock::now()));
      }
      const double med = median(times);
      std::printf("%-12s %-10s %6d %6d %8d %14.1f %14.2f\n", mf.info.model_name.c_str(), label.c_str(), h, b, t, med / b,
                  1000.0 * b / med);
      if (args.boolean("profile", false)) print_profile(fresh.net(b, h, w), xb.data(), iters);
      csv << mf.info.model_name << "," << label << "," << h << "," << b << "," << t << "," << med / b << "," << med << ","
          << 1000.0 * b / med << "," << (first_row ? std::to_string(ms(t0, t4)) : std::string()) << "\n";
      first_row = false;
    }
  }
  std::printf("peak RSS %.0f MiB\n", peak_rss_mib());
  write_file_atomic(out_dir + "/benchmark.csv", csv.str());
  std::printf("Results saved to %s\n", out_dir.c_str());
  return 0;
}

// Accuracy beside speed (data=): every engine asked for, and FP32 as the reference, scored with
// COCO mAP on the dataset's split; a table of engine, ms/image, mAP50-95, mAP50 and the drop from
// FP32, also written as accuracy.csv. INT8 calibrates on calib= or the dataset's train split (never
// on the images it is scored on, unless the dataset has nothing else: then it says so).
void accuracy_table(const Args& args, const DetectorOptions& base, const std::vector<std::string>& engines,
                    const std::string& out_dir) {
  const std::string data = args.str("data", "");
  const std::string split = args.str("split", "val");
  std::optional<DataYaml> dataset;
  const EvalSet set = open_eval_set(data, split, "", &dataset);
  std::vector<std::string> calib;
  if (args.has("calib")) {
    calib = calibration_images(args.str("calib", ""));
  } else if (dataset && dataset->splits.count("train") && split != "train") {
    for (const LabeledImage& s : load_split(*dataset, "train").samples) calib.push_back(s.image);
  }
  std::vector<std::string> order = {"onednn"};  // FP32 first: the reference
  for (const auto& e : engines)
    if ((e == "int8" || e == "bf16") && std::find(order.begin(), order.end(), e) == order.end()) order.push_back(e);
  EvalOptions eo;
  eo.batch = args.integer_in("batch", 1, 1, 1024);
  eo.progress = false;
  std::printf("\naccuracy on %s (%s, %zu images), batch %d%s:\n", clip(data).c_str(), split.c_str(),
              set.image_paths.size(), eo.batch, base.random_init ? " (random weights: pass weights= to score a trained model)" : "");
  std::printf("%-8s %10s %10s %10s %14s  %s\n", "engine", "ms/image", "mAP50-95", "mAP50", "drop vs FP32", "");
  std::ostringstream csv;
  csv << std::setprecision(10) << "engine,ms_per_image,map50_95,map50,drop_points\n";
  double ref = -1;
  for (const std::string& engine : order) {
    if (engine == "bf16" && !cpu_has_bf16()) continue;
    DetectorOptions o = base;
    o.engine = engine;
    o.fuse = "full";
    std::string note;
    if (engine == "int8") {
      o.quantize = quantize_options(args);
      o.calibration_images = calib.empty() ? set.image_paths : calib;
      // The images calibration reads (up to max_calibration_images of the list, evenly spread).
      const std::vector<std::string> used = calibration_subset(o.calibration_images, o.quantize.max_calibration_images);
      size_t shared = 0;
      for (const auto& c : used) shared += std::count(set.image_paths.begin(), set.image_paths.end(), c) > 0 ? 1 : 0;
      note = "(calibrated on " + std::to_string(used.size()) + " of " + std::to_string(o.calibration_images.size()) + " images" +
             (shared == 0 ? ", none of them scored)" : ", " + std::to_string(shared) + " of them scored)");
    }
    Detector det = Detector::load(o);
    const EvalResult r = evaluate(det.engine(), det.names(), det.preprocessing(), set, eo);
    if (!r.coco) continue;
    const double map = r.coco->stats[0], map50 = r.coco->stats[1];
    if (ref < 0) ref = map;
    const double drop = 100.0 * (ref - map);
    std::printf("%-8s %10.1f %10.4f %10.4f %13.2f pt  %s\n", engine == "onednn" ? "fp32" : engine.c_str(),
                r.inference_ms, map, map50, drop, note.c_str());
    csv << (engine == "onednn" ? "fp32" : engine) << "," << r.inference_ms << "," << map << "," << map50 << "," << drop
        << "\n";
  }
  write_file_atomic(out_dir + "/accuracy.csv", csv.str());
}

}  // namespace

int cmd_benchmark(const Args& args) {
  args.check_known({"model", "weights", "imgsz", "batches", "threads", "iters", "warmup", "fuse", "project", "name",
                    "exist_ok", "ema", "train", "data", "batch", "workers", "device", "engine", "profile", "half",
                    "amp", "amp_dtype", "split", "calib", "calib_method", "percentile", "int8_select", "int8_heads", "int8_budget"});
  if (args.boolean("train", false)) return benchmark_training(args);
  for (const char* key : {"model", "weights"})
    if (is_model_file(args.str(key, ""))) return benchmark_model_file(args, args.str(key, ""));
  DetectorOptions o;
  o.model = args.str("model", "yolo_nas_s");
  o.weights = args.str("weights", "");
  o.prefer_ema = args.boolean("ema", true);
  // Speed does not depend on the weights' values: without weights, benchmark a random init.
  o.random_init = o.weights.empty();
  const int imgsz = args.imgsz(640);
  check_input_size(imgsz, imgsz);
  const int iters = args.integer("iters", 5), warmup = args.integer("warmup", 1);
  if (iters <= 0 || warmup < 0) throw Error("iters must be positive and warmup non-negative");
  std::vector<int> batches = args.int_list("batches"), threads = args.int_list("threads");
  if (batches.empty()) batches = {1, 8};
  if (threads.empty()) threads = {1, 2};
  const auto fuses = split_list(args.str("fuse", "none,partial,full"));
  for (const auto& f : fuses) parse_fuse_mode(f);
  const auto engines = split_list(args.str("engine", "libtorch,onednn"));
  for (const auto& e : engines)
    if (e != "libtorch" && e != "onednn" && e != "int8" && e != "bf16" && e != "ort")
      throw Error("engine=" + e + ": expected libtorch, onednn, int8, bf16 or ort (ONNX Runtime, through node)");
  const torch::Device device = parse_device(args.str("device", "cpu"));
  // On a GPU the timing waits for the kernels; the CPU thread count is then irrelevant.
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  };
  if (device.is_cuda() && !args.has("threads")) threads = {0};

  const std::string out_dir =
      make_run_dir(args.str("project", "runs/detect"), args.str("name", "benchmark"), args.boolean("exist_ok", false));
  std::ostringstream csv;
  csv << "model,fuse,imgsz,batch,threads,ms_per_image,ms_per_batch,images_per_s\n";
  std::printf("%-12s %-8s %6s %6s %8s %14s %14s\n", "model", "fuse", "imgsz", "batch", "threads", "ms/image",
              "images/s");
  std::string model_name;
  auto report = [&](const std::string& label, int b, int t, std::vector<double>& times) {
    const double med = median(times);
    std::printf("%-12s %-8s %6d %6d %8d %14.1f %14.2f\n", model_name.c_str(), label.c_str(), imgsz, b, t, med / b,
                1000.0 * b / med);
    std::fflush(stdout);
    csv << model_name << "," << label << "," << imgsz << "," << b << "," << t << "," << med / b << "," << med << ","
        << 1000.0 * b / med << "\n";
  };
  for (const auto& engine : engines) {
    // The oneDNN runtime runs the fully fused model: one row per batch and thread count.
    const bool dnn = engine == "onednn" || engine == "int8" || engine == "bf16";
    if (engine == "bf16" && !cpu_has_bf16()) {
      std::printf("bf16 skipped: this CPU runs oneDNN's %s kernels, without AVX512-BF16\n", cpu_isa_name().c_str());
      continue;
    }
    if (engine == "ort") {
      LoadedModel lm = load_model(o);
      model_name = lm.meta.model_name;
      fuse_for_inference(lm.model, "full");
      const DnnGraph graph = build_dnn_graph(lm.model);
      for (int b : batches)
        for (int t : threads) {
          std::string why;
          const double ms = ort_batch_ms(graph, b, imgsz, imgsz, t, iters, warmup, why);
          if (ms < 0) {
            std::printf("%-12s %-8s skipped: %s\n", model_name.c_str(), "ort", why.c_str());
            continue;
          }
          std::vector<double> times = {ms};
          report("ort", b, t, times);
        }
      continue;
    }
    const std::vector<std::string> engine_fuses = dnn ? std::vector<std::string>{"full"} : fuses;
    for (const auto& fuse : engine_fuses) {
      LoadedModel lm = load_model(o);
      model_name = lm.meta.model_name;
      fuse_for_inference(lm.model, fuse);
      const std::string label = dnn ? engine : fuse;
      if (dnn) {
        if (device.is_cuda()) throw Error("engine=" + engine + " runs on the CPU; drop device=");
        const DnnGraph graph = build_dnn_graph(lm.model);
        // Speed does not depend on the calibration: two random images give the INT8 scales.
        std::unique_ptr<DnnInt8> plan;
        if (engine == "int8") {
          const torch::Tensor calib = torch::rand({2, 3, imgsz, imgsz});
          const float* p = calib.data_ptr<float>();
          Int8Options io;
          io.float_heads = quantize_options(args).float_heads;  // int8_heads=false keeps the heads FP32
          plan = std::make_unique<DnnInt8>(plan_int8(graph, calibrate_ranges(graph, imgsz, imgsz, {p, p + 3 * imgsz * imgsz}), io));
        }
        for (int b : batches) {
          const torch::Tensor x = torch::rand({b, 3, imgsz, imgsz});
          std::vector<float> boxes, scores;
          for (int t : threads) {
            if (t > 0) at::set_num_threads(t);
            // oneDNN splits the work for the thread count in effect when a primitive is created.
            OnednnNet::Options no;
            no.int8 = plan.get();
            no.bf16 = engine == "bf16";
            OnednnNet net(graph, b, imgsz, imgsz, no);
            if (b == batches.front() && t == threads.front()) {  // which kernels oneDNN picked on this CPU
              std::map<std::string, int> impls;
              for (const auto& s : net.conv_implementations()) ++impls[s];
              std::string line;
              for (const auto& [name, count] : impls) line += (line.empty() ? "" : ", ") + name + " x" + std::to_string(count);
              std::printf("oneDNN convolutions: %s; activations %.0f MiB (batch %d)\n", line.c_str(),
                          net.activation_bytes() / 1048576.0, b);
            }
            std::vector<double> times;
            for (int i = 0; i < warmup + iters; ++i) {
              const auto t0 = std::chrono::steady_clock::now();
              net.run(x.data_ptr<float>(), boxes, scores);
              const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
              if (i >= warmup) times.push_back(ms);
            }
            report(label, b, t, times);
            if (args.boolean("profile", false)) print_profile(net, x.data_ptr<float>(), iters);
          }
        }
        continue;
      }
      // half=true: float16 weights and inputs (GPUs); the label says so.
      const bool half = args.boolean("half", false);
      if (half && !device.is_cuda()) throw Error("half=true is for CUDA devices (float16 inference)");
      lm.model->to(device);
      if (half) lm.model->to(torch::kHalf);
      for (int b : batches) {
        torch::Tensor x = torch::rand({b, 3, imgsz, imgsz}).to(device);
        if (half) x = x.to(torch::kHalf);
        for (int t : threads) {
          if (t > 0) at::set_num_threads(t);
          c10::InferenceMode guard;
          std::vector<double> times;
          for (int i = 0; i < warmup + iters; ++i) {
            sync();
            const auto t0 = std::chrono::steady_clock::now();
            auto out = lm.model->forward_decoded(x);
            sync();
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            if (i >= warmup) times.push_back(ms);
          }
          report(label, b, t, times);
        }
      }
    }
  }
  std::printf("peak RSS %.0f MiB (whole benchmark process, largest batch included)\n", peak_rss_mib());
  write_file_atomic(out_dir + "/benchmark.csv", csv.str());
  if (args.has("data")) accuracy_table(args, o, engines, out_dir);
  std::printf("Results saved to %s\n", out_dir.c_str());
  return 0;
}

}  // namespace yolonas::cli
