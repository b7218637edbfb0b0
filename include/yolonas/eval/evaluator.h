// The evaluation library: a model (any InferenceEngine) over an evaluation set, scored with
// pycocotools' COCOeval and/or SuperGradients' DetectionMetrics. `yolonas val`, training-time
// validation (train/hooks.h) and library users all call evaluate(), so the number printed during
// training is the number `yolonas val metric=sg` prints for the same weights and data.
//
//   set = open_eval_set("data.yaml", "val")          // YOLO, COCO json or VOC; or eval_set_from_split()
//   r = evaluate(engine, model_names, preprocessing, set, options)
//   r.coco->stats[0]                                 // AP@[.50:.95], pycocotools
//   r.sg->map                                        // SG's mAP@0.50:0.95
//
// Images are read with their EXIF orientation applied (as datasets are labelled; detect/preprocess.h)
// one batch ahead on a second thread, preprocessed as the model's metadata says, run, and passed
// through the same NMS and un-letterboxing as `predict` (detect/pipeline.h).
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "yolonas/data/dataset.h"
#include "yolonas/detect/pipeline.h"
#include "yolonas/eval/coco_eval.h"
#include "yolonas/eval/sg_metrics.h"
#include "yolonas/eval/eval_plots.h"

namespace yolonas {

// Images and their ground truth, whatever the dataset format.
struct EvalSet {
  std::string source;                    // for messages: "data.yaml (val)", "instances_val.json"
  std::vector<std::string> image_paths;
  std::vector<std::string> names;        // dataset classes in index order
  // The ground truth: a COCO json as read (ids, `area`, iscrowd kept; images in image_paths order),
  // or a split of any format (normalized boxes, turned into pixels once each image's size is known).
  std::optional<CocoDataset> coco;
  std::optional<DataSplit> split;
  std::vector<DatasetIssue> notes;       // the reader's notes on the labels (shown by `val`)
};

EvalSet eval_set_from_split(DataSplit split, const std::string& source);
// `image_root`: the folder COCO file_names are relative to (resolve_coco_image_root()).
EvalSet eval_set_from_coco(CocoDataset gt, const std::string& image_root);

// data= as `yolonas val` takes it: one COCO json (ground truth as pycocotools reads it; images from
// `images_dir` or found beside the json), or any dataset open_dataset() reads, at `split`.
// `dataset`, when given, receives the opened dataset (its train split calibrates INT8).
EvalSet open_eval_set(const std::string& data, const std::string& split, const std::string& images_dir = "",
                      std::optional<DataYaml>* dataset = nullptr);

// Model class -> dataset class (-1: a class the dataset lacks). Same names in the same order:
// identity. Otherwise, when some names are shared, classes are matched by name (a VOC folder's
// sorted names, a dataset with a subset or a superset of the model's classes): a model class the
// dataset lacks is ignored and a dataset class the model lacks scores 0. No shared name: by index,
// with a warning. `notes` says what was done (empty for the identity).
struct ClassMap {
  std::vector<int> to_dataset;
  std::vector<std::string> notes;
};
ClassMap map_classes(const std::vector<std::string>& model_names, const std::vector<std::string>& dataset_names);

struct EvalOptions {
  NmsParams nms = NmsParams::valid_defaults();  // SG's validation NMS: conf 0.01, top 1000, 300 kept
  int batch = 8;
  bool coco = true;            // pycocotools COCOeval (+ P/R/F1 curves)
  bool sg = false;             // SG DetectionMetrics at 0.50:0.95 and at 0.50
  bool zero_id_quirk = true;   // pycocotools' gt-id-0 quirk (coco_eval.h)
  bool progress = true;        // progress bar on stderr
  std::string progress_label = "val";
};

struct EvalResult {
  NmsParams nms;                           // the NMS the detections come from (evaluate())
  CocoDataset gt;                          // the ground truth over the images that were read
  std::vector<CocoDetection> detections;   // in dataset category ids; boxes to 1/1000 px, scores to 1e-6
  std::optional<CocoEvalResult> coco;
  std::optional<PrfCurves> curves;         // with coco
  std::optional<SgMetricsResult> sg, sg50; // with sg: mAP@0.50:0.95 and mAP@0.50
  std::string sg_note;                     // what the SG numbers are computed on, for the report
  std::vector<DatasetIssue> image_issues;  // images that could not be read (left out of the scores)
  std::vector<std::string> notes;          // class matching, detections of classes the dataset lacks
  size_t images_read = 0;
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;  // per image read
};

// Runs `engine` (preprocessing `pp`, classes `model_names`) over `set` and scores it. Throws
// yolonas::Error when no image can be read.
EvalResult evaluate(InferenceEngine& engine, const std::vector<std::string>& model_names, const PreprocessParams& pp,
                    const EvalSet& set, const EvalOptions& options);

// Scores an existing results file's detections against `gt` (`yolonas val gt= pred=`): the same
// metrics, without a model. For SG's metric the network-input canvas is unknown, so detections are
// in original pixels and not clipped (sg_images_from_coco).
EvalResult evaluate_results(CocoDataset gt, std::vector<CocoDetection> detections, const EvalOptions& options);

// SG's view of one image (DetectionMetrics after its validation transforms): targets and
// detections in network-input pixels (through the image's letterbox), targets clipped to the input
// and dropped when min(w, h) <= 1 px (DetectionTargetsFormatTransform), detections above
// min_score clipped to the input canvas by the metric.
SgImage sg_image_in_network_space(const std::vector<const CocoAnnotation*>& annotations, const CocoDataset& gt,
                                  const std::vector<Detection>& detections, const Letterbox& letterbox,
                                  const PreprocessParams& pp, float min_score);

// ---- reports ---------------------------------------------------------------------------------------

// pycocotools' 12-line summary, the per-class table, and the SG lines when computed.
std::string format_eval_report(const EvalResult& r);
// metrics.json content: "coco" (named stats), "stats", per_class, P/R/F1 at the best-F1 confidence,
// "sg" when computed, counts; callers add their own keys (model, data, nms, speed).
nlohmann::json eval_metrics_json(const EvalResult& r);
// PR, F1, P and R curves and the confusion matrices (raw and normalized) as PNGs in `dir`.
void save_eval_plots(const EvalResult& r, const std::string& dir);
// The warning for a ground truth with an annotation id 0 (pycocotools' quirk), or "".
std::string zero_id_warning(const CocoDataset& gt, bool quirk);

}  // namespace yolonas
