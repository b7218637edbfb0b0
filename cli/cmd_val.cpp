// `yolonas val`: COCO mAP of a model on a dataset, or of an existing COCO results file.
//
//   yolonas val gt=instances.json pred=predictions.json            (no model: score a results file)
//   yolonas val model=yolo_nas_s weights=W data=data.yaml|instances.json [split=val conf=0.001 ...]
//
// Both print pycocotools' 12-line summary and a per-class table, and write metrics.json (+ plots and,
// with a model, predictions.json) to runs/detect/valN. metric=sg|both adds SuperGradients'
// DetectionMetrics (the number SG prints during training); see docs/EVAL.md.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <opencv2/imgcodecs.hpp>

#include "commands.h"
#include "yolonas/eval/coco_eval.h"
#include "yolonas/data/dataset.h"
#include "yolonas/api/detector.h"
#include "yolonas/core/error.h"
#include "yolonas/core/text.h"
#include "yolonas/eval/eval_plots.h"
#include "yolonas/core/progress.h"
#include "yolonas/core/files.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace yolonas::cli {
namespace {

const std::vector<std::string> kValKeys = {
    "model", "weights", "data",  "split",    "conf",   "iou",   "imgsz",         "batch",  "max_det",
    "save_json", "project", "name", "exist_ok", "threads", "fuse", "ema",        "random_init",
    "gt",    "pred",    "images", "metric",  "plots",  "zero_id_quirk", "verbose", "device", "engine", "calib"};

enum class Metric { Coco, Sg, Both };

Metric parse_metric(const Args& args) {
  const std::string m = args.str("metric", "coco");
  if (m == "coco") return Metric::Coco;
  if (m == "sg") return Metric::Sg;
  if (m == "both") return Metric::Both;
  throw Error("argument metric=" + m + ": expected coco, sg or both");
}

// Rounded the way Ultralytics writes results (boxes to 1/1000 px); scores keep 6 decimals so that
// ranking ties stay rare. The rounded doubles are what we evaluate and what we write, so pycocotools
// on the written file reproduces the printed numbers.
double round_to(double v, double scale) { return std::round(v * scale) / scale; }

CocoDetection to_coco_detection(const Detection& d, int64_t image_id, int64_t category_id) {
  CocoDetection c;
  c.image_id = image_id;
  c.category_id = category_id;
  const double x1 = d.x1, y1 = d.y1, x2 = d.x2, y2 = d.y2;
  c.bbox[0] = round_to(x1, 1e3);
  c.bbox[1] = round_to(y1, 1e3);
  c.bbox[2] = round_to(x2 - x1, 1e3);
  c.bbox[3] = round_to(y2 - y1, 1e3);
  c.score = round_to(d.score, 1e6);
  return c;
}

void warn_about_zero_ids(const CocoDataset& gt, bool quirk) {
  const bool has_zero = std::any_of(gt.annotations.begin(), gt.annotations.end(),
                                    [](const CocoAnnotation& a) { return a.id == 0 && !a.iscrowd; });
  if (!has_zero) return;
  std::cerr << "warning: " << gt.source << " has an annotation with id 0. pycocotools "
            << (quirk ? "counts a detection matched to it as a false positive, and so does this evaluation (to "
                        "give pycocotools' numbers); zero_id_quirk=false scores it normally.\n"
                      : "would count a detection matched to it as a false positive; zero_id_quirk=false scores it "
                        "normally, so these numbers differ from pycocotools'.\n");
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

json stats_json(const CocoEvalResult& r) {
  json j = json::object();
  for (size_t i = 0; i < 12; ++i) j[coco_stat_names()[i]] = r.stats[i];
  return j;
}

json per_class_json(const CocoEvalResult& r, const PrfCurves& curves) {
  json arr = json::array();
  for (size_t k = 0; k < r.cat_ids.size(); ++k) {
    json c = {{"class", k},
              {"category_id", r.cat_ids[k]},
              {"name", r.names[k]},
              {"images", r.class_num_images[k]},
              {"instances", r.class_num_gt[k]},
              {"AP", r.class_ap[k]},
              {"AP50", r.class_ap50[k]}};
    for (size_t i = 0; i < curves.classes.size(); ++i)
      if (static_cast<size_t>(curves.classes[i]) == k) {
        c["P"] = curves.best_p[i];
        c["R"] = curves.best_r[i];
        c["F1"] = curves.best_f1[i];
      }
    arr.push_back(c);
  }
  return arr;
}

json sg_json(const SgMetricsResult& s, const std::vector<std::string>& names) {
  json j = {{"mAP@0.50:0.95", s.map},
            {"Precision@0.50:0.95", s.precision},
            {"Recall@0.50:0.95", s.recall},
            {"F1@0.50:0.95", s.f1},
            {"Best_score_threshold", s.best_score_threshold}};
  json per = json::object();
  for (int k : s.present_classes) {
    const std::string name = static_cast<size_t>(k) < names.size() ? names[static_cast<size_t>(k)] : std::to_string(k);
    per[name] = {{"AP", s.class_ap[static_cast<size_t>(k)]},
                 {"P", s.class_precision[static_cast<size_t>(k)]},
                 {"R", s.class_recall[static_cast<size_t>(k)]},
                 {"F1", s.class_f1[static_cast<size_t>(k)]},
                 {"best_score_threshold", s.class_best_score_threshold[static_cast<size_t>(k)]}};
  }
  j["per_class"] = per;
  return j;
}

void print_sg(const SgMetricsResult& s, const std::string& note) {
  std::printf("SuperGradients DetectionMetrics (%s):\n", note.c_str());
  std::printf("  mAP@0.50:0.95 = %.4f   Precision@0.50:0.95 = %.4f   Recall@0.50:0.95 = %.4f   F1@0.50:0.95 = %.4f"
              "   Best_score_threshold = %.2f\n",
              s.map, s.precision, s.recall, s.f1, s.best_score_threshold);
}

// What both modes do once ground truth and detections are in COCO form: evaluate, print, write.
struct Report {
  json metrics = json::object();
  std::string run_dir;
};

void evaluate_and_report(const CocoDataset& gt, const std::vector<CocoDetection>& dets, const Args& args,
                         Report& report) {
  CocoEvalParams params = CocoEvalParams::bbox();
  params.zero_gt_id_quirk = args.boolean("zero_id_quirk", true);
  warn_about_zero_ids(gt, params.zero_gt_id_quirk);

  const CocoEvalResult res = evaluate_coco(gt, dets, params);
  const PrfCurves curves = compute_prf_curves(res);
  std::cout << res.summary();
  std::cout << format_class_table(res, curves, static_cast<int>(gt.images.size()));
  std::fprintf(stderr, "COCO evaluation: %.2f s (%zu images, %zu detections)\n",
               res.seconds_evaluate + res.seconds_accumulate, gt.images.size(), dets.size());

  report.metrics["coco"] = stats_json(res);
  report.metrics["stats"] = res.stats;
  report.metrics["best_f1_conf"] = curves.best_conf;
  report.metrics["precision"] = curves.mean_p;
  report.metrics["recall"] = curves.mean_r;
  report.metrics["f1"] = curves.mean_f1;
  report.metrics["per_class"] = per_class_json(res, curves);
  report.metrics["num_images"] = gt.images.size();
  report.metrics["num_detections"] = dets.size();

  if (args.boolean("plots", true)) {
    const fs::path dir(report.run_dir);
    const std::vector<std::string> names = gt.names();
    save_pr_curve_png((dir / "PR_curve.png").string(), res);
    save_conf_curve_png((dir / "F1_curve.png").string(), curves, names, CurveKind::F1);
    save_conf_curve_png((dir / "P_curve.png").string(), curves, names, CurveKind::Precision);
    save_conf_curve_png((dir / "R_curve.png").string(), curves, names, CurveKind::Recall);
    ConfusionMatrix cm(gt.num_classes());
    cm.add_coco(gt, dets);
    save_confusion_matrix_png((dir / "confusion_matrix.png").string(), cm, names, false);
    save_confusion_matrix_png((dir / "confusion_matrix_normalized.png").string(), cm, names, true);
  }
}

void write_metrics(const Report& report) {
  const std::string path = (fs::path(report.run_dir) / "metrics.json").string();
  write_file_atomic(path, report.metrics.dump(2) + "\n");
  std::cout << "Results saved to " << report.run_dir << "\n";
}

// ---- mode 1: gt=instances.json pred=predictions.json -----------------------------------------

int val_results_file(const Args& args) {
  std::string gt_path = args.str("gt", "");
  if (gt_path.empty() && ends_with(args.str("data", ""), ".json")) gt_path = args.str("data", "");
  if (gt_path.empty()) throw Error("val pred=...: also give gt=instances.json (the ground truth)");
  const std::string pred_path = args.str("pred", "");
  const Metric metric = parse_metric(args);

  const CocoDataset gt = load_coco_json(gt_path);
  print_notes(gt.notes, gt_path);
  const std::vector<CocoDetection> dets = load_coco_results(pred_path, gt);

  Report report;
  report.run_dir = make_run_dir(args.str("project", "runs/detect"), args.str("name", "val"), args.boolean("exist_ok", false));
  report.metrics["gt"] = gt_path;
  report.metrics["pred"] = pred_path;
  if (metric != Metric::Sg) evaluate_and_report(gt, dets, args, report);
  if (metric != Metric::Coco) {
    // Without the model the network-input canvas is unknown, so boxes are not clipped to it.
    const SgMetricsResult sg = sg_detection_metrics(sg_images_from_coco(gt, dets, true), gt.num_classes());
    print_sg(sg, "top 300 per class and image, images without annotations dropped, no clipping");
    report.metrics["sg"] = sg_json(sg, gt.names());
  }
  write_metrics(report);
  return 0;
}

// ---- mode 2: a model on a dataset --------------------------------------------------------------

// The evaluation set in COCO form plus the image files, whatever the source format.
struct ValSet {
  std::vector<std::string> image_paths;
  CocoDataset gt;            // COCO source: loaded; YOLO source: built after the images are read
  bool from_yolo = false;
  YoloSplit yolo;
  std::optional<DataYaml> dataset;  // data= other than one json (its train split calibrates INT8)
};

ValSet load_val_set(const Args& args) {
  const std::string data = args.str("data", "");
  if (data.empty()) throw Error("val: give data=data.yaml, a COCO or VOC dataset folder, or data=instances.json (or gt= and pred=)");
  ValSet set;
  auto use_coco = [&](CocoDataset gt, const std::string& json_path, const std::string& images_dir) {
    set.gt = std::move(gt);
    print_notes(set.gt.notes, json_path);
    const std::string root = resolve_coco_image_root(set.gt, json_path, images_dir);
    for (const CocoImage& im : set.gt.images) set.image_paths.push_back((fs::path(root) / im.file_name).string());
  };
  if (ends_with(data, ".json")) {
    // One json is the ground truth as pycocotools reads it: a malformed annotation stops here.
    use_coco(load_coco_json(data), data, args.str("images", ""));
  } else {
    set.dataset = open_dataset(data);
    const DataYaml& d = *set.dataset;
    const std::string split = args.str("split", "val");
    if (d.format == DataFormat::Coco) {
      if (!d.coco.count(split)) throw Error(data + ": no '" + split + "' split (split= chooses one)");
      auto dir = d.image_dirs.find(split);
      use_coco(*d.coco.at(split), d.splits.at(split).front(),
               args.str("images", dir == d.image_dirs.end() ? "" : dir->second));
    } else {
      set.yolo = load_split(d, split);
      set.from_yolo = true;
      print_notes(set.yolo.issues, data + " labels");
      if (set.yolo.format == DataFormat::Yolo && set.yolo.missing_label_files > 0)
        std::cerr << set.yolo.missing_label_files << " of " << set.yolo.samples.size()
                  << " images have no label file (background images)\n";
      for (const YoloSample& s : set.yolo.samples) set.image_paths.push_back(s.image);
    }
  }
  if (set.image_paths.empty()) throw Error("val: " + data + " lists no images");
  return set;
}

// COCO ground truth without the images that could not be read (they have no size and no predictions).
CocoDataset without_images(const CocoDataset& gt, const std::vector<uint8_t>& unreadable) {
  CocoDataset out;
  out.source = gt.source;
  out.categories = gt.categories;
  std::unordered_map<int64_t, bool> dropped;
  for (size_t i = 0; i < gt.images.size(); ++i) {
    if (unreadable[i]) dropped[gt.images[i].id] = true;
    else out.images.push_back(gt.images[i]);
  }
  for (const CocoAnnotation& a : gt.annotations)
    if (!dropped.count(a.image_id)) out.annotations.push_back(a);
  out.build_index();
  return out;
}

// SG's view of one image: targets and predictions in network-input pixels (SG evaluates after the
// letterbox), predictions clipped to the input canvas.
SgImage sg_image_in_network_space(const CocoDataset& gt, const std::vector<const CocoAnnotation*>& anns,
                                  const ImageResult& r, const PreprocessParams& pp, float min_score, int num_classes) {
  SgImage img;
  const Letterbox& lb = r.letterbox;
  auto to_net = [&](double x1, double y1, double x2, double y2, int cls, float score) {
    SgBox b;
    b.x1 = static_cast<float>(x1 * lb.scale + lb.pad_left), b.y1 = static_cast<float>(y1 * lb.scale + lb.pad_top);
    b.x2 = static_cast<float>(x2 * lb.scale + lb.pad_left), b.y2 = static_cast<float>(y2 * lb.scale + lb.pad_top);
    b.cls = cls;
    b.score = score;
    return b;
  };
  for (const CocoAnnotation* a : anns) {
    SgBox b = to_net(a->bbox[0], a->bbox[1], a->bbox[0] + a->bbox[2], a->bbox[1] + a->bbox[3],
                     gt.class_index(a->category_id), 0);
    (a->iscrowd ? img.crowd : img.targets).push_back(b);
  }
  for (const Detection& d : r.detections)
    if (d.score > min_score && d.cls >= 0 && d.cls < num_classes) img.preds.push_back(to_net(d.x1, d.y1, d.x2, d.y2, d.cls, d.score));
  img.clip_w = static_cast<float>(pp.input_w);
  img.clip_h = static_cast<float>(pp.input_h);
  return img;
}

// Model class -> dataset class (-1: a class the dataset lacks). Same names in the same order:
// identity. Otherwise, when some names are shared, classes are matched by name (a VOC folder's
// sorted names, a dataset with a subset or a superset of the model's classes): a model class the
// dataset lacks is ignored and a dataset class the model lacks scores 0, which is what these numbers
// mean. No shared name (renamed or numbered classes): by index, with a warning.
std::vector<int> map_classes(const std::vector<std::string>& model, const std::vector<std::string>& data) {
  std::vector<int> map(model.size(), -1);
  for (size_t k = 0; k < model.size() && k < data.size(); ++k) map[k] = static_cast<int>(k);
  if (model == data) return map;
  std::map<std::string, int> index_in_data;
  for (size_t k = 0; k < data.size(); ++k) index_in_data.emplace(data[k], static_cast<int>(k));
  std::vector<int> by_name(model.size(), -1);
  int shared = 0;
  for (size_t k = 0; k < model.size(); ++k) {
    auto it = index_in_data.find(model[k]);
    if (it != index_in_data.end()) by_name[k] = it->second, ++shared;
  }
  if (shared > 0 && index_in_data.size() == data.size()) {
    std::vector<std::string> missing;
    for (const std::string& n : data)
      if (std::find(model.begin(), model.end(), n) == model.end()) missing.push_back(n);
    std::cerr << "note: the model's classes are not the dataset's in the same order: detections are matched to the "
                 "dataset's classes by name ("
              << shared << " shared)";
    if (!missing.empty()) {
      std::cerr << "; the model has no class";
      for (size_t i = 0; i < missing.size() && i < 8; ++i) std::cerr << (i ? ", '" : " '") << missing[i] << "'";
      if (missing.size() > 8) std::cerr << ", ...";
      std::cerr << " (these score 0)";
    }
    std::cerr << "\n";
    return by_name;
  }
  std::cerr << "warning: the model's classes (" << model.size() << ") share no name with the dataset's ("
            << data.size() << "): classes are compared by index";
  if (model.size() > data.size()) std::cerr << ", and detections of classes >= " << data.size() << " are ignored";
  std::cerr << "\n";
  return map;
}

int val_model(const Args& args) {
  const Metric metric = parse_metric(args);
  DetectorOptions opt = detector_options(args);

  NmsParams nms = NmsParams::valid_defaults();  // SG's validation NMS: top 1000 candidates, 300 kept
  nms.conf = static_cast<float>(args.real_in("conf", metric == Metric::Sg ? 0.01 : 0.001, 0, 1));
  nms.iou = static_cast<float>(args.real_in("iou", 0.7, 0, 1));
  nms.max_det = args.integer("max_det", 300);
  const int batch = std::max(1, args.integer("batch", 8));
  const float sg_min_score = 0.01f;
  if (metric != Metric::Coco && nms.conf > sg_min_score)
    std::cerr << "warning: conf=" << nms.conf << " is above SG's 0.01: the SG metric sees fewer detections than SG would\n";

  ValSet set = load_val_set(args);
  if (opt.engine == "int8" && opt.calibration_images.empty()) {
    // Calibrate on the dataset's training images when it has them: not on the images scored.
    const bool from_train = set.dataset && set.dataset->splits.count("train") && args.str("split", "val") != "train";
    if (from_train) {
      for (const YoloSample& s : load_split(*set.dataset, "train").samples) opt.calibration_images.push_back(s.image);
    } else {
      std::cerr << "warning: engine=int8 calibrates on the evaluated images (no train split; calib= chooses others)\n";
      opt.calibration_images = set.image_paths;
    }
  }
  Detector det = Detector::load(opt);
  std::cerr << det.describe() << "\n";
  const int num_classes = set.from_yolo ? static_cast<int>(set.yolo.names.size()) : set.gt.num_classes();
  const std::vector<int> cls_map = map_classes(det.names(), set.from_yolo ? set.yolo.names : set.gt.names());

  const size_t N = set.image_paths.size();
  std::vector<ImageResult> results(N);
  std::vector<ImageSize> sizes(N);
  std::vector<uint8_t> unreadable(N, 0);
  std::vector<DatasetIssue> image_issues;
  double pre_ms = 0, inf_ms = 0, post_ms = 0;
  {
    Progress bar("val", static_cast<int64_t>(N));
    for (size_t start = 0; start < N; start += static_cast<size_t>(batch)) {
      const size_t end = std::min(N, start + static_cast<size_t>(batch));
      std::vector<cv::Mat> images;
      std::vector<size_t> index;
      for (size_t i = start; i < end; ++i) {
        cv::Mat im;  // a FIFO or device would block imread: regular files only
        if (file_problem(set.image_paths[i]).empty()) im = cv::imread(set.image_paths[i], cv::IMREAD_COLOR);
        if (im.empty()) {
          unreadable[i] = 1;
          image_issues.push_back({set.image_paths[i], 0,
                                  fs::exists(set.image_paths[i]) ? IssueKind::UnreadableImage : IssueKind::MissingImage,
                                  "cannot read the image: left out of the evaluation"});
          continue;
        }
        sizes[i] = {im.cols, im.rows};
        images.push_back(std::move(im));
        index.push_back(i);
      }
      std::vector<ImageResult> out = det.predict(images, nms);
      for (ImageResult& r : out)
        for (Detection& d : r.detections)
          d.cls = d.cls >= 0 && static_cast<size_t>(d.cls) < cls_map.size() ? cls_map[static_cast<size_t>(d.cls)] : -1;
      for (size_t j = 0; j < out.size(); ++j) {
        pre_ms += out[j].preprocess_ms, inf_ms += out[j].inference_ms, post_ms += out[j].postprocess_ms;
        results[index[j]] = std::move(out[j]);
      }
      bar.update(static_cast<int64_t>(end));
    }
    bar.finish();
  }
  print_notes(image_issues, "images");

  // Ground truth in COCO form, over the images that were read.
  CocoDataset gt;
  std::vector<size_t> gt_pos_of_image(N, SIZE_MAX);
  if (set.from_yolo) {
    YoloSplit kept;
    kept.names = set.yolo.names;
    std::vector<ImageSize> kept_sizes;
    for (size_t i = 0; i < N; ++i)
      if (!unreadable[i]) {
        gt_pos_of_image[i] = kept.samples.size();
        kept.samples.push_back(set.yolo.samples[i]);
        kept_sizes.push_back(sizes[i]);
      }
    gt = coco_from_yolo(kept, kept_sizes);
  } else {
    gt = without_images(set.gt, unreadable);
    for (size_t i = 0, pos = 0; i < N; ++i)
      if (!unreadable[i]) gt_pos_of_image[i] = pos++;
  }
  if (gt.images.empty()) throw Error("val: no image could be read");

  std::vector<CocoDetection> dets;
  long foreign = 0;
  for (size_t i = 0; i < N; ++i) {
    if (unreadable[i]) continue;
    const int64_t image_id = gt.images[gt_pos_of_image[i]].id;
    for (const Detection& d : results[i].detections) {
      if (!std::isfinite(d.x1) || !std::isfinite(d.y1) || !std::isfinite(d.x2) || !std::isfinite(d.y2)) continue;
      if (d.cls < 0 || d.cls >= num_classes) {
        ++foreign;
        continue;
      }
      dets.push_back(to_coco_detection(d, image_id, gt.category_id(d.cls)));
    }
  }
  if (foreign > 0) std::cerr << foreign << " detections of classes the dataset does not have were ignored\n";

  Report report;
  report.run_dir = make_run_dir(args.str("project", "runs/detect"), args.str("name", "val"), args.boolean("exist_ok", false));
  report.metrics["model"] = det.describe();
  report.metrics["data"] = args.str("data", "");
  report.metrics["nms"] = {{"conf", nms.conf}, {"iou", nms.iou}, {"top_k", nms.top_k}, {"max_det", nms.max_det}};
  const double n_read = static_cast<double>(gt.images.size());
  report.metrics["speed_ms_per_image"] = {
      {"preprocess", pre_ms / n_read}, {"inference", inf_ms / n_read}, {"postprocess", post_ms / n_read}};

  if (args.boolean("save_json", true)) {
    const std::string path = (fs::path(report.run_dir) / "predictions.json").string();
    write_file_atomic(path, coco_results_to_json(dets));
    std::cerr << "predictions: " << path << " (" << dets.size() << " detections)\n";
  }
  if (metric != Metric::Sg) evaluate_and_report(gt, dets, args, report);
  if (metric != Metric::Coco) {
    std::vector<std::vector<const CocoAnnotation*>> anns_of(gt.images.size());
    for (const CocoAnnotation& a : gt.annotations) anns_of[static_cast<size_t>(gt.image_index(a.image_id))].push_back(&a);
    std::vector<SgImage> sg_images;
    for (size_t i = 0; i < N; ++i) {
      if (unreadable[i]) continue;
      const auto& anns = anns_of[gt_pos_of_image[i]];
      if (anns.empty()) continue;  // SG's COCO dataset drops images without annotations
      sg_images.push_back(
          sg_image_in_network_space(gt, anns, results[i], det.preprocessing(), sg_min_score, num_classes));
    }
    const SgMetricsResult sg = sg_detection_metrics(sg_images, num_classes);
    print_sg(sg, "NMS conf 0.01 / top 1000 / 300 kept, top 300 per class, images without annotations dropped");
    report.metrics["sg"] = sg_json(sg, gt.names());
  }
  std::printf("Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image\n", pre_ms / n_read,
              inf_ms / n_read, post_ms / n_read);
  write_metrics(report);
  return 0;
}

}  // namespace

int cmd_val(const Args& args) {
  args.check_known(kValKeys);
  if (args.has("pred")) return val_results_file(args);
  return val_model(args);
}

}  // namespace yolonas::cli
