// oneDNN execution of a DnnGraph. See onednn_net.h.
#include "yolonas/runtime/onednn_net.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>

#include "yolonas/core/error.h"
#include "yolonas/detect/decode.h"

namespace yolonas {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct OnednnNet::Impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  DnnGraph graph;  // kept for the head layout (weights are copied into oneDNN memory)
  int batch = 1, height = 0, width = 0;
  const DnnInt8* q = nullptr;     // INT8 plan, or FP32
  bool share_memory = true;
  std::vector<uint8_t> head_out;  // buffers the decode reads: f32 even in INT8

  dt buf_dt(int b) const {
    if (!q || head_out[static_cast<size_t>(b)] || q->is_f32[static_cast<size_t>(b)]) return dt::f32;
    return q->is_unsigned[static_cast<size_t>(b)] ? dt::u8 : dt::s8;
  }
  float buf_mult(int b) const { return buf_dt(b) == dt::f32 ? 1.0f : q->mult[static_cast<size_t>(b)]; }
  // `md` with another data type, same dims and layout.
  static memory::desc with_dt(const memory::desc& md, dt t) {
    memory::desc out = md;
    out.data.data_type = static_cast<dnnl_data_type_t>(t);
    return out;
  }

  struct Buffer {
    memory::dims dims;  // N, C, H, W
    memory mem;         // in the layout its producer chose
  };
  std::vector<Buffer> buffers;
  memory input_user;  // NCHW, handle set per run

  struct Step {
    dnnl::primitive prim;
    std::unordered_map<int, memory> args;
  };
  std::vector<Step> steps;
  std::vector<std::string> conv_impls;
  // Head outputs reordered to plain NCHW for the decode: per level, reg then cls.
  std::vector<memory> reg_plain, cls_plain;

  // Activations share a few arena slots: each lives from the step that writes it to the last step
  // that reads it (plan_memory), so the net needs a fraction of the sum of its buffers.
  std::vector<memory> acts;
  std::vector<std::vector<float>> slots;
  size_t arena_bytes = 0, unshared_bytes = 0;

  memory make_act(const memory::desc& md) {
    acts.push_back(memory(md, eng, static_cast<void*>(nullptr)));
    return acts.back();
  }

  void plan_memory();

