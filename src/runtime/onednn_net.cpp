// oneDNN execution of a DnnGraph. See onednn_net.h.
#include "yolonas/runtime/onednn_net.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>

#include "yolonas/core/error.h"
#include "yolonas/detect/decode.h"

namespace yolonas {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// oneDNN 2.x (Debian 12) and 3.x (Debian 13) differ in how primitive descriptors are made, in the
// memory descriptor's accessors and in quantization scales (2.x: output scales fixed when the
// primitive is made; 3.x: per-argument scales passed as memory at run time). These helpers hide the
// first two; add_conv and the scaled reorders handle the scales for each.
namespace {
#if DNNL_VERSION_MAJOR >= 3
constexpr bool kDnnl3 = true;
dt data_type_of(const memory::desc& md) { return md.get_data_type(); }
#else
constexpr bool kDnnl3 = false;
dt data_type_of(const memory::desc& md) { return md.data_type(); }
#endif

// `md` with another data type, same dims and layout. oneDNN 3's descriptors are opaque: the layout
// is matched against the plain and blocked tags oneDNN picks for activations; a layout none of them
// gives becomes NHWC (every use goes through a reorder or a primitive that accepts it).
memory::desc with_dt(const memory::desc& md, dt t) {
#if DNNL_VERSION_MAJOR >= 3
  const memory::dims d = md.get_dims();
  const dt from = md.get_data_type();
  for (tag k : {tag::nchw, tag::nhwc, tag::nChw16c, tag::nChw8c, tag::nChw4c, tag::chwn, tag::NChw16n16c})
    if (memory::desc(d, from, k, true) == md) return memory::desc(d, t, k);
  return memory::desc(d, t, d.size() == 4 ? tag::nhwc : tag::any);
#else
  memory::desc out = md;
  out.data.data_type = static_cast<dnnl_data_type_t>(t);
  return out;
#endif
}

void append_eltwise(dnnl::post_ops& po, dnnl::algorithm alg, float alpha, float beta) {
#if DNNL_VERSION_MAJOR >= 3
  po.append_eltwise(alg, alpha, beta);
#else
  po.append_eltwise(1.0f, alg, alpha, beta);
#endif
}

#if DNNL_VERSION_MAJOR >= 3
// Run-time scales as oneDNN 3 takes them: an f32 vector memory holding `values`.
memory scales_memory(const dnnl::engine& eng, const std::vector<float>& values) {
  memory m({{static_cast<memory::dim>(values.size())}, dt::f32, tag::x}, eng);
  std::copy(values.begin(), values.end(), static_cast<float*>(m.get_data_handle()));
  return m;
}
#endif

// A reorder from `src` to `dst` that multiplies by `scale` (quantize: the buffer's multiplier;
// dequantize: its inverse): the primitive and the scale argument oneDNN 3 needs (none for 2.x).
std::pair<dnnl::reorder, std::unordered_map<int, memory>> scaled_reorder(const dnnl::engine& eng, const memory& src,
                                                                           const memory& dst, float scale,
                                                                           dnnl::primitive_attr attr) {
  std::unordered_map<int, memory> args{{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
  if (scale != 1.0f) {
#if DNNL_VERSION_MAJOR >= 3
    attr.set_scales_mask(DNNL_ARG_SRC, 0);
    args.emplace(DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, scales_memory(eng, {scale}));
#else
    (void)eng;
    attr.set_output_scales(0, {scale});
#endif
  }
  return {dnnl::reorder(src, dst, attr), std::move(args)};
}

// The scratchpad a primitive asks for (an empty descriptor when none).
memory::desc scratchpad_of(const dnnl::primitive& prim) {
  const_dnnl_primitive_desc_t cpd = nullptr;
  if (dnnl_primitive_get_primitive_desc(prim.get(), &cpd) != dnnl_success) throw Error("oneDNN runtime: cannot query a primitive");
#if DNNL_VERSION_MAJOR >= 3
  const_dnnl_memory_desc_t md = dnnl_primitive_desc_query_md(cpd, dnnl_query_scratchpad_md, 0);
  if (!md) return memory::desc();
  dnnl_memory_desc_t copy = nullptr;
  if (dnnl_memory_desc_clone(&copy, md) != dnnl_success) throw Error("oneDNN runtime: cannot copy a scratchpad descriptor");
  return memory::desc(copy);
#else
  const dnnl_memory_desc_t* md = dnnl_primitive_desc_query_md(cpd, dnnl_query_scratchpad_md, 0);
  return md ? memory::desc(*md) : memory::desc();
#endif
}
}  // namespace

struct OnednnNet::Impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};  // for the weight reorders while building
  DnnGraph graph;  // the structure (weights are dropped once they are in oneDNN memory)
  int batch = 1, height = 0, width = 0;
  const DnnInt8* q = nullptr;     // INT8 plan, or FP32
  bool share_memory = true;
  std::vector<uint8_t> head_out;  // buffers the decode reads: f32 even in INT8

  bool bf16 = false;  // activations in bfloat16 (the decode's inputs stay f32)
  dt buf_dt(int b) const {
    if (head_out[static_cast<size_t>(b)]) return dt::f32;
    if (bf16) return dt::bf16;
    if (!q || q->is_f32[static_cast<size_t>(b)]) return dt::f32;
    return q->is_unsigned[static_cast<size_t>(b)] ? dt::u8 : dt::s8;
  }
  bool quantized(int b) const { const dt t = buf_dt(b); return t == dt::u8 || t == dt::s8; }
  float buf_mult(int b) const { return quantized(b) ? q->mult[static_cast<size_t>(b)] : 1.0f; }

