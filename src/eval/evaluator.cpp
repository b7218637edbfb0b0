#include "yolonas/eval/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <unordered_map>

#include "yolonas/core/error.h"
#include "yolonas/core/progress.h"
#include "yolonas/core/text.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace yolonas {

// ---- evaluation sets --------------------------------------------------------------------------------

EvalSet eval_set_from_split(DataSplit split, const std::string& source) {
  EvalSet set;
  set.source = source;
  set.names = split.names;
  set.notes = split.issues;
  for (const LabeledImage& s : split.samples) set.image_paths.push_back(s.image);
  set.split = std::move(split);
  return set;
}

EvalSet eval_set_from_coco(CocoDataset gt, const std::string& image_root) {
  EvalSet set;
  set.source = gt.source;
  set.names = gt.names();
  set.notes = gt.notes;
  for (const CocoImage& im : gt.images) set.image_paths.push_back((fs::path(image_root) / im.file_name).string());
  set.coco = std::move(gt);
  return set;
}

EvalSet open_eval_set(const std::string& data, const std::string& split, const std::string& images_dir,
                      std::optional<DataYaml>* dataset) {
  if (data.empty()) throw Error("val: give data=data.yaml, a COCO or VOC dataset folder, or data=instances.json");
  if (lower(fs::path(data).extension().string()) == ".json") {
    // One json is the ground truth as pycocotools reads it: a malformed annotation stops here.
    CocoDataset gt = load_coco_json(data);
    const std::string root = resolve_coco_image_root(gt, data, images_dir);
    return eval_set_from_coco(std::move(gt), root);
  }
  DataYaml d = open_dataset(data);
  EvalSet set;
  if (d.format == DataFormat::Coco) {
    if (!d.coco.count(split)) throw Error(clip(data) + ": no '" + clip(split) + "' split (split= chooses one)");
    auto dir = d.image_dirs.find(split);
    const std::string json_path = d.splits.at(split).front();
    CocoDataset gt = *d.coco.at(split);
    const std::string root =
        resolve_coco_image_root(gt, json_path, !images_dir.empty() ? images_dir : dir == d.image_dirs.end() ? "" : dir->second);
    set = eval_set_from_coco(std::move(gt), root);
  } else {
    set = eval_set_from_split(load_split(d, split), data + " (" + split + ")");
  }
  if (dataset) *dataset = std::move(d);
  return set;
}

// ---- class matching -----------------------------------------------------------------------------------

ClassMap map_classes(const std::vector<std::string>& model, const std::vector<std::string>& data) {
  ClassMap out;
  out.to_dataset.assign(model.size(), -1);
  for (size_t k = 0; k < model.size() && k < data.size(); ++k) out.to_dataset[k] = static_cast<int>(k);
  if (model == data) return out;
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
    std::string note = "note: the model's classes are not the dataset's in the same order: detections are matched to "
                       "the dataset's classes by name (" + std::to_string(shared) + " shared)";
    if (!missing.empty()) {
      note += "; the model has no class";
      for (size_t i = 0; i < missing.size() && i < 8; ++i) note += (i ? ", '" : " '") + clip(missing[i], 40) + "'";
      if (missing.size() > 8) note += ", ...";
      note += " (these score 0)";
    }
    out.to_dataset = by_name;
    out.notes.push_back(note);
    return out;
  }
  std::string warning = "warning: the model's classes (" + std::to_string(model.size()) + ") share no name with the "
                        "dataset's (" + std::to_string(data.size()) + "): classes are compared by index";
  if (model.size() > data.size())
    warning += ", and detections of classes >= " + std::to_string(data.size()) + " are ignored";
  out.notes.push_back(warning);
  return out;
}

// ---- the evaluation ------------------------------------------------------------------------------------