  // `buf` in the layout `want`: the buffer itself, or a reorder into a new memory added as a step.
  memory as_layout(int buf, const memory::desc& want) {
    const memory& m = buffers[static_cast<size_t>(buf)].mem;
    if (m.get_desc() == want) return m;
    memory out = make_act(want);
    dnnl::primitive_attr attr;
    // f32 -> int8 (the network input): quantize with the buffer's scale.
    if (m.get_desc().data_type() == dt::f32 && want.data_type() != dt::f32) attr.set_output_scales(0, {q->mult[static_cast<size_t>(buf)]});
    steps.push_back({dnnl::reorder(m, out, attr), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, out}}});
    return out;
  }

  void set_output(const DnnOp& op, const memory::desc& md) {
    Buffer& b = buffers[static_cast<size_t>(op.output)];
    b.mem = make_act(md);
  }

  memory::dims dims_of(int buf) const { return buffers[static_cast<size_t>(buf)].dims; }

  // Per-output-channel s8 weights (wmult[oc] = 127 / max |w[oc]|) in the user layout `user_tag`
  // ({OC, IC, K, K} as oihw, or iohw for PyTorch's transposed convolutions).
  std::vector<int8_t> quantize_weights(const DnnOp& op, bool iohw, std::vector<float>& wmult) const {
    const size_t per = static_cast<size_t>(op.kernel) * op.kernel;
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

  // Convolution or transposed convolution, FP32 or INT8.
  void add_conv(const DnnOp& op) {
    const bool deconv = op.kind == DnnOpKind::Deconv;
    const memory::dims in = dims_of(op.inputs[0]);
    if (in[1] != op.cin) throw Error(op.name + ": expects " + std::to_string(op.cin) + " input channels, gets " + std::to_string(in[1]));
    const memory::dim oh = deconv ? in[2] * op.stride : (in[2] + 2 * op.pad - op.kernel) / op.stride + 1;
    const memory::dim ow = deconv ? in[3] * op.stride : (in[3] + 2 * op.pad - op.kernel) / op.stride + 1;
    const memory::dims out = {in[0], op.cout, oh, ow};
    buffers[static_cast<size_t>(op.output)].dims = out;
    const memory::dims wdims = {op.cout, op.cin, op.kernel, op.kernel};
    // INT8 when the input is quantized (its output may be f32: the first convolution of a head).
    const dt src_t = buf_dt(op.inputs[0]), dst_t = buf_dt(op.output);
    const bool int8 = src_t != dt::f32;
    if (!int8 && dst_t != dt::f32) throw Error(op.name + ": an FP32 convolution cannot write a quantized buffer");
    const memory::desc src_any(in, src_t, tag::any), w_any(wdims, int8 ? dt::s8 : dt::f32, tag::any),
        b_md({op.cout}, int8 ? dt::s32 : dt::f32, tag::a), dst_any(out, dst_t, tag::any);
    const memory::dims strides = {op.stride, op.stride}, pad = {op.pad, op.pad};
    dnnl::primitive_attr attr;
    if (op.relu) {
      dnnl::post_ops po;
      po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(po);
    }
    std::vector<float> wmult;
    std::vector<int8_t> wq;
    if (int8) {
      // dst = (sum src_q * w_q + bias_q) * mult_dst / (mult_src * wmult[oc])
      wq = quantize_weights(op, deconv, wmult);
      std::vector<float> scales(static_cast<size_t>(op.cout));
      for (int oc = 0; oc < op.cout; ++oc)
        scales[oc] = buf_mult(op.output) / (buf_mult(op.inputs[0]) * wmult[oc]);
      attr.set_output_scales(1 << 1, scales);
    }
    dnnl::primitive prim;
    memory::desc src_want, w_want, dst_md;
    if (deconv) {
      dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                          src_any, w_any, b_md, dst_any, strides, {0, 0}, {0, 0});
      dnnl::deconvolution_forward::primitive_desc pd(d, attr, eng);
      src_want = pd.src_desc(), w_want = pd.weights_desc(), dst_md = pd.dst_desc();
      prim = dnnl::deconvolution_forward(pd);
    } else {
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                        src_any, w_any, b_md, dst_any, strides, pad, pad);
      dnnl::convolution_forward::primitive_desc pd(d, attr, eng);
      conv_impls.push_back(pd.impl_info_str());
      src_want = pd.src_desc(), w_want = pd.weights_desc(), dst_md = pd.dst_desc();
      prim = dnnl::convolution_forward(pd);
    }
    const tag user_tag = deconv ? tag::iohw : tag::oihw;
    memory w = int8 ? reorder_user(wq.data(), {wdims, dt::s8, user_tag}, w_want)
                    : reorder_user(op.weights.data(), {wdims, dt::f32, user_tag}, w_want);
    memory bias(b_md, eng);
    if (int8) {
      auto* bq = static_cast<int32_t*>(bias.get_data_handle());
      for (int oc = 0; oc < op.cout; ++oc)
        bq[oc] = static_cast<int32_t>(std::lround(op.bias[oc] * buf_mult(op.inputs[0]) * wmult[oc]));
    } else {
      std::copy(op.bias.begin(), op.bias.end(), static_cast<float*>(bias.get_data_handle()));
    }
    const memory src = as_layout(op.inputs[0], src_want);
    set_output(op, dst_md);
    steps.push_back({prim, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, bias},
                            {DNNL_ARG_DST, buffers[static_cast<size_t>(op.output)].mem}}});
  }

  // User data (`user` layout) copied into a new memory of layout `want`.
  memory reorder_user(const void* data, const memory::desc& user_md, const memory::desc& want) {
    memory user(user_md, eng);
    std::memcpy(user.get_data_handle(), data, user_md.get_size());
    if (user.get_desc() == want) return user;
    memory out(want, eng);
    dnnl::reorder(user, out).execute(strm, user, out);
    strm.wait();
    return out;
  }

  void add_maxpool(const DnnOp& op) {
    const memory::dims in = dims_of(op.inputs[0]);
    buffers[static_cast<size_t>(op.output)].dims = in;  // stride 1, padding k/2: same size
    const memory& src = buffers[static_cast<size_t>(op.inputs[0])].mem;
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src.get_desc(),
                                  memory::desc(in, src.get_desc().data_type(), tag::any), {1, 1}, {op.kernel, op.kernel},
                                  {op.pad, op.pad}, {op.pad, op.pad});
    dnnl::pooling_forward::primitive_desc pd(d, eng);
    set_output(op, pd.dst_desc());
    steps.push_back({dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, buffers[static_cast<size_t>(op.output)].mem}}});
  }

  void add_concat(const DnnOp& op) {
    std::vector<memory::desc> mds;
    memory::dims out = dims_of(op.inputs[0]);
    out[1] = 0;
    for (int i : op.inputs) {
      mds.push_back(buffers[static_cast<size_t>(i)].mem.get_desc());
      out[1] += dims_of(i)[1];
    }
    buffers[static_cast<size_t>(op.output)].dims = out;
    // The destination in the first input's layout family (blocked in, blocked out).
    dnnl::concat::primitive_desc pd(1, mds, eng);
    set_output(op, pd.dst_desc());
    Step s{dnnl::concat(pd), {{DNNL_ARG_DST, buffers[static_cast<size_t>(op.output)].mem}}};
    for (size_t i = 0; i < op.inputs.size(); ++i)
      s.args.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), buffers[static_cast<size_t>(op.inputs[i])].mem);
    steps.push_back(std::move(s));
  }

  void add_sum(const DnnOp& op) {
    buffers[static_cast<size_t>(op.output)].dims = dims_of(op.inputs[0]);
    // Both inputs in the layout of the first (a reorder when they differ); in INT8 each input's scale
    // is folded into its sum coefficient.
    const memory a = buffers[static_cast<size_t>(op.inputs[0])].mem;
    const memory b = as_layout(op.inputs[1], with_dt(a.get_desc(), buffers[static_cast<size_t>(op.inputs[1])].mem.get_desc().data_type()));
    std::vector<float> scales = op.scales;
    for (size_t i = 0; i < 2; ++i) scales[i] *= buf_mult(op.output) / buf_mult(op.inputs[i]);
    dnnl::sum::primitive_desc pd(with_dt(a.get_desc(), buf_dt(op.output)), scales, {a.get_desc(), b.get_desc()}, eng);
    set_output(op, pd.dst_desc());
    steps.push_back({dnnl::sum(pd),
                     {{DNNL_ARG_MULTIPLE_SRC, a}, {DNNL_ARG_MULTIPLE_SRC + 1, b},
                      {DNNL_ARG_DST, buffers[static_cast<size_t>(op.output)].mem}}});
  }

  memory plain_output(int buf) {
    const memory::dims d = dims_of(buf);
    const memory::desc plain(d, dt::f32, tag::nchw);
    const memory& m = buffers[static_cast<size_t>(buf)].mem;
    if (m.get_desc() == plain) return m;
    memory out = make_act(plain);
    steps.push_back({dnnl::reorder(m, out), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, out}}});
    return out;
  }
};