  struct Buffer {
    memory::dims dims;  // N, C, H, W
    memory mem;         // in the layout its producer chose
  };
  std::vector<Buffer> buffers;
  memory input_user;  // NCHW, handle set per run

  struct Step {
    dnnl::primitive prim;
    std::unordered_map<int, memory> args;
    std::string kind;  // for profiles: "conv int8", "reorder", ...
  };
  bool profiling = false;
  std::mutex profile_m;
  std::map<std::string, double> profile_ms;
  int profile_runs = 0;
  std::vector<Step> steps;
  std::vector<std::string> conv_impls;
  // Head outputs as the decode reads them (f32 NHWC): per level, reg then cls.
  std::vector<memory> reg_plain, cls_plain;

  // Activations share a few arena slots: each lives from the step that writes it to the last step
  // that reads it (plan_memory), so the net needs a fraction of the sum of its buffers.
  std::vector<memory> acts;
  std::vector<size_t> slot_of;       // act -> arena slot
  std::vector<size_t> slot_floats;   // slot -> floats to allocate (64 bytes of alignment room included)
  size_t arena_bytes = 0, unshared_bytes = 0;

  // Where each step argument comes from: an activation (bound per context) or a constant (weights,
  // biases, shared by every context). act == kInput: the network input.
  static constexpr size_t kConst = static_cast<size_t>(-1), kInput = static_cast<size_t>(-2);
  std::vector<std::vector<std::pair<int, size_t>>> arg_source;  // per step: (arg, act index / kConst / kInput)
  size_t reg_act_base = 0;  // reg_plain / cls_plain as act indices: reg_acts[l], cls_acts[l]
  std::vector<size_t> reg_acts, cls_acts;

  // What one run needs for itself: the activation arena, the memory objects bound to it, a stream.
  // Primitives and weights are shared; several contexts let several threads run the net at once.
  struct Context {
    dnnl::stream strm;
    std::vector<std::vector<float>> slots;
    std::vector<memory> acts;
    memory input;
    std::vector<float> scratch;                           // the steps' scratchpad (one at a time)
    std::vector<std::unordered_map<int, memory>> args;  // per step
  };
  std::mutex ctx_m;
  std::vector<std::unique_ptr<Context>> contexts;
  std::vector<Context*> free_contexts;
  Context* last_context = nullptr;  // the context of the last run (update_ranges reads it)

  std::unique_ptr<Context> make_context();
  Context* acquire();
  void release(Context* c);

  memory make_act(const memory::desc& md) {
    acts.push_back(memory(md, eng, static_cast<void*>(nullptr)));
    return acts.back();
  }

  void plan_memory();

  // Every step's primitive takes its scratchpad from the caller (scratchpad_mode::user): with the
  // library's (default) mode, oneDNN shares one scratchpad among primitives and a primitive must not
  // run in two threads at once, so concurrent runs (one context each) corrupted each other's
  // results. Each context owns a scratch buffer as large as the largest step needs.
  static dnnl::primitive_attr user_scratchpad() {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }
  std::vector<memory::desc> scratch_mds;  // per step; size 0 when the step needs none
  size_t scratch_bytes = 0;

  // `buf` in the layout `want`: the buffer itself, or a reorder into a new memory added as a step.
  memory as_layout(int buf, const memory::desc& want) {
    const memory& m = buffers[static_cast<size_t>(buf)].mem;
    if (m.get_desc() == want) return m;
    memory out = make_act(want);
    const dt from = data_type_of(m.get_desc()), to = data_type_of(want);
    // f32 -> int8 (the network input): quantize with the buffer's scale.
    const float scale = from == dt::f32 && (to == dt::u8 || to == dt::s8) ? q->mult[static_cast<size_t>(buf)] : 1.0f;
    auto [prim, args] = scaled_reorder(eng, m, out, scale, user_scratchpad());
    steps.push_back({prim, std::move(args), to != from ? "reorder (quantize input)" : "reorder (layout)"});
    return out;
  }

  void set_output(const DnnOp& op, const memory::desc& md) {
    Buffer& b = buffers[static_cast<size_t>(op.output)];
    b.mem = make_act(md);
  }

  memory::dims dims_of(int buf) const { return buffers[static_cast<size_t>(buf)].dims; }

  // Sums folded into the convolution before them (fuse_sum): sum op index -> true once folded.
  bool fuse_sum = true;
  std::vector<uint8_t> sum_folded;  // per op
  std::vector<int> fold_into;       // per conv op: the sum op it may absorb, or -1

