// `yolonas val`: COCO mAP of a model on a dataset, or of an existing COCO results file. The work is
// the evaluation library's (eval/evaluator.h); this file reads the keys and writes the run folder.
//
//   yolonas val gt=instances.json pred=predictions.json            (no model: score a results file)
//   yolonas val model=yolo_nas_s weights=W data=data.yaml|instances.json [split=val conf=0.001 ...]
//
// Both print pycocotools' 12-line summary and a per-class table, and write metrics.json (+ plots and,
// with a model, predictions.json) to runs/detect/valN. metric=sg|both adds SuperGradients'
// DetectionMetrics (the number SG prints during training); see docs/EVAL.md.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "yolonas/api/detector.h"
#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/text.h"
#include "yolonas/eval/evaluator.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace yolonas::cli {
namespace {

const std::vector<std::string> kValKeys = {
    "model", "weights", "data",  "split",    "conf",   "iou",   "imgsz",         "batch",  "max_det",
    "save_json", "project", "name", "exist_ok", "threads", "fuse", "ema",        "random_init",
    "gt",    "pred",    "images", "metric",  "plots",  "zero_id_quirk", "verbose", "device", "engine", "calib",
    "calib_method", "percentile", "int8_select", "int8_heads", "int8_budget", "augment"};

EvalOptions eval_options(const Args& args) {
  EvalOptions o;
  const std::string m = args.str("metric", "coco");
  if (m != "coco" && m != "sg" && m != "both") throw Error("argument metric=" + clip(m, 40) + ": expected coco, sg or both");
  o.coco = m != "sg";
  o.sg = m != "coco";
  o.zero_id_quirk = args.boolean("zero_id_quirk", true);
  return o;
}

void print_notes(const std::vector<DatasetIssue>& issues, const std::string& what) {
  if (issues.empty()) return;
  int errors = 0;
  for (const auto& i : issues) errors += issue_is_error(i.kind);
  std::cerr << what << ": " << issues.size() << " issue" << (issues.size() > 1 ? "s" : "") << " (" << errors
            << " rows/images dropped)\n";
  const size_t shown = std::min<size_t>(issues.size(), 10);
  for (size_t i = 0; i < shown; ++i) std::cerr << "  " << issues[i].str() << "\n";
  if (issues.size() > shown) std::cerr << "  ... and " << issues.size() - shown << " more\n";
}

// Prints the report and writes metrics.json (+ plots) to the run folder.
void report(const EvalResult& r, const Args& args, const std::string& run_dir, json metrics, std::string* run_dir_out) {
  if (run_dir_out) *run_dir_out = run_dir;
  if (r.coco) {
    const std::string warning = zero_id_warning(r.gt, args.boolean("zero_id_quirk", true));
    if (!warning.empty()) std::cerr << warning << "\n";
  }
  std::cout << format_eval_report(r);
  if (r.coco)
    std::fprintf(stderr, "COCO evaluation: %.2f s (%zu images, %zu detections)\n",
                 r.coco->seconds_evaluate + r.coco->seconds_accumulate, r.gt.images.size(), r.detections.size());
  metrics.update(eval_metrics_json(r));
  if (args.boolean("plots", true)) save_eval_plots(r, run_dir);
  write_file_atomic((fs::path(run_dir) / "metrics.json").string(), metrics.dump(2) + "\n");
  std::cout << "Results saved to " << run_dir << "\n";
}

std::string run_dir(const Args& args) {
  return make_run_dir(args.str("project", "runs/detect"), args.str("name", "val"), args.boolean("exist_ok", false));
}

// ---- mode 1: gt=instances.json pred=predictions.json -----------------------------------------

int val_results_file(const Args& args, std::string* run_dir_out) {
  std::string gt_path = args.str("gt", "");
  if (gt_path.empty() && ends_with(lower(args.str("data", "")), ".json")) gt_path = args.str("data", "");
  if (gt_path.empty()) throw Error("val pred=...: also give gt=instances.json (the ground truth)");
  const std::string pred_path = args.str("pred", "");
  const EvalOptions opt = eval_options(args);
  CocoDataset gt = load_coco_json(gt_path);
  print_notes(gt.notes, gt_path);
  std::vector<CocoDetection> dets = load_coco_results(pred_path, gt);
  const EvalResult r = evaluate_results(std::move(gt), std::move(dets), opt);
  report(r, args, run_dir(args), {{"gt", gt_path}, {"pred", pred_path}}, run_dir_out);
  return 0;
}

// ---- mode 2: a model on a dataset --------------------------------------------------------------

int val_model(const Args& args, std::string* run_dir_out) {
  EvalOptions opt = eval_options(args);
  DetectorOptions dopt = detector_options(args);
  opt.nms.conf = static_cast<float>(args.real_in("conf", opt.coco ? 0.001 : 0.01, 0, 1));
  opt.nms.iou = static_cast<float>(args.real_in("iou", 0.7, 0, 1));
  opt.nms.max_det = args.integer("max_det", 300);
  opt.batch = args.integer_in("batch", 8, 1, 1024);
  if (opt.sg && opt.nms.conf > 0.01f)
    std::cerr << "warning: conf=" << opt.nms.conf << " is above SG's 0.01: the SG metric sees fewer detections than SG would\n";

  const std::string split = args.str("split", "val");
  std::optional<DataYaml> dataset;
  const EvalSet set = open_eval_set(args.str("data", ""), split, args.str("images", ""), &dataset);
  print_notes(set.notes, set.source);
  if (set.split && set.split->format == DataFormat::Yolo && set.split->missing_label_files > 0)
    std::cerr << set.split->missing_label_files << " of " << set.split->samples.size()
              << " images have no label file (background images)\n";
  if (dopt.engine == "int8" && dopt.calibration_images.empty()) {
    // Calibrate on the dataset's training images when it has them: not on the images scored.
    if (dataset && dataset->splits.count("train") && split != "train") {
      DataSplit train = load_split(*dataset, "train");
      for (const LabeledImage& s : train.samples) dopt.calibration_images.push_back(s.image);
      if (dopt.quantize.selective)  // the scan measures mAP on the training images, not on those scored
        dopt.quantize_eval = std::make_shared<const EvalSet>(eval_set_from_split(std::move(train), args.str("data", "") + " (train)"));
    } else {
      std::cerr << "warning: engine=int8 calibrates on the evaluated images (no train split; calib= chooses others)\n";
      dopt.calibration_images = set.image_paths;
    }
  }
  Detector det = Detector::load(dopt);
  std::cerr << det.describe() << "\n";

  const EvalResult r = evaluate(det.engine(), det.names(), det.preprocessing(), set, opt);
  for (const std::string& n : r.notes) std::cerr << n << "\n";
  print_notes(r.image_issues, "images");

  const std::string dir = run_dir(args);
  json metrics = {{"model", det.describe()},
                  {"data", args.str("data", "")},
                  {"nms", {{"conf", opt.nms.conf}, {"iou", opt.nms.iou}, {"top_k", opt.nms.top_k}, {"max_det", opt.nms.max_det}}},
                  {"speed_ms_per_image",
                   {{"preprocess", r.preprocess_ms}, {"inference", r.inference_ms}, {"postprocess", r.postprocess_ms}}}};
  if (args.boolean("save_json", true)) {
    const std::string path = (fs::path(dir) / "predictions.json").string();
    write_file_atomic(path, coco_results_to_json(r.detections));
    std::cerr << "predictions: " << path << " (" << r.detections.size() << " detections)\n";
  }
  report(r, args, dir, metrics, run_dir_out);
  std::printf("Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image\n", r.preprocess_ms,
              r.inference_ms, r.postprocess_ms);
  return 0;
}

}  // namespace

int cmd_val(const Args& args, std::string* run_dir_out) {
  args.check_known(kValKeys);
  if (args.has("pred")) return val_results_file(args, run_dir_out);
  return val_model(args, run_dir_out);
}

}  // namespace yolonas::cli