OnednnNet::OnednnNet(const DnnGraph& graph, int batch, int height, int width, const Options& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.q = options.int8;
  m.share_memory = options.share_memory;
  if (m.q && (m.q->mult.size() != static_cast<size_t>(graph.num_buffers) ||
              m.q->is_unsigned.size() != static_cast<size_t>(graph.num_buffers)))
    throw Error("oneDNN runtime: the INT8 plan does not belong to this graph");
  m.head_out.assign(static_cast<size_t>(graph.num_buffers), 0);
  for (int b : graph.reg_outputs) m.head_out[static_cast<size_t>(b)] = 1;
  for (int b : graph.cls_outputs) m.head_out[static_cast<size_t>(b)] = 1;
  if (batch < 1 || height < 32 || width < 32 || height % 32 || width % 32)
    throw Error("oneDNN runtime: input " + std::to_string(batch) + "x" + std::to_string(height) + "x" +
                std::to_string(width) + " is not a batch >= 1 of multiples of 32");
  m.graph = graph;
  m.batch = batch, m.height = height, m.width = width;
  m.buffers.resize(static_cast<size_t>(graph.num_buffers));
  m.buffers[0].dims = {batch, graph.input_channels, height, width};
  m.input_user = memory({m.buffers[0].dims, dt::f32, tag::nchw}, m.eng, DNNL_MEMORY_NONE);
  m.buffers[0].mem = m.input_user;
  for (DnnOp& op : m.graph.ops) {
    try {
      switch (op.kind) {
        case DnnOpKind::Conv: m.add_conv(op); break;
        case DnnOpKind::Deconv: m.add_conv(op); break;
        case DnnOpKind::MaxPool: m.add_maxpool(op); break;
        case DnnOpKind::Concat: m.add_concat(op); break;
        case DnnOpKind::Sum: m.add_sum(op); break;
      }
    } catch (const dnnl::error& e) {
      throw Error("oneDNN runtime: " + op.name + ": " + e.what());
    }
    // The weights now live in oneDNN memory: drop the copies.
    std::vector<float>().swap(op.weights);
    std::vector<float>().swap(op.bias);
  }
  for (size_t l = 0; l < m.graph.reg_outputs.size(); ++l) {
    m.reg_plain.push_back(m.plain_output(m.graph.reg_outputs[l]));
    m.cls_plain.push_back(m.plain_output(m.graph.cls_outputs[l]));
  }
  m.plan_memory();
}