  // Finds, for every two-input sum, a convolution producing one of its inputs that nothing else
  // reads (the bottleneck's cv2 before `alpha * x + y`): that convolution may write the sum itself
  // (its output scaled, plus the other input through a binary post-op). The absorbed buffer then
  // never exists (read_buffer and update_ranges refuse it).
  void plan_sum_folding() {
    const size_t n_ops = graph.ops.size();
    fold_into.assign(n_ops, -1);
    sum_folded.assign(n_ops, 0);
    if (!fuse_sum) return;
    std::vector<int> producer(static_cast<size_t>(graph.num_buffers), -1), readers(static_cast<size_t>(graph.num_buffers), 0);
    for (size_t i = 0; i < n_ops; ++i) {
      producer[static_cast<size_t>(graph.ops[i].output)] = static_cast<int>(i);
      for (int in : graph.ops[i].inputs) ++readers[static_cast<size_t>(in)];
    }
    for (size_t i = 0; i < n_ops; ++i) {
      const DnnOp& s = graph.ops[i];
      if (s.kind != DnnOpKind::Sum || s.inputs.size() != 2 || s.scales.size() != 2) continue;
      for (int k : {1, 0}) {
        const int y = s.inputs[static_cast<size_t>(k)], x = s.inputs[static_cast<size_t>(1 - k)];
        const int py = producer[static_cast<size_t>(y)], px = producer[static_cast<size_t>(x)];
        if (py < 0 || px < 0 || px >= py || x == y || readers[static_cast<size_t>(y)] != 1 || head_out[static_cast<size_t>(y)] ||
            graph.ops[static_cast<size_t>(py)].kind != DnnOpKind::Conv || !(s.scales[static_cast<size_t>(k)] > 0) ||
            !(s.scales[static_cast<size_t>(1 - k)] > 0))
          continue;
        fold_into[static_cast<size_t>(py)] = static_cast<int>(i);
        break;
      }
    }
  }