namespace {

// Rounded the way Ultralytics writes results (boxes to 1/1000 px); scores keep 6 decimals so that
// ranking ties stay rare. The rounded doubles are what we evaluate and what `val` writes, so
// pycocotools on the written file reproduces the printed numbers.
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

// COCO ground truth without the images not read (unreadable, or skipped: no size, no predictions).
CocoDataset without_images(const CocoDataset& gt, const std::vector<uint8_t>& unread) {
  CocoDataset out;
  out.source = gt.source;
  out.categories = gt.categories;
  std::unordered_map<int64_t, bool> dropped;
  for (size_t i = 0; i < gt.images.size(); ++i) {
    if (unread[i]) dropped[gt.images[i].id] = true;
    else out.images.push_back(gt.images[i]);
  }
  for (const CocoAnnotation& a : gt.annotations)
    if (!dropped.count(a.image_id)) out.annotations.push_back(a);
  out.build_index();
  return out;
}

// One batch read from disk and preprocessed, on the prefetch thread.
struct ReadBatch {
  std::vector<size_t> index;  // positions in the set of the images read
  std::vector<ImageSize> sizes;
  std::vector<DatasetIssue> issues;
  PreparedBatch prepared;
};

ReadBatch read_batch(const EvalSet& set, const std::vector<size_t>& todo, size_t start, size_t end,
                     const PreprocessParams& pp) {
  ReadBatch rb;
  std::vector<cv::Mat> images;
  for (size_t t = start; t < end; ++t) {
    const size_t i = todo[t];
    const std::string& path = set.image_paths[i];
    cv::Mat im = read_image(path, Orientation::ApplyExif);
    if (im.empty()) {
      rb.issues.push_back({path, 0, fs::exists(path) ? IssueKind::UnreadableImage : IssueKind::MissingImage,
                           "cannot read the image: left out of the evaluation"});
      continue;
    }
    rb.index.push_back(i);
    rb.sizes.push_back({im.cols, im.rows});
    images.push_back(std::move(im));
  }
  rb.prepared = prepare_batch(images, pp);
  return rb;
}

// Whether image i of the set has any ground truth (regular or ignored boxes).
std::vector<uint8_t> annotated_images(const EvalSet& set) {
  std::vector<uint8_t> has(set.image_paths.size(), 0);
  if (set.split) {
    for (size_t i = 0; i < has.size(); ++i)
      has[i] = !set.split->samples[i].labels.empty() || !set.split->samples[i].ignored.empty();
  } else {
    for (const CocoAnnotation& a : set.coco->annotations) {
      const long i = set.coco->image_index(a.image_id);
      if (i >= 0) has[static_cast<size_t>(i)] = 1;
    }
  }
  return has;
}

void score_coco(EvalResult& r, const EvalOptions& opt) {
  CocoEvalParams params = CocoEvalParams::bbox();
  params.zero_gt_id_quirk = opt.zero_id_quirk;
  r.coco = evaluate_coco(r.gt, r.detections, params);
  r.curves = compute_prf_curves(*r.coco);
}

void score_sg(EvalResult& r, const std::vector<SgImage>& images, int num_classes) {
  SgMetricsParams p;
  r.sg = sg_detection_metrics(images, num_classes, p);
  p.iou_lo = p.iou_hi = 0.5f;
  r.sg50 = sg_detection_metrics(images, num_classes, p);
}

}  // namespace

SgImage sg_image_in_network_space(const std::vector<const CocoAnnotation*>& annotations, const CocoDataset& gt,
                                  const std::vector<Detection>& detections, const Letterbox& lb,
                                  const PreprocessParams& pp, float min_score) {
  SgImage img;
  const float W = static_cast<float>(pp.input_w), H = static_cast<float>(pp.input_h);
  auto to_net = [&](double x1, double y1, double x2, double y2, int cls, float score) {
    SgBox b;
    b.x1 = static_cast<float>(x1 * lb.scale + lb.pad_left), b.y1 = static_cast<float>(y1 * lb.scale + lb.pad_top);
    b.x2 = static_cast<float>(x2 * lb.scale + lb.pad_left), b.y2 = static_cast<float>(y2 * lb.scale + lb.pad_top);
    b.cls = cls;
    b.score = score;
    return b;
  };
  for (const CocoAnnotation* a : annotations) {
    SgBox b = to_net(a->bbox[0], a->bbox[1], a->bbox[0] + a->bbox[2], a->bbox[1] + a->bbox[3],
                     gt.class_index(a->category_id), 0);
    b.x1 = std::clamp(b.x1, 0.0f, W), b.x2 = std::clamp(b.x2, 0.0f, W);
    b.y1 = std::clamp(b.y1, 0.0f, H), b.y2 = std::clamp(b.y2, 0.0f, H);
    if (a->iscrowd) img.crowd.push_back(b);
    else if (std::min(b.x2 - b.x1, b.y2 - b.y1) > 1.0f) img.targets.push_back(b);  // DetectionTargetsFormatTransform
  }
  for (const Detection& d : detections)
    if (d.score > min_score) img.preds.push_back(to_net(d.x1, d.y1, d.x2, d.y2, d.cls, d.score));
  img.clip_w = W;
  img.clip_h = H;
  return img;
}

