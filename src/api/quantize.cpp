#include "yolonas/api/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "yolonas/core/error.h"
#include "yolonas/core/progress.h"
#include "yolonas/runtime/onednn_engine.h"

namespace yolonas {

using nlohmann::json;

namespace {

float box_iou(const float* a, const float* b) {
  const float iw = std::max(0.0f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const float ih = std::max(0.0f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const float inter = iw * ih;
  const float u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return u > 0 ? inter / u : 0.0f;
}

// What the scan compares: FP32 outputs of the scan images, once.
struct Reference {
  std::vector<std::vector<float>> boxes, scores;
};

// The output error of `plan` against FP32 (see quantize.h), on the scan images.
double output_error(const DnnGraph& graph, const DnnInt8& plan, const std::vector<std::vector<float>>& images,
                    const Reference& ref, int h, int w) {
  OnednnEngine e(graph, plan);
  const int C = graph.num_classes;
  double sum = 0;
  long count = 0;
  std::vector<float> boxes, scores;
  for (size_t i = 0; i < images.size(); ++i) {
    e.run(images[i].data(), 1, h, w, boxes, scores);
    const std::vector<float>& rb = ref.boxes[i];
    const std::vector<float>& rs = ref.scores[i];
    const size_t A = rb.size() / 4;
    for (size_t a = 0; a < A; ++a) {
      const float* s = &rs[a * static_cast<size_t>(C)];
      const int c = static_cast<int>(std::max_element(s, s + C) - s);
      if (s[c] <= 0.1f) continue;
      sum += std::fabs(scores[a * static_cast<size_t>(C) + static_cast<size_t>(c)] - s[c]) +
             (1.0 - box_iou(&boxes[a * 4], &rb[a * 4]));
      ++count;
    }
  }
  return count ? sum / static_cast<double>(count) : 0.0;
}

double map_of(InferenceEngine& engine, const DetectionInfo& info, const EvalSet& set) {
  EvalOptions eo;
  eo.nms = NmsParams::valid_defaults();
  eo.nms.conf = 0.001f;
  eo.coco = true;
  eo.progress = false;
  return evaluate(engine, info.names, info.preprocessing, set, eo).coco->stats[0];
}

// An evaluation set of at most n images, evenly spread.
EvalSet subset(const EvalSet& set, size_t n) {
  if (set.image_paths.size() <= n) return set;
  EvalSet out = set;
  out.image_paths.clear();
  std::vector<size_t> keep;
  for (size_t i = 0; i < n; ++i) keep.push_back(i * set.image_paths.size() / n);
  for (size_t i : keep) out.image_paths.push_back(set.image_paths[i]);
  if (set.split) {
    out.split->samples.clear();
    for (size_t i : keep) out.split->samples.push_back(set.split->samples[i]);
  } else {
    CocoDataset gt;
    gt.source = set.coco->source;
    gt.categories = set.coco->categories;
    std::map<int64_t, bool> kept;
    for (size_t i : keep) {
      gt.images.push_back(set.coco->images[i]);
      kept[set.coco->images[i].id] = true;
    }
    for (const CocoAnnotation& a : set.coco->annotations)
      if (kept.count(a.image_id)) gt.annotations.push_back(a);
    gt.build_index();
    out.coco = std::move(gt);
  }
  return out;
}

}  // namespace

std::string QuantizeReport::table() const {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "INT8 sensitivity scan (%s; loss = %s):\n", method.c_str(), measure.c_str());
  os << line;
  std::snprintf(line, sizeof line, "  %5s  %-52s %10s  %s\n", "group", "layers reading it", "loss", "kept");
  os << line;
  for (const QuantizeScanRow& r : rows) {
    std::snprintf(line, sizeof line, "  %5d  %-52s %10.5f  %s\n", r.group, r.layers.substr(0, 52).c_str(), r.loss,
                  r.fp32 ? "FP32" : "INT8");
    os << line;
  }
  std::snprintf(line, sizeof line, "  every group INT8: loss %.5f; after the selection: %.5f (budget %.5f)%s\n",
                all_int8_loss, final_loss, budget,
                fp32_map >= 0 ? (" ; FP32 mAP50-95 " + std::to_string(fp32_map).substr(0, 6)).c_str() : "");
  os << line;
  return os.str();
}

json QuantizeReport::to_json() const {
  json rows_j = json::array();
  for (const QuantizeScanRow& r : rows)
    rows_j.push_back({{"group", r.group}, {"layers", r.layers}, {"loss", r.loss}, {"fp32", r.fp32}});
  return {{"method", method},        {"calibration_images", calibration_images}, {"measure", measure},
          {"fp32_map", fp32_map},    {"all_int8_loss", all_int8_loss},           {"final_loss", final_loss},
          {"budget", budget},        {"scan", rows_j}};
}

std::string QuantizeReport::note() const {
  std::string n = method + " calibration on " + std::to_string(calibration_images) + " images";
  if (!rows.empty()) {
    int kept = 0;
    for (const QuantizeScanRow& r : rows) kept += r.fp32;
    char buf[160];
    std::snprintf(buf, sizeof buf, "; selective: %d of %zu groups kept FP32, loss %.4f -> %.4f (%s)", kept, rows.size(),
                  all_int8_loss, final_loss, measure.c_str());
    n += buf;
  }
  return n;
}

DnnInt8 quantize_graph(const DnnGraph& graph, const DetectionInfo& info, const std::vector<std::string>& calibration_images,
                       const QuantizeOptions& o, QuantizeReport* report_out) {
  QuantizeReport rep;
  const PreprocessParams& pp = info.preprocessing;
  const std::vector<std::vector<float>> images = read_calibration_images(pp, calibration_images, o.max_calibration_images);
  std::vector<const float*> ptrs;
  for (const auto& im : images) ptrs.push_back(im.data());
  const DnnRanges ranges = calibrate_ranges(graph, pp.input_h, pp.input_w, ptrs, o.method != CalibMethod::Max);
  Int8Options io;
  io.method = o.method;
  io.percentile = o.percentile;
  io.float_heads = o.float_heads;
  rep.method = o.method == CalibMethod::Percentile ? "percentile " + std::to_string(o.percentile).substr(0, 6)
                                                   : calib_method_name(o.method);
  rep.calibration_images = images.size();
  const DnnInt8 all = plan_int8(graph, ranges, io);
  if (!o.selective) {
    if (report_out) *report_out = rep;
    return all;
  }

  // The groups a convolution reads in INT8 under the full plan: what the scan can give back.
  const std::vector<int> group = scale_groups(graph);
  std::map<int, std::vector<std::string>> readers;
  for (const DnnOp& op : graph.ops)
    if (runs_int8(op, all)) readers[group[static_cast<size_t>(op.inputs[0])]].push_back(op.name);
  std::vector<int> groups;
  for (const auto& [g, names] : readers) groups.push_back(g);

  // The loss of a plan.
  std::function<double(const DnnInt8&)> loss;
  EvalSet eval_subset;
  if (o.eval) {
    eval_subset = subset(*o.eval, o.max_eval_images);
    OnednnEngine fp32(graph);
    rep.fp32_map = map_of(fp32, info, eval_subset);
    rep.measure = "mAP50-95 drop on " + std::to_string(eval_subset.image_paths.size()) + " images";
    loss = [&](const DnnInt8& plan) {
      OnednnEngine e(graph, plan);
      return rep.fp32_map - map_of(e, info, eval_subset);
    };
  } else {
    std::vector<std::vector<float>> scan(images.begin(), images.begin() + std::min(images.size(), o.max_scan_images));
    Reference ref;
    OnednnEngine fp32(graph);
    for (const auto& im : scan) {
      ref.boxes.emplace_back();
      ref.scores.emplace_back();
      fp32.run(im.data(), 1, pp.input_h, pp.input_w, ref.boxes.back(), ref.scores.back());
    }
    rep.measure = "output error on " + std::to_string(scan.size()) + " images";
    loss = [&, scan, ref](const DnnInt8& plan) { return output_error(graph, plan, scan, ref, pp.input_h, pp.input_w); };
  }
  rep.budget = o.budget >= 0 ? o.budget : o.eval ? 0.005 : 0.02;

  // One group at a time.
  {
    Progress bar("int8 scan", static_cast<int64_t>(groups.size()), o.verbose);
    for (size_t i = 0; i < groups.size(); ++i) {
      Int8Options one = io;
      for (int g : groups)
        if (g != groups[i]) one.fp32_groups.push_back(g);
      QuantizeScanRow row;
      row.group = groups[i];
      const auto& names = readers[groups[i]];
      row.layers = names.front() + (names.size() > 1 ? " (+" + std::to_string(names.size() - 1) + ")" : "");
      row.loss = loss(plan_int8(graph, ranges, one));
      rep.rows.push_back(row);
      bar.update(static_cast<int64_t>(i + 1));
    }
    bar.finish();
  }
  std::stable_sort(rep.rows.begin(), rep.rows.end(), [](const QuantizeScanRow& a, const QuantizeScanRow& b) { return a.loss > b.loss; });

  // Greedy: the most sensitive groups back to FP32 until the loss is within the budget.
  Int8Options sel = io;
  DnnInt8 plan = all;
  rep.all_int8_loss = rep.final_loss = loss(all);
  for (QuantizeScanRow& r : rep.rows) {
    if (rep.final_loss <= rep.budget || static_cast<int>(sel.fp32_groups.size()) >= o.max_fp32_groups) break;
    sel.fp32_groups.push_back(r.group);
    r.fp32 = true;
    plan = plan_int8(graph, ranges, sel);
    rep.final_loss = loss(plan);
    if (o.verbose)
      std::fprintf(stderr, "int8: %s kept in FP32: loss %.5f\n", r.layers.c_str(), rep.final_loss);
  }
  if (o.verbose) std::fprintf(stderr, "%s", rep.table().c_str());
  if (report_out) *report_out = rep;
  return plan;
}

}  // namespace yolonas