  // Convolution or transposed convolution, FP32 or INT8; `sum_op` >= 0: the sum it absorbs.
  void add_conv(const DnnOp& op, int sum_op = -1) {
    const DnnOp* sum = sum_op >= 0 ? &graph.ops[static_cast<size_t>(sum_op)] : nullptr;
    const bool deconv = op.kind == DnnOpKind::Deconv;
    const memory::dims in = dims_of(op.inputs[0]);
    if (in[1] != op.cin) throw Error(op.name + ": expects " + std::to_string(op.cin) + " input channels, gets " + std::to_string(in[1]));
    const memory::dim oh = deconv ? in[2] * op.stride : (in[2] + 2 * op.pad - op.kernel) / op.stride + 1;
    const memory::dim ow = deconv ? in[3] * op.stride : (in[3] + 2 * op.pad - op.kernel) / op.stride + 1;
    const memory::dims out = {in[0], op.cout, oh, ow};
    buffers[static_cast<size_t>(op.output)].dims = out;
    const memory::dims wdims = {op.cout, op.cin, op.kernel, op.kernel};
    // INT8 when the input is quantized (its output may be f32: the first convolution of a head).
    const bool int8 = quantized(op.inputs[0]);
    // An FP32 convolution (selective INT8 keeps its input in FP32) writing a quantized buffer writes
    // f32, then a reorder quantizes it.
    const bool requantize = !int8 && quantized(sum ? sum->output : op.output);
    if (sum && requantize) return add_conv(op);  // the sum stays a step of its own
    // With a sum: this convolution writes the sum's buffer z = sx * x + sy * y (y its own output).
    // In stored units (z_q = z * mult_z): z_q = r * (relu(a * acc) + x_q), r = sx * mult_z / mult_x,
    // a = sy * mult_z / (r * mult_src * wmult) (acc in the input's and weights' units); r > 0.
    const int out_buf = sum ? sum->output : op.output;
    int x_buf = -1;
    float sy = 1.0f, r = 1.0f;
    if (sum) {
      const size_t ky = sum->inputs[0] == op.output ? 0 : 1;
      x_buf = sum->inputs[1 - ky];
      sy = sum->scales[ky];
      r = sum->scales[1 - ky] * buf_mult(out_buf) / buf_mult(x_buf);
    }
    const dt src_t = buf_dt(op.inputs[0]), dst_t = requantize ? dt::f32 : buf_dt(out_buf);
    // bf16: bf16 source and weights, f32 accumulation and bias, bf16 (or f32 for the heads) output.
    const dt w_t = int8 ? dt::s8 : src_t == dt::bf16 ? dt::bf16 : dt::f32;
    // oneDNN 2.x: an INT8 bias in the accumulator's units (s32); 3.x: in the output's (f32, added
    // after the scales).
    const memory::desc src_any(in, src_t, tag::any), w_any(wdims, w_t, tag::any),
        b_md({op.cout}, int8 && !kDnnl3 ? dt::s32 : dt::f32, tag::a), dst_any(out, dst_t, tag::any);
    const memory::dims strides = {op.stride, op.stride}, pad = {op.pad, op.pad};
    dnnl::primitive_attr attr = user_scratchpad();
    int binary_index = -1;
    {
      dnnl::post_ops po;
      if (op.relu) append_eltwise(po, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      if (sum) {
        binary_index = po.len();
        po.append_binary(dnnl::algorithm::binary_add, buffers[static_cast<size_t>(x_buf)].mem.get_desc());
        if (r != 1.0f) append_eltwise(po, dnnl::algorithm::eltwise_linear, r, 0.0f);
      }
      if (po.len() > 0) attr.set_post_ops(po);
    }
    std::vector<float> wmult;
    std::vector<int8_t> wq;
    std::vector<float> scales;  // INT8: per output channel, applied to the accumulator
    // FP32 / BF16 with oneDNN 3, which takes scales on integer convolutions only: the sum's factor
    // sy / r (> 0, so it commutes with the ReLU) multiplies the weights and the bias instead.
    float prescale = 1.0f;
    if (int8) {
      // dst = (sum src_q * w_q + bias_q) * mult_dst / (mult_src * wmult[oc])
      if (!op.qweights.empty()) {  // from an INT8 model file: quantized when it was written
        if (op.qweights.size() != static_cast<size_t>(op.cout) * op.cin * op.kernel * op.kernel ||
            op.wscales.size() != static_cast<size_t>(op.cout))
          throw Error(op.name + ": the INT8 weights do not have the layer's shape");
        wmult = op.wscales.to_vector();
      } else {
        if (op.weights.empty()) throw Error(op.name + ": no weights");
        wq = quantize_weights(op, wmult);
      }
      scales.resize(static_cast<size_t>(op.cout));
      for (int oc = 0; oc < op.cout; ++oc)
        scales[oc] = sy * buf_mult(out_buf) / (r * buf_mult(op.inputs[0]) * wmult[oc]);
#if DNNL_VERSION_MAJOR >= 3
      attr.set_scales_mask(DNNL_ARG_WEIGHTS, 1 << 0);
#else
      attr.set_output_scales(1 << 1, scales);
#endif
    } else if (sum && sy / r != 1.0f) {
#if DNNL_VERSION_MAJOR >= 3
      prescale = sy / r;
#else
      attr.set_output_scales(0, {sy / r});
#endif
    }
    dnnl::primitive prim;
    memory::desc src_want, w_want, dst_md;
    if (deconv) {
#if DNNL_VERSION_MAJOR >= 3
      dnnl::deconvolution_forward::primitive_desc pd(eng, dnnl::prop_kind::forward_inference,
                                                     dnnl::algorithm::deconvolution_direct, src_any, w_any, b_md, dst_any,
                                                     strides, {0, 0}, {0, 0}, attr);
#else
      dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                          src_any, w_any, b_md, dst_any, strides, {0, 0}, {0, 0});
      dnnl::deconvolution_forward::primitive_desc pd(d, attr, eng);
#endif
      src_want = pd.src_desc(), w_want = pd.weights_desc(), dst_md = pd.dst_desc();
      prim = dnnl::deconvolution_forward(pd);
    } else {
      dnnl::convolution_forward::primitive_desc pd;
      try {
#if DNNL_VERSION_MAJOR >= 3
        pd = dnnl::convolution_forward::primitive_desc(eng, dnnl::prop_kind::forward_inference,
                                                       dnnl::algorithm::convolution_direct, src_any, w_any, b_md, dst_any,
                                                       strides, pad, pad, attr);
#else
        dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                          src_any, w_any, b_md, dst_any, strides, pad, pad);
        pd = dnnl::convolution_forward::primitive_desc(d, attr, eng);
#endif
      } catch (const dnnl::error&) {
        if (sum) return add_conv(op);  // no kernel takes this post-op chain: the sum stays a step
        throw;
      }
      // A fused sum that only a reference or GEMM-based kernel runs costs more than the sum step
      // (measured: oneDNN 2.6 FP32 takes x64:gemm:jit, 193 ms instead of 65 for those convolutions).
      if (sum) {
        const std::string impl = pd.impl_info_str();
        if (impl.find("ref") != std::string::npos || impl.find("gemm") != std::string::npos) return add_conv(op);
      }
      conv_impls.push_back(pd.impl_info_str());
      src_want = pd.src_desc(), w_want = pd.weights_desc(), dst_md = pd.dst_desc();
      prim = dnnl::convolution_forward(pd);
    }
    const tag user_tag = deconv ? tag::iohw : tag::oihw;
    if (!int8 && op.weights.size() != static_cast<size_t>(op.cout) * op.cin * op.kernel * op.kernel)
      throw Error(op.name + ": " + (op.weights.empty() ? std::string("no FP32 weights (an INT8 model file keeps this layer quantized)")
                                                      : "the weights do not have the layer's shape"));
    if (op.bias.size() != static_cast<size_t>(op.cout)) throw Error(op.name + ": the bias does not have the layer's shape");
    std::vector<float> scaled_w;
    if (!int8 && prescale != 1.0f) {
      scaled_w = op.weights.to_vector();
      for (float& v : scaled_w) v *= prescale;
    }
    memory w = int8 ? reorder_user(op.qweights.empty() ? wq.data() : op.qweights.data(), {wdims, dt::s8, user_tag}, w_want)
                    : reorder_user(scaled_w.empty() ? op.weights.data() : scaled_w.data(), {wdims, dt::f32, user_tag}, w_want);
    memory bias(b_md, eng);
    if (int8 && !kDnnl3) {
      auto* bq = static_cast<int32_t*>(bias.get_data_handle());
      for (int oc = 0; oc < op.cout; ++oc)
        bq[oc] = static_cast<int32_t>(std::lround(op.bias[oc] * buf_mult(op.inputs[0]) * wmult[oc]));
    } else if (int8) {
      // oneDNN 3 adds the bias after the scales: scales[oc] * bias_q, with bias_q rounded to the
      // accumulator's units as for 2.x, so both compute scales[oc] * (acc + bias_q) (QAT's graph too).
      auto* bf = static_cast<float*>(bias.get_data_handle());
      for (int oc = 0; oc < op.cout; ++oc)
        bf[oc] = scales[oc] * static_cast<float>(std::lround(op.bias[oc] * buf_mult(op.inputs[0]) * wmult[oc]));
    } else {
      auto* bf = static_cast<float*>(bias.get_data_handle());
      for (int oc = 0; oc < op.cout; ++oc) bf[oc] = op.bias[oc] * prescale;
    }
    const memory src = as_layout(op.inputs[0], src_want);
    const memory conv_dst = requantize ? make_act(dst_md) : memory();
    if (!requantize) buffers[static_cast<size_t>(out_buf)].mem = make_act(dst_md);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, bias},
                                         {DNNL_ARG_DST, requantize ? conv_dst : buffers[static_cast<size_t>(out_buf)].mem}};