EvalResult evaluate(InferenceEngine& engine, const std::vector<std::string>& model_names, const PreprocessParams& pp,
                    const EvalSet& set, const EvalOptions& opt) {
  if (set.image_paths.empty()) throw Error("val: " + clip(set.source) + " lists no images");
  if (set.coco.has_value() == set.split.has_value())
    throw Error("evaluate: an EvalSet holds a COCO ground truth or a split (eval_set_from_coco / eval_set_from_split)");
  EvalResult r;
  r.nms = opt.nms;
  const ClassMap cls_map = map_classes(model_names, set.names);
  r.notes = cls_map.notes;
  const int num_classes = static_cast<int>(set.names.size());
  const size_t N = set.image_paths.size(), B = static_cast<size_t>(std::max(1, opt.batch));

  // Detections in original pixels, dataset classes; images read one batch ahead. For SG's metric
  // alone, images without ground truth are not run: SG's datasets drop them.
  std::vector<size_t> todo;
  const std::vector<uint8_t> annotated = annotated_images(set);
  for (size_t i = 0; i < N; ++i)
    if (opt.coco || annotated[i]) todo.push_back(i);
  std::vector<std::vector<Detection>> dets(N);
  std::vector<Letterbox> letterboxes(N);
  std::vector<ImageSize> sizes(N);
  std::vector<uint8_t> unread(N, 1);
  double pre_ms = 0, inf_ms = 0, post_ms = 0;
  {
    const size_t T = todo.size();
    Progress bar(opt.progress_label, static_cast<int64_t>(T), opt.progress);
    auto launch = [&](size_t start) {
      return std::async(std::launch::async, read_batch, std::cref(set), std::cref(todo), start, std::min(T, start + B),
                        std::cref(pp));
    };
    std::future<ReadBatch> next = launch(0);
    for (size_t start = 0; start < T; start += B) {
      ReadBatch rb = next.get();
      if (start + B < T) next = launch(start + B);
      r.image_issues.insert(r.image_issues.end(), rb.issues.begin(), rb.issues.end());
      std::vector<ImageResult> out = detect_prepared(engine, rb.prepared, opt.nms);
      for (size_t j = 0; j < out.size(); ++j) {
        const size_t i = rb.index[j];
        unread[i] = 0;
        sizes[i] = rb.sizes[j];
        letterboxes[i] = out[j].letterbox;
        for (Detection& d : out[j].detections)
          d.cls = d.cls >= 0 && static_cast<size_t>(d.cls) < cls_map.to_dataset.size()
                      ? cls_map.to_dataset[static_cast<size_t>(d.cls)]
                      : -1;
        dets[i] = std::move(out[j].detections);
        pre_ms += out[j].preprocess_ms, inf_ms += out[j].inference_ms, post_ms += out[j].postprocess_ms;
      }
      bar.update(static_cast<int64_t>(std::min(T, start + B)));
    }
    bar.finish();
  }

  // Ground truth in COCO form, over the images that were read.
  std::vector<size_t> gt_pos(N, SIZE_MAX);
  if (set.split) {
    DataSplit kept;
    kept.names = set.split->names;
    std::vector<ImageSize> kept_sizes;
    for (size_t i = 0; i < N; ++i)
      if (!unread[i]) {
        gt_pos[i] = kept.samples.size();
        kept.samples.push_back(set.split->samples[i]);
        kept_sizes.push_back(sizes[i]);
      }
    r.gt = coco_from_yolo(kept, kept_sizes);
  } else {
    r.gt = without_images(*set.coco, unread);
    for (size_t i = 0, pos = 0; i < N; ++i)
      if (!unread[i]) gt_pos[i] = pos++;
  }
  r.images_read = r.gt.images.size();
  if (r.images_read == 0) throw Error("val: no image of " + clip(set.source) + " could be read");
  const double n = static_cast<double>(r.images_read);
  r.preprocess_ms = pre_ms / n, r.inference_ms = inf_ms / n, r.postprocess_ms = post_ms / n;

  long foreign = 0;
  for (size_t i = 0; i < N; ++i) {
    if (unread[i]) continue;
    const int64_t image_id = r.gt.images[gt_pos[i]].id;
    std::vector<Detection> kept;
    for (const Detection& d : dets[i]) {
      if (!std::isfinite(d.x1) || !std::isfinite(d.y1) || !std::isfinite(d.x2) || !std::isfinite(d.y2)) continue;
      if (d.cls < 0 || d.cls >= num_classes) {
        ++foreign;
        continue;
      }
      r.detections.push_back(to_coco_detection(d, image_id, r.gt.category_id(d.cls)));
      kept.push_back(d);
    }
    dets[i] = std::move(kept);
  }
  if (foreign > 0) r.notes.push_back(std::to_string(foreign) + " detections of classes the dataset does not have were ignored");

  if (opt.coco) score_coco(r, opt);
  if (opt.sg) {
    std::vector<std::vector<const CocoAnnotation*>> anns_of(r.gt.images.size());
    for (const CocoAnnotation& a : r.gt.annotations)
      anns_of[static_cast<size_t>(r.gt.image_index(a.image_id))].push_back(&a);
    std::vector<SgImage> sg_images;
    for (size_t i = 0; i < N; ++i) {
      if (unread[i]) continue;
      const auto& anns = anns_of[gt_pos[i]];
      if (anns.empty()) continue;  // SG's datasets drop images without annotations
      sg_images.push_back(sg_image_in_network_space(anns, r.gt, dets[i], letterboxes[i], pp, opt.nms.conf));
    }
    score_sg(r, sg_images, num_classes);
    char note[160];
    std::snprintf(note, sizeof note, "NMS conf %g / top %d / %d kept, top 300 per class, images without annotations dropped",
                  opt.nms.conf, opt.nms.top_k, opt.nms.max_det);
    r.sg_note = note;
  }
  return r;
}