void OnednnNet::Impl::plan_memory() {
  // Live range of every activation: [first step touching it, last step touching it]; the decoded
  // head outputs stay live to the end.
  const size_t n = acts.size(), end = steps.size();
  std::unordered_map<dnnl_memory_t, size_t> index;
  for (size_t i = 0; i < n; ++i) index.emplace(acts[i].get(), i);
  std::vector<size_t> first(n, end), last(n, 0);
  for (size_t s = 0; s < steps.size(); ++s)
    for (const auto& kv : steps[s].args) {
      auto it = index.find(kv.second.get());
      if (it == index.end()) continue;  // input, weights, biases
      first[it->second] = std::min(first[it->second], s);
      last[it->second] = std::max(last[it->second], s);
    }
  for (const auto* outs : {&reg_plain, &cls_plain})
    for (const memory& m : *outs) last[index.at(m.get())] = end;
  if (!share_memory)  // every activation keeps its values (calibration reads them after the run)
    for (size_t i = 0; i < n; ++i) first[i] = 0, last[i] = end;
  // Greedy: in order of first use, take a free slot (its tenant's range ended before), the smallest
  // that is big enough, else the biggest free one grown, else a new slot.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return first[a] < first[b]; });
  struct Slot {
    size_t bytes = 0, busy_until = 0;
    bool used = false;
  };
  std::vector<Slot> slot_info;
  std::vector<size_t> slot_of(n);
  for (size_t i : order) {
    const size_t bytes = acts[i].get_desc().get_size();
    unshared_bytes += bytes;
    int best = -1;
    for (size_t k = 0; k < slot_info.size(); ++k) {
      const Slot& sl = slot_info[k];
      if (sl.used && sl.busy_until >= first[i]) continue;
      if (best < 0) {
        best = static_cast<int>(k);
        continue;
      }
      const Slot& b = slot_info[static_cast<size_t>(best)];
      const bool fits = sl.bytes >= bytes, best_fits = b.bytes >= bytes;
      if ((fits && (!best_fits || sl.bytes < b.bytes)) || (!fits && !best_fits && sl.bytes > b.bytes))
        best = static_cast<int>(k);
    }
    if (best < 0) {
      slot_info.push_back({});
      best = static_cast<int>(slot_info.size() - 1);
    }
    Slot& sl = slot_info[static_cast<size_t>(best)];
    sl.bytes = std::max(sl.bytes, bytes);
    sl.busy_until = last[i];
    sl.used = true;
    slot_of[i] = static_cast<size_t>(best);
  }
  slots.resize(slot_info.size());
  for (size_t k = 0; k < slot_info.size(); ++k) {
    slots[k].assign(slot_info[k].bytes / sizeof(float) + 16, 0.0f);  // + 64 bytes of alignment room
    arena_bytes += slots[k].size() * sizeof(float);
  }
  for (size_t i = 0; i < n; ++i) {
    auto addr = reinterpret_cast<uintptr_t>(slots[slot_of[i]].data());
    addr = (addr + 63) & ~static_cast<uintptr_t>(63);
    acts[i].set_data_handle(reinterpret_cast<void*>(addr));
  }
}