#if DNNL_VERSION_MAJOR >= 3
    if (int8) args.emplace(DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, scales_memory(eng, scales));
#endif
    if (sum) {
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(binary_index) | DNNL_ARG_SRC_1, buffers[static_cast<size_t>(x_buf)].mem);
      sum_folded[static_cast<size_t>(sum_op)] = 1;
      buffers[static_cast<size_t>(out_buf)].dims = out;
    }
    steps.push_back({prim, std::move(args),
                     std::string(deconv ? "deconv" : op.kernel == 1 ? "conv 1x1" : "conv " + std::to_string(op.kernel) + "x" +
                                 std::to_string(op.kernel)) + (int8 ? " int8" : src_t == dt::bf16 ? " bf16" : " fp32") +
                         (sum ? " +sum" : "")});
    if (requantize) {
      set_output(op, with_dt(dst_md, buf_dt(op.output)));
      const memory& q = buffers[static_cast<size_t>(op.output)].mem;
      auto [qprim, qargs] = scaled_reorder(eng, conv_dst, q, buf_mult(op.output), user_scratchpad());
      steps.push_back({qprim, std::move(qargs), "reorder (quantize)"});
    }
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

  // Max-pools made so far: (input buffer, kernel) -> output buffer.
  std::map<std::pair<int, int>, int> pools;

  void add_maxpool(const DnnOp& op) {
    const memory::dims in = dims_of(op.inputs[0]);
    buffers[static_cast<size_t>(op.output)].dims = in;  // stride 1, padding k/2: same size
    // SPP pools one input with k = 5, 9, 13: a k pool of an earlier j pool of the same input is the
    // k - j + 1 pool of that one's output (stride 1, padding never wins a max), exactly; smaller
    // windows, the same values.
    int src_buf = op.inputs[0], kernel = op.kernel;
    if (op.pad * 2 + 1 == op.kernel)
      for (const auto& [key, out_buf] : pools)
        if (key.first == op.inputs[0] && key.second < op.kernel && (op.kernel - key.second) % 2 == 0 &&
            op.kernel - key.second + 1 < kernel)
          src_buf = out_buf, kernel = op.kernel - key.second + 1;
    pools[{op.inputs[0], op.kernel}] = op.output;
    const memory& src = buffers[static_cast<size_t>(src_buf)].mem;
    const memory::dim pad = src_buf == op.inputs[0] ? op.pad : (kernel - 1) / 2;
    const memory::desc dst_any(in, data_type_of(src.get_desc()), tag::any);
#if DNNL_VERSION_MAJOR >= 3
    dnnl::pooling_forward::primitive_desc pd(eng, dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
                                             src.get_desc(), dst_any, {1, 1}, {kernel, kernel}, {0, 0}, {pad, pad},
                                             {pad, pad}, user_scratchpad());
#else
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src.get_desc(), dst_any,
                                  {1, 1}, {kernel, kernel}, {pad, pad}, {pad, pad});
    dnnl::pooling_forward::primitive_desc pd(d, user_scratchpad(), eng);
#endif
    set_output(op, pd.dst_desc());
    steps.push_back({dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, buffers[static_cast<size_t>(op.output)].mem}},
                     "maxpool"});
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
#if DNNL_VERSION_MAJOR >= 3
    dnnl::concat::primitive_desc pd(eng, 1, mds, user_scratchpad());
#else
    dnnl::concat::primitive_desc pd(1, mds, eng, user_scratchpad());
#endif
    set_output(op, pd.dst_desc());
    Step s{dnnl::concat(pd), {{DNNL_ARG_DST, buffers[static_cast<size_t>(op.output)].mem}}, "concat"};
    for (size_t i = 0; i < op.inputs.size(); ++i)
      s.args.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), buffers[static_cast<size_t>(op.inputs[i])].mem);
    steps.push_back(std::move(s));
  }

  void add_sum(const DnnOp& op) {
    buffers[static_cast<size_t>(op.output)].dims = dims_of(op.inputs[0]);
    // Both inputs in the layout of the first (a reorder when they differ); in INT8 each input's scale
    // is folded into its sum coefficient.
    const memory a = buffers[static_cast<size_t>(op.inputs[0])].mem;
    const memory b = as_layout(op.inputs[1], with_dt(a.get_desc(), data_type_of(buffers[static_cast<size_t>(op.inputs[1])].mem.get_desc())));
    std::vector<float> scales = op.scales;
    for (size_t i = 0; i < 2; ++i) scales[i] *= buf_mult(op.output) / buf_mult(op.inputs[i]);
#if DNNL_VERSION_MAJOR >= 3
    dnnl::sum::primitive_desc pd(eng, with_dt(a.get_desc(), buf_dt(op.output)), scales, {a.get_desc(), b.get_desc()},
                                 user_scratchpad());
#else
    dnnl::sum::primitive_desc pd(with_dt(a.get_desc(), buf_dt(op.output)), scales, {a.get_desc(), b.get_desc()}, eng,
                                 user_scratchpad());
#endif
    set_output(op, pd.dst_desc());
    steps.push_back({dnnl::sum(pd),
                     {{DNNL_ARG_MULTIPLE_SRC, a}, {DNNL_ARG_MULTIPLE_SRC + 1, b},
                      {DNNL_ARG_DST, buffers[static_cast<size_t>(op.output)].mem}},
                     "sum"});
  }

  // A head output as the decode reads it: f32, cell-major (NHWC), which is what oneDNN's INT8
  // convolutions write; other layouts get a reorder.
  memory plain_output(int buf) {
    const memory::dims d = dims_of(buf);
    const memory::desc plain(d, dt::f32, tag::nhwc);
    const memory& m = buffers[static_cast<size_t>(buf)].mem;
    if (m.get_desc() == plain) return m;
    memory out = make_act(plain);
    steps.push_back({dnnl::reorder(m, out, user_scratchpad()), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, out}},
                     "reorder (heads to NHWC)"});
    return out;
  }
};

