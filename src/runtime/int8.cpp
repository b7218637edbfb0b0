#include "yolonas/runtime/int8.h"

#include <algorithm>
#include <cmath>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/runtime/onednn_net.h"

namespace yolonas {

std::vector<int> scale_groups(const DnnGraph& g) {
  const size_t n = static_cast<size_t>(g.num_buffers);
  std::vector<size_t> parent(n);
  for (size_t i = 0; i < n; ++i) parent[i] = i;
  auto find = [&](size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (const DnnOp& op : g.ops)
    if (op.kind == DnnOpKind::Concat || op.kind == DnnOpKind::MaxPool)
      for (int in : op.inputs) parent[find(static_cast<size_t>(in))] = find(static_cast<size_t>(op.output));
  std::vector<int> id(n, -1), group(n);
  int next = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t root = find(i);
    if (id[root] < 0) id[root] = next++;
    group[i] = id[root];
  }
  return group;
}

CalibMethod parse_calib_method(const std::string& name) {
  if (name == "max") return CalibMethod::Max;
  if (name == "percentile") return CalibMethod::Percentile;
  if (name == "mse") return CalibMethod::Mse;
  throw Error("calibration method '" + clip(name, 40) + "': expected max, percentile or mse");
}

const char* calib_method_name(CalibMethod m) {
  switch (m) {
    case CalibMethod::Max: return "max";
    case CalibMethod::Percentile: return "percentile";
    case CalibMethod::Mse: return "mse";
  }
  return "max";
}

DnnRanges calibrate_ranges(const DnnGraph& graph, int height, int width, const std::vector<const float*>& images,
                           bool histograms) {
  if (images.empty()) throw Error("INT8 calibration needs at least one image");
  OnednnNet::Options o;
  o.share_memory = false;
  o.fuse_sum = false;  // every buffer's values, the summed convolutions' outputs included
  OnednnNet net(graph, 1, height, width, o);
  DnnRanges r;
  std::vector<float> boxes, scores;
  for (const float* im : images) {
    net.run(im, boxes, scores);
    net.update_ranges(r);
  }
  if (!histograms) return r;
  const std::vector<int> group = scale_groups(graph);
  const int G = *std::max_element(group.begin(), group.end()) + 1;
  r.group_absmax.assign(static_cast<size_t>(G), 0.0f);
  for (size_t b = 0; b < group.size(); ++b) {
    float& m = r.group_absmax[static_cast<size_t>(group[b])];
    m = std::max({m, std::fabs(r.lo[b]), std::fabs(r.hi[b])});
  }
  r.group_hist.assign(static_cast<size_t>(G), std::vector<double>(kCalibBins, 0.0));
  for (const float* im : images) {  // second pass: the histograms, over the ranges now known
    net.run(im, boxes, scores);
    for (int b = 0; b < graph.num_buffers; ++b) {
      const size_t g = static_cast<size_t>(group[static_cast<size_t>(b)]);
      const float m = r.group_absmax[g];
      if (!(m > 0)) continue;
      std::vector<double>& h = r.group_hist[g];
      for (float v : net.read_buffer(b)) {
        const int bin = std::min(kCalibBins - 1, static_cast<int>(std::fabs(v) / m * kCalibBins));
        h[static_cast<size_t>(bin)] += 1.0;
      }
    }
  }
  return r;
}

namespace {

// The clipping threshold of a group from its |x| histogram.
float clip_threshold(const std::vector<double>& hist, float absmax, bool is_unsigned, const Int8Options& o) {
  if (o.method == CalibMethod::Max || hist.empty() || !(absmax > 0)) return absmax;
  double total = 0;
  for (double c : hist) total += c;
  if (total <= 0) return absmax;
  const double bin = static_cast<double>(absmax) / kCalibBins;
  if (o.method == CalibMethod::Percentile) {
    const double want = total * std::clamp(o.percentile, 0.0, 100.0) / 100.0;
    double seen = 0;
    for (int i = 0; i < kCalibBins; ++i) {
      seen += hist[static_cast<size_t>(i)];
      if (seen >= want) return static_cast<float>((i + 1) * bin);
    }
    return absmax;
  }
  // MSE: for a threshold t, values below it round to steps of t / levels (error step^2 / 12 each),
  // values above it are clipped to t (error (x - t)^2), x at its bin's centre.
  const double levels = is_unsigned ? 255.0 : 127.0;
  double best_t = absmax, best_err = -1;
  for (int k = kCalibBins / 20; k <= kCalibBins; k += std::max(1, kCalibBins / 256)) {
    const double t = k * bin, step = t / levels;
    double err = 0;
    for (int i = 0; i < kCalibBins; ++i) {
      const double c = hist[static_cast<size_t>(i)];
      if (c == 0) continue;
      const double x = (i + 0.5) * bin;
      err += c * (x <= t ? step * step / 12.0 : (x - t) * (x - t));
    }
    if (best_err < 0 || err < best_err) best_err = err, best_t = t;
  }
  return static_cast<float>(best_t);
}

}  // namespace

DnnInt8 plan_int8(const DnnGraph& g, const DnnRanges& r, bool float_heads) {
  Int8Options o;
  o.float_heads = float_heads;
  return plan_int8(g, r, o);
}

DnnInt8 plan_int8(const DnnGraph& g, const DnnRanges& r, const Int8Options& o) {
  const size_t n = static_cast<size_t>(g.num_buffers);
  if (r.lo.size() != n || r.hi.size() != n) throw Error("INT8 plan: the ranges do not belong to this graph");
  if (o.method != CalibMethod::Max && r.group_hist.empty())
    throw Error(std::string("INT8 plan: the ") + calib_method_name(o.method) + " method needs calibration histograms");
  const std::vector<int> group = scale_groups(g);
  const size_t G = static_cast<size_t>(*std::max_element(group.begin(), group.end()) + 1);
  std::vector<float> absmax(G, 0.0f);
  std::vector<uint8_t> nonneg(G, 1), fp32(G, 0);
  for (size_t i = 0; i < n; ++i) {
    const size_t gi = static_cast<size_t>(group[i]);
    absmax[gi] = std::max({absmax[gi], std::fabs(r.lo[i]), std::fabs(r.hi[i])});
    if (r.lo[i] < 0) nonneg[gi] = 0;
  }
  for (int k : o.fp32_groups) {
    if (k < 0 || static_cast<size_t>(k) >= G) throw Error("INT8 plan: no scale group " + std::to_string(k));
    fp32[static_cast<size_t>(k)] = 1;
  }
  DnnInt8 q;
  q.mult.resize(n);
  q.is_unsigned.resize(n);
  q.is_f32.assign(n, 0);
  if (o.float_heads)
    for (const DnnOp& op : g.ops)
      if (op.name.rfind("heads.", 0) == 0) q.is_f32[static_cast<size_t>(op.output)] = 1;
  // The heads' outputs are what the decode reads: always FP32 (the runtime writes them so).
  for (const auto* outs : {&g.reg_outputs, &g.cls_outputs})
    for (int b : *outs) q.is_f32[static_cast<size_t>(b)] = 1;
  for (size_t i = 0; i < n; ++i) {
    const size_t gi = static_cast<size_t>(group[i]);
    if (fp32[gi]) q.is_f32[i] = 1;
    q.is_unsigned[i] = nonneg[gi];
    const float t = clip_threshold(r.group_hist.empty() ? std::vector<double>() : r.group_hist[gi],
                                   r.group_hist.empty() ? absmax[gi] : r.group_absmax[gi], nonneg[gi], o);
    q.mult[i] = t > 0 ? (nonneg[gi] ? 255.0f : 127.0f) / t : 1.0f;
  }
  return q;
}

std::vector<int8_t> quantize_weights(const DnnOp& op, std::vector<float>& wmult) {
  const bool iohw = op.kind == DnnOpKind::Deconv;
  const size_t per = static_cast<size_t>(op.kernel) * op.kernel;
  if (op.weights.size() != static_cast<size_t>(op.cout) * op.cin * per)
    throw Error(op.name + ": the weights do not have the layer's shape");
  std::vector<float> mx(static_cast<size_t>(op.cout), 0.0f);
  auto index = [&](int oc, int ic, size_t kk) {
    return iohw ? (static_cast<size_t>(ic) * op.cout + oc) * per + kk : (static_cast<size_t>(oc) * op.cin + ic) * per + kk;
  };
  for (int oc = 0; oc < op.cout; ++oc)
    for (int ic = 0; ic < op.cin; ++ic)
      for (size_t kk = 0; kk < per; ++kk) mx[oc] = std::max(mx[oc], std::fabs(op.weights[index(oc, ic, kk)]));
  wmult.resize(static_cast<size_t>(op.cout));
  std::vector<int8_t> w(op.weights.size());
  for (int oc = 0; oc < op.cout; ++oc) {
    wmult[oc] = mx[oc] > 0 ? 127.0f / mx[oc] : 1.0f;
    for (int ic = 0; ic < op.cin; ++ic)
      for (size_t kk = 0; kk < per; ++kk) {
        const size_t i = index(oc, ic, kk);
        w[i] = static_cast<int8_t>(std::clamp(std::lround(op.weights[i] * wmult[oc]), -127L, 127L));
      }
  }
  return w;
}

bool runs_int8(const DnnOp& op, const DnnInt8& plan) {
  return (op.kind == DnnOpKind::Conv || op.kind == DnnOpKind::Deconv) &&
         !plan.is_f32.at(static_cast<size_t>(op.inputs.at(0)));
}

std::vector<std::string> calibration_subset(const std::vector<std::string>& paths, size_t max_images) {
  const size_t n = std::min(paths.size(), std::max<size_t>(1, max_images));
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(paths[i * paths.size() / n]);
  return out;
}

std::vector<std::vector<float>> read_calibration_images(const PreprocessParams& pp, const std::vector<std::string>& all,
                                                        size_t max_images) {
  const std::vector<std::string> paths = calibration_subset(all, max_images);
  const size_t n = paths.size();
  if (n == 0) throw Error("INT8 calibration needs at least one image (calib=DIR|GLOB|data.yaml)");
  std::vector<std::vector<float>> inputs(n, std::vector<float>(static_cast<size_t>(3) * pp.input_h * pp.input_w));
  for (size_t i = 0; i < n; ++i) {
    const std::string& path = paths[i];
    const cv::Mat im = read_image(path, Orientation::ApplyExif);
    if (im.empty()) {
      const std::string problem = file_problem(path);
      throw Error("calibration image '" + clip(path) + "' cannot be read" +
                  (problem.empty() ? " (not an image OpenCV decodes)" : ": it " + problem));
    }
    preprocess_image(im, pp, inputs[i].data());
  }
  return inputs;
}

DnnInt8 calibrate_int8(const DnnGraph& graph, const PreprocessParams& pp, const std::vector<std::string>& image_paths,
                       size_t max_images, size_t* used, const Int8Options& options) {
  const std::vector<std::vector<float>> inputs = read_calibration_images(pp, image_paths, max_images);
  std::vector<const float*> ptrs;
  for (const auto& in : inputs) ptrs.push_back(in.data());
  if (used) *used = inputs.size();
  const bool hist = options.method != CalibMethod::Max;
  return plan_int8(graph, calibrate_ranges(graph, pp.input_h, pp.input_w, ptrs, hist), options);
}

}  // namespace yolonas