OnednnNet::~OnednnNet() = default;

int OnednnNet::batch() const { return impl_->batch; }
int OnednnNet::height() const { return impl_->height; }
int OnednnNet::width() const { return impl_->width; }
int OnednnNet::num_classes() const { return impl_->graph.num_classes; }
std::vector<std::string> OnednnNet::conv_implementations() const { return impl_->conv_impls; }
size_t OnednnNet::activation_bytes() const { return impl_->arena_bytes; }
size_t OnednnNet::unshared_activation_bytes() const { return impl_->unshared_bytes; }

int OnednnNet::num_anchors() const { return count_anchors(impl_->height, impl_->width, impl_->graph.strides); }

void OnednnNet::run(const float* input, std::vector<float>& boxes, std::vector<float>& scores) {
  Impl& m = *impl_;
  m.input_user.set_data_handle(const_cast<float*>(input));
  for (Impl::Step& s : m.steps) s.prim.execute(m.strm, s.args);
  m.strm.wait();

  // The decode (detect/decode.h), per level and image, into the flat outputs.
  const int A = num_anchors(), C = m.graph.num_classes, R = m.graph.reg_max + 1;
  boxes.assign(static_cast<size_t>(m.batch) * A * 4, 0.0f);
  scores.assign(static_cast<size_t>(m.batch) * A * C, 0.0f);
  int first = 0;
  for (size_t l = 0; l < m.graph.strides.size(); ++l) {
    const int s = m.graph.strides[l], h = m.height / s, w = m.width / s, hw = h * w;
    const float* reg = static_cast<const float*>(m.reg_plain[l].get_data_handle());
    const float* cls = static_cast<const float*>(m.cls_plain[l].get_data_handle());
    for (int b = 0; b < m.batch; ++b)
      decode_level(reg + static_cast<size_t>(b) * 4 * R * hw, cls + static_cast<size_t>(b) * C * hw, h, w, s, R, C,
                   &boxes[(static_cast<size_t>(b) * A + first) * 4], &scores[(static_cast<size_t>(b) * A + first) * C]);
    first += hw;
  }
}

void OnednnNet::update_ranges(DnnRanges& r) const {
  const Impl& m = *impl_;
  if (m.share_memory || m.q) throw Error("oneDNN runtime: ranges need an FP32 net built with share_memory=false");
  r.lo.resize(m.buffers.size(), INFINITY);
  r.hi.resize(m.buffers.size(), -INFINITY);
  for (size_t b = 0; b < m.buffers.size(); ++b) {
    const memory& mem = m.buffers[b].mem;
    const float* p = static_cast<const float*>(mem.get_data_handle());
    const size_t n = mem.get_desc().get_size() / sizeof(float);  // blocked layouts pad with zeros
    for (size_t i = 0; i < n; ++i) {
      r.lo[b] = std::min(r.lo[b], p[i]);
      r.hi[b] = std::max(r.hi[b], p[i]);
    }
  }
}

}  // namespace yolonas