bool cpu_has_bf16() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

std::string cpu_isa_name() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "SSE4.1";
    case dnnl::cpu_isa::avx: return "AVX";
    case dnnl::cpu_isa::avx2: return "AVX2";
    case dnnl::cpu_isa::avx2_vnni: return "AVX2-VNNI";
#if DNNL_VERSION_MAJOR < 3
    case dnnl::cpu_isa::avx512_mic: return "AVX-512 (MIC)";
    case dnnl::cpu_isa::avx512_mic_4ops: return "AVX-512 (MIC 4ops)";
#endif
    case dnnl::cpu_isa::avx512_core: return "AVX-512";
    case dnnl::cpu_isa::avx512_core_vnni: return "AVX-512 VNNI";
    case dnnl::cpu_isa::avx512_core_bf16: return "AVX-512 BF16";
    case dnnl::cpu_isa::avx512_core_amx: return "AVX-512 AMX";
#if DNNL_VERSION_MAJOR >= 3
    case dnnl::cpu_isa::avx2_vnni_2: return "AVX2-VNNI-2";
    case dnnl::cpu_isa::avx512_core_fp16: return "AVX-512 FP16";
    case dnnl::cpu_isa::avx512_core_amx_fp16: return "AVX-512 AMX-FP16";
#endif
    default: return "generic";
  }
}

OnednnNet::OnednnNet(const DnnGraph& graph, int batch, int height, int width, const Options& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.q = options.int8;
  m.bf16 = options.bf16;
  if (m.q && m.bf16) throw Error("oneDNN runtime: a net is INT8 or BF16, not both");
  if (m.bf16 && !cpu_has_bf16())
    throw Error("engine=bf16 needs a CPU with AVX512-BF16 (or AMX); this one runs oneDNN's " + cpu_isa_name() +
                " kernels: use engine=onednn (FP32) or engine=int8");
  m.share_memory = options.share_memory;
  if (m.q && (m.q->mult.size() != static_cast<size_t>(graph.num_buffers) ||
              m.q->is_unsigned.size() != static_cast<size_t>(graph.num_buffers)))
    throw Error("oneDNN runtime: the INT8 plan does not belong to this graph");
  m.head_out.assign(static_cast<size_t>(graph.num_buffers), 0);
  for (int b : graph.reg_outputs) m.head_out[static_cast<size_t>(b)] = 1;
  for (int b : graph.cls_outputs) m.head_out[static_cast<size_t>(b)] = 1;
  const int multiple = graph.strides.empty() ? 1 : *std::max_element(graph.strides.begin(), graph.strides.end());
  if (batch < 1 || height < multiple || width < multiple || height % multiple || width % multiple)
    throw Error("oneDNN runtime: input " + std::to_string(batch) + "x" + std::to_string(height) + "x" +
                std::to_string(width) + " is not a batch >= 1 of multiples of " + std::to_string(multiple));
  m.graph = graph;
  m.batch = batch, m.height = height, m.width = width;
  m.buffers.resize(static_cast<size_t>(graph.num_buffers));
  m.buffers[0].dims = {batch, graph.input_channels, height, width};
  m.input_user = memory({m.buffers[0].dims, dt::f32, tag::nchw}, m.eng, DNNL_MEMORY_NONE);
  m.buffers[0].mem = m.input_user;
  m.fuse_sum = options.fuse_sum;
  m.plan_sum_folding();
  for (size_t i = 0; i < m.graph.ops.size(); ++i) {
    DnnOp& op = m.graph.ops[i];
    try {
      switch (op.kind) {
        case DnnOpKind::Conv: m.add_conv(op, m.fold_into[i]); break;
        case DnnOpKind::Deconv: m.add_conv(op); break;
        case DnnOpKind::MaxPool: m.add_maxpool(op); break;
        case DnnOpKind::Concat: m.add_concat(op); break;
        case DnnOpKind::Sum:
          if (!m.sum_folded[i]) m.add_sum(op);
          break;
      }
    } catch (const dnnl::error& e) {
      throw Error("oneDNN runtime: " + op.name + ": " + e.what());
    }
    // The weights now live in oneDNN memory: drop this net's references.
    op.weights = {};
    op.bias = {};
    op.qweights = {};
    op.wscales = {};
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
  std::vector<size_t> slot_of_act(n);
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
    slot_of_act[i] = static_cast<size_t>(best);
  }
  slot_floats.resize(slot_info.size());
  for (size_t k = 0; k < slot_info.size(); ++k) {
    slot_floats[k] = slot_info[k].bytes / sizeof(float) + 16;  // + 64 bytes of alignment room
    arena_bytes += slot_floats[k] * sizeof(float);
  }
  slot_of = slot_of_act;

  // Every step argument: an activation (bound per context), the input, or a constant.
  arg_source.resize(steps.size());
  for (size_t s = 0; s < steps.size(); ++s)
    for (const auto& kv : steps[s].args) {
      auto it = index.find(kv.second.get());
      const size_t src = it != index.end() ? it->second : kv.second.get() == input_user.get() ? kInput : kConst;
      arg_source[s].emplace_back(kv.first, src);
    }
  for (const memory& m : reg_plain) reg_acts.push_back(index.at(m.get()));
  for (const memory& m : cls_plain) cls_acts.push_back(index.at(m.get()));

  scratch_mds.clear();
  for (const Step& st : steps) {
    scratch_mds.push_back(scratchpad_of(st.prim));
    scratch_bytes = std::max(scratch_bytes, scratch_mds.back().get_size());
  }
}

