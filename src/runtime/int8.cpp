#include "yolonas/runtime/int8.h"

#include <algorithm>
#include <cmath>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/runtime/onednn_net.h"

namespace yolonas {

DnnRanges calibrate_ranges(const DnnGraph& graph, int height, int width, const std::vector<const float*>& images) {
  if (images.empty()) throw Error("INT8 calibration needs at least one image");
  OnednnNet::Options o;
  o.share_memory = false;
  OnednnNet net(graph, 1, height, width, o);
  DnnRanges r;
  std::vector<float> boxes, scores;
  for (const float* im : images) {
    net.run(im, boxes, scores);
    net.update_ranges(r);
  }
  return r;
}

DnnInt8 plan_int8(const DnnGraph& g, const DnnRanges& r, bool float_heads) {
  const size_t n = static_cast<size_t>(g.num_buffers);
  if (r.lo.size() != n || r.hi.size() != n) throw Error("INT8 plan: the ranges do not belong to this graph");
  // Buffers that must share a scale: a concat's inputs and output, a max-pool's input and output.
  std::vector<size_t> parent(n);
  for (size_t i = 0; i < n; ++i) parent[i] = i;
  auto find = [&](size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (const DnnOp& op : g.ops)
    if (op.kind == DnnOpKind::Concat || op.kind == DnnOpKind::MaxPool)
      for (int in : op.inputs) parent[find(static_cast<size_t>(in))] = find(static_cast<size_t>(op.output));
  std::vector<float> absmax(n, 0.0f);
  std::vector<uint8_t> nonneg(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const size_t root = find(i);
    absmax[root] = std::max({absmax[root], std::fabs(r.lo[i]), std::fabs(r.hi[i])});
    if (r.lo[i] < 0) nonneg[root] = 0;
  }
  DnnInt8 q;
  q.mult.resize(n);
  q.is_unsigned.resize(n);
  q.is_f32.assign(n, 0);
  if (float_heads)
    for (const DnnOp& op : g.ops)
      if (op.name.rfind("heads.", 0) == 0) q.is_f32[static_cast<size_t>(op.output)] = 1;
  for (size_t i = 0; i < n; ++i) {
    const size_t root = find(i);
    q.is_unsigned[i] = nonneg[root];
    q.mult[i] = absmax[root] > 0 ? (nonneg[root] ? 255.0f : 127.0f) / absmax[root] : 1.0f;
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

DnnInt8 calibrate_int8(const DnnGraph& graph, const PreprocessParams& pp, const std::vector<std::string>& image_paths,
                       size_t max_images, size_t* used) {
  const size_t n = std::min(image_paths.size(), std::max<size_t>(1, max_images));
  if (n == 0) throw Error("INT8 calibration needs at least one image (calib=DIR|GLOB|data.yaml)");
  std::vector<std::vector<float>> inputs(n, std::vector<float>(static_cast<size_t>(3) * pp.input_h * pp.input_w));
  std::vector<const float*> ptrs;
  for (size_t i = 0; i < n; ++i) {
    const std::string& path = image_paths[i * image_paths.size() / n];
    const cv::Mat im = read_image(path, Orientation::ApplyExif);
    if (im.empty()) {
      const std::string problem = file_problem(path);
      throw Error("calibration image '" + clip(path) + "' cannot be read" +
                  (problem.empty() ? " (not an image OpenCV decodes)" : ": it " + problem));
    }
    preprocess_image(im, pp, inputs[i].data());
    ptrs.push_back(inputs[i].data());
  }
  if (used) *used = n;
  return plan_int8(graph, calibrate_ranges(graph, pp.input_h, pp.input_w, ptrs));
}

}  // namespace yolonas