EvalResult evaluate_results(CocoDataset gt, std::vector<CocoDetection> detections, const EvalOptions& opt) {
  EvalResult r;
  r.gt = std::move(gt);
  r.detections = std::move(detections);
  r.images_read = r.gt.images.size();
  if (opt.coco) score_coco(r, opt);
  if (opt.sg) {
    score_sg(r, sg_images_from_coco(r.gt, r.detections, true), r.gt.num_classes());
    r.sg_note = "top 300 per class and image, images without annotations dropped, no clipping";
  }
  return r;
}

// ---- reports ---------------------------------------------------------------------------------------

namespace {

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

json sg_json(const SgMetricsResult& s, const SgMetricsResult* s50, const std::vector<std::string>& names) {
  json j = {{"mAP@0.50:0.95", s.map},
            {"Precision@0.50:0.95", s.precision},
            {"Recall@0.50:0.95", s.recall},
            {"F1@0.50:0.95", s.f1},
            {"Best_score_threshold", s.best_score_threshold}};
  if (s50) j["mAP@0.50"] = s50->map;
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

}  // namespace

std::string format_eval_report(const EvalResult& r) {
  std::string out;
  if (r.coco) {
    out += r.coco->summary();
    out += format_class_table(*r.coco, *r.curves, static_cast<int>(r.gt.images.size()));
  }
  if (r.sg) {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "SuperGradients DetectionMetrics (%s):\n  mAP@0.50:0.95 = %.4f   Precision@0.50:0.95 = %.4f   "
                  "Recall@0.50:0.95 = %.4f   F1@0.50:0.95 = %.4f   Best_score_threshold = %.2f   mAP@0.50 = %.4f\n",
                  r.sg_note.c_str(), r.sg->map, r.sg->precision, r.sg->recall, r.sg->f1,
                  r.sg->best_score_threshold, r.sg50 ? r.sg50->map : -1.0);
    out += buf;
  }
  return out;
}

json eval_metrics_json(const EvalResult& r) {
  json m = json::object();
  if (r.coco) {
    m["coco"] = stats_json(*r.coco);
    m["stats"] = r.coco->stats;
    m["best_f1_conf"] = r.curves->best_conf;
    m["precision"] = r.curves->mean_p;
    m["recall"] = r.curves->mean_r;
    m["f1"] = r.curves->mean_f1;
    m["per_class"] = per_class_json(*r.coco, *r.curves);
  }
  if (r.sg) m["sg"] = sg_json(*r.sg, r.sg50 ? &*r.sg50 : nullptr, r.gt.names());
  m["num_images"] = r.gt.images.size();
  m["num_detections"] = r.detections.size();
  return m;
}

void save_eval_plots(const EvalResult& r, const std::string& dir) {
  if (!r.coco) return;
  const fs::path d(dir);
  const std::vector<std::string> names = r.gt.names();
  save_pr_curve_png((d / "PR_curve.png").string(), *r.coco);
  save_conf_curve_png((d / "F1_curve.png").string(), *r.curves, names, CurveKind::F1);
  save_conf_curve_png((d / "P_curve.png").string(), *r.curves, names, CurveKind::Precision);
  save_conf_curve_png((d / "R_curve.png").string(), *r.curves, names, CurveKind::Recall);
  ConfusionMatrix cm(r.gt.num_classes());
  cm.add_coco(r.gt, r.detections);
  save_confusion_matrix_png((d / "confusion_matrix.png").string(), cm, names, false);
  save_confusion_matrix_png((d / "confusion_matrix_normalized.png").string(), cm, names, true);
}

std::string zero_id_warning(const CocoDataset& gt, bool quirk) {
  const bool has_zero = std::any_of(gt.annotations.begin(), gt.annotations.end(),
                                    [](const CocoAnnotation& a) { return a.id == 0 && !a.iscrowd; });
  if (!has_zero) return "";
  return "warning: " + clip(gt.source) + " has an annotation with id 0. pycocotools " +
         (quirk ? "counts a detection matched to it as a false positive, and so does this evaluation (to give "
                  "pycocotools' numbers); zero_id_quirk=false scores it normally."
                : "would count a detection matched to it as a false positive; zero_id_quirk=false scores it "
                  "normally, so these numbers differ from pycocotools'.");
}

}  // namespace yolonas