std::unique_ptr<OnednnNet::Impl::Context> OnednnNet::Impl::make_context() {
  auto c = std::make_unique<Context>();
  c->strm = dnnl::stream(eng);
  c->slots.resize(slot_floats.size());
  for (size_t k = 0; k < slot_floats.size(); ++k) c->slots[k].assign(slot_floats[k], 0.0f);
  c->acts.reserve(acts.size());
  for (size_t i = 0; i < acts.size(); ++i) {
    auto addr = reinterpret_cast<uintptr_t>(c->slots[slot_of[i]].data());
    addr = (addr + 63) & ~static_cast<uintptr_t>(63);
    c->acts.emplace_back(acts[i].get_desc(), eng, reinterpret_cast<void*>(addr));
  }
  c->input = memory(input_user.get_desc(), eng, DNNL_MEMORY_NONE);
  c->args.resize(steps.size());
  for (size_t s = 0; s < steps.size(); ++s)
    for (const auto& [arg, src] : arg_source[s])
      c->args[s].emplace(arg, src == kConst ? steps[s].args.at(arg) : src == kInput ? c->input : c->acts[src]);
  c->scratch.assign(scratch_bytes / sizeof(float) + 16, 0.0f);
  auto base = reinterpret_cast<uintptr_t>(c->scratch.data());
  base = (base + 63) & ~static_cast<uintptr_t>(63);
  for (size_t s = 0; s < steps.size(); ++s)
    if (scratch_mds[s].get_size() > 0)
      c->args[s].emplace(DNNL_ARG_SCRATCHPAD, memory(scratch_mds[s], eng, reinterpret_cast<void*>(base)));
  return c;
}

OnednnNet::Impl::Context* OnednnNet::Impl::acquire() {
  std::lock_guard<std::mutex> lk(ctx_m);
  if (free_contexts.empty()) {
    contexts.push_back(make_context());
    return contexts.back().get();
  }
  Context* c = free_contexts.back();
  free_contexts.pop_back();
  return c;
}

void OnednnNet::Impl::release(Context* c) {
  std::lock_guard<std::mutex> lk(ctx_m);
  free_contexts.push_back(c);
  last_context = c;
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
  Impl::Context* c = m.acquire();
  struct Release {  // also when decoding throws (it does not; bad_alloc might)
    Impl& m;
    Impl::Context* c;
    ~Release() { m.release(c); }
  } release{m, c};
  c->input.set_data_handle(const_cast<float*>(input));
  using clock = std::chrono::steady_clock;
  std::map<std::string, double> times;
  if (m.profiling) {  // each step waited for and timed (a little slower than the plain run)
    for (size_t s = 0; s < m.steps.size(); ++s) {
      const auto t0 = clock::now();
      m.steps[s].prim.execute(c->strm, c->args[s]);
      c->strm.wait();
      times[m.steps[s].kind] += std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    }
  } else {
    for (size_t s = 0; s < m.steps.size(); ++s) m.steps[s].prim.execute(c->strm, c->args[s]);
    c->strm.wait();
  }
  const auto t_decode = clock::now();

  // The decode (detect/decode.h), per level and image, into the flat outputs; the cells are split
  // into chunks over the OpenMP threads (exp and the softmax dominate: ~1.2 M exp at 640).
  const int A = num_anchors(), C = m.graph.num_classes, R = m.graph.reg_max + 1;
  boxes.resize(static_cast<size_t>(m.batch) * A * 4);
  scores.resize(static_cast<size_t>(m.batch) * A * C);
  struct Chunk {
    const float *reg, *cls;
    int h, w, stride, first, last;
    float *boxes, *scores;
  };
  std::vector<Chunk> chunks;
  int level_first = 0;
  constexpr int kCells = 256;
  for (size_t l = 0; l < m.graph.strides.size(); ++l) {
    const int s = m.graph.strides[l], h = m.height / s, w = m.width / s, hw = h * w;
    const float* reg = static_cast<const float*>(c->acts[m.reg_acts[l]].get_data_handle());
    const float* cls = static_cast<const float*>(c->acts[m.cls_acts[l]].get_data_handle());
    for (int b = 0; b < m.batch; ++b)
      for (int i = 0; i < hw; i += kCells)
        chunks.push_back({reg + static_cast<size_t>(b) * 4 * R * hw, cls + static_cast<size_t>(b) * C * hw, h, w, s, i,
                          std::min(hw, i + kCells), &boxes[(static_cast<size_t>(b) * A + level_first) * 4],
                          &scores[(static_cast<size_t>(b) * A + level_first) * C]});
    level_first += hw;
  }
  const int n = static_cast<int>(chunks.size());
#pragma omp parallel for schedule(dynamic)
  for (int k = 0; k < n; ++k) {
    const Chunk& ch = chunks[static_cast<size_t>(k)];
    decode_cells_nhwc(ch.reg, ch.cls, ch.h, ch.w, ch.stride, R, C, ch.first, ch.last, ch.boxes, ch.scores);
  }
  if (m.profiling) {
    times["decode (C++)"] += std::chrono::duration<double, std::milli>(clock::now() - t_decode).count();
    std::lock_guard<std::mutex> lk(m.profile_m);
    for (const auto& [k, v] : times) m.profile_ms[k] += v;
    ++m.profile_runs;
  }
}

void OnednnNet::set_profiling(bool on) {
  std::lock_guard<std::mutex> lk(impl_->profile_m);
  impl_->profiling = on;
  impl_->profile_ms.clear();
  impl_->profile_runs = 0;
}

std::vector<OnednnNet::ProfileRow> OnednnNet::profile() const {
  std::lock_guard<std::mutex> lk(impl_->profile_m);
  std::map<std::string, int> count;
  for (const auto& s : impl_->steps) ++count[s.kind];
  count["decode (C++)"] = 1;
  std::vector<ProfileRow> rows;
  for (const auto& [kind, ms] : impl_->profile_ms)
    rows.push_back({kind, count[kind], impl_->profile_runs ? ms / impl_->profile_runs : 0.0});
  std::sort(rows.begin(), rows.end(), [](const ProfileRow& a, const ProfileRow& b) { return a.ms > b.ms; });
  return rows;
}

std::vector<float> OnednnNet::read_buffer(int id) const {
  const Impl& m = *impl_;
  if (m.share_memory) throw Error("oneDNN runtime: read_buffer needs a net built with share_memory=false");
  if (!m.last_context) throw Error("oneDNN runtime: read_buffer before any run");
  if (id < 0 || static_cast<size_t>(id) >= m.buffers.size()) throw Error("oneDNN runtime: no buffer " + std::to_string(id));
  const memory& tmpl = m.buffers[static_cast<size_t>(id)].mem;
  if (!tmpl) throw Error("oneDNN runtime: buffer " + std::to_string(id) + " was folded into the sum after it (fuse_sum)");
  size_t act = Impl::kInput;
  for (size_t i = 0; i < m.acts.size(); ++i)
    if (m.acts[i].get() == tmpl.get()) act = i;
  const memory& src = act == Impl::kInput ? m.last_context->input : m.last_context->acts[act];
  const memory::dims d = m.buffers[static_cast<size_t>(id)].dims;
  memory plain({d, dt::f32, tag::nchw}, m.eng);
  // Dequantize a quantized buffer; the input (buffer 0) is the caller's f32 data (an INT8 net
  // quantizes a copy of it).
  const float mult = id == 0 ? 1.0f : m.buf_mult(id);
  auto [prim, args] = scaled_reorder(m.eng, src, plain, 1.0f / mult, dnnl::primitive_attr());
  dnnl::stream strm(m.eng);
  prim.execute(strm, args);
  strm.wait();
  const float* p = static_cast<const float*>(plain.get_data_handle());
  return std::vector<float>(p, p + plain.get_desc().get_size() / sizeof(float));
}

std::vector<int64_t> OnednnNet::buffer_dims(int id) const {
  const Impl& m = *impl_;
  if (id < 0 || static_cast<size_t>(id) >= m.buffers.size()) throw Error("oneDNN runtime: no buffer " + std::to_string(id));
  const memory::dims& d = m.buffers[static_cast<size_t>(id)].dims;
  return std::vector<int64_t>(d.begin(), d.end());
}

size_t OnednnNet::contexts() const {
  std::lock_guard<std::mutex> lk(impl_->ctx_m);
  return impl_->contexts.size();
}

void OnednnNet::update_ranges(DnnRanges& r) const {
  const Impl& m = *impl_;
  if (m.share_memory || m.q) throw Error("oneDNN runtime: ranges need an FP32 net built with share_memory=false");
  if (!m.last_context) throw Error("oneDNN runtime: update_ranges before any run");
  std::unordered_map<dnnl_memory_t, size_t> act_index;
  for (size_t i = 0; i < m.acts.size(); ++i) act_index.emplace(m.acts[i].get(), i);
  r.lo.resize(m.buffers.size(), INFINITY);
  r.hi.resize(m.buffers.size(), -INFINITY);
  for (size_t b = 0; b < m.buffers.size(); ++b) {
    const memory& tmpl = m.buffers[b].mem;
    if (!tmpl) throw Error("oneDNN runtime: ranges need a net built with fuse_sum=false");
    auto it = act_index.find(tmpl.get());
    const memory& mem = it != act_index.end() ? m.last_context->acts[it->second] : m.last_context->input;
    const float* p = static_cast<const float*>(mem.get_data_handle());
    const size_t n = mem.get_desc().get_size() / sizeof(float);  // blocked layouts pad with zeros
    for (size_t i = 0; i < n; ++i) {
      r.lo[b] = std::min(r.lo[b], p[i]);
      r.hi[b] = std::max(r.hi[b], p[i]);
    }
  }
}

}  // namespace yolonas
