// ONNX writer: a minimal protobuf encoder and the YOLO-NAS graph in ONNX operators. See onnx_export.h.
// Field numbers are those of onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
// TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto).
#include "yolonas/export/onnx_export.h"

#include <cstdint>
#include <cstring>

#include "yolonas/core/error.h"
#include "yolonas/detect/decode.h"

namespace yolonas {
namespace {

// Protobuf wire format: varints, length-delimited fields, fixed32.
class Pb {
 public:
  const std::string& bytes() const { return buf_; }

  void varint_field(int field, uint64_t v) {
    key(field, 0);
    varint(v);
  }
  void int64_field(int field, int64_t v) { varint_field(field, static_cast<uint64_t>(v)); }
  void bytes_field(int field, const std::string& s) {
    key(field, 2);
    varint(s.size());
    buf_ += s;
  }
  void message_field(int field, const Pb& m) { bytes_field(field, m.bytes()); }
  void float_field(int field, float f) {
    key(field, 5);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int i = 0; i < 4; ++i) buf_ += static_cast<char>((u >> (8 * i)) & 0xFF);
  }

 private:
  void key(int field, int wire) { varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire)); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      buf_ += static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    buf_ += static_cast<char>(v);
  }
  std::string buf_;
};

constexpr int kFloat = 1, kInt64 = 7, kFloat16 = 10;  // TensorProto.DataType

// IEEE 754 binary16 from a float, rounded to nearest even (overflow to infinity, subnormals kept).
uint16_t to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return static_cast<uint16_t>(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0u));  // inf / nan
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds past 65504: infinity
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal (or zero)
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
    const int shift = 126 - static_cast<int>(abs >> 23);  // 14 + (127 - 1 - exp)
    if (shift > 24) return static_cast<uint16_t>(sign);
    const uint32_t half_mant = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    return static_cast<uint16_t>(sign | (half_mant + (rem > mid || (rem == mid && (half_mant & 1)))));
  }
  const uint32_t e = (abs >> 23) - 112, mant = abs & 0x7FFFFFu;
  uint32_t h = (e << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;  // may carry into the exponent: still right
  return static_cast<uint16_t>(sign | h);
}

// Little-endian bytes of a vector of scalars (x86 and ARM are little-endian; checked below).
template <typename T>
std::string raw_bytes(const std::vector<T>& v) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8, "half, float or int64");
  std::string out(v.size() * sizeof(T), '\0');
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

class OnnxGraph {
 public:
  // half: the network computes in float16 (its constants are float16).
  explicit OnnxGraph(bool half) : half_(half) {}
  bool half() const { return half_; }
  int compute_type() const { return half_ ? kFloat16 : kFloat; }

  // A constant tensor (initializer) in the compute type; returns its name.
  std::string constant(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& data) {
    if (!half_) return constant_f32(name, dims, data);
    std::vector<uint16_t> h(data.size());
    for (size_t i = 0; i < data.size(); ++i) h[i] = to_half(data[i]);
    return initializer(name, dims, kFloat16, raw_bytes(h));
  }
  std::string constant_f32(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& data) {
    return initializer(name, dims, kFloat, raw_bytes(data));
  }
  std::string constant_i64(const std::string& name, const std::vector<int64_t>& data, bool scalar = false) {
    const std::vector<int64_t> dims = scalar ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(data.size())};
    return initializer(name, dims, kInt64, raw_bytes(data));
  }
  // TensorProto: dims (1), data_type (2), name (8), raw_data (9); added to the graph's initializers (5).
  std::string initializer(const std::string& name, const std::vector<int64_t>& dims, int type, const std::string& raw) {
    Pb t;
    for (int64_t d : dims) t.int64_field(1, d);
    t.int64_field(2, type);
    t.bytes_field(8, name);
    t.bytes_field(9, raw);
    graph_.message_field(5, t);
    return name;
  }

  struct Attr {
    std::string name;
    std::vector<int64_t> ints;  // INTS
    bool is_int = false;        // INT: ints[0]
  };

  // A node with one output; returns the output's name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::string& out,
                   const std::vector<Attr>& attrs = {}) {
    return nodes(op, inputs, {out}, attrs).front();
  }
  // A node with several outputs.
  std::vector<std::string> nodes(const std::string& op, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outs, const std::vector<Attr>& attrs = {}) {
    Pb n;
    for (const auto& i : inputs) n.bytes_field(1, i);
    for (const auto& o : outs) n.bytes_field(2, o);
    n.bytes_field(3, outs.front());  // node name = its first output's name: unique
    n.bytes_field(4, op);
    for (const Attr& a : attrs) {
      Pb at;
      at.bytes_field(1, a.name);
      if (a.is_int) {
        at.int64_field(20, 2);  // AttributeType INT
        at.int64_field(3, a.ints.at(0));
      } else {
        at.int64_field(20, 7);  // INTS
        for (int64_t v : a.ints) at.int64_field(8, v);
      }
      n.message_field(5, at);
    }
    graph_.message_field(1, n);
    return outs;
  }

  // A graph input (field 11) or output (12): float32, dims; dims[i] < 0 is the symbolic dim names[i].
  void value_info(int field, const std::string& name, const std::vector<int64_t>& dims,
                  const std::vector<std::string>& names) {
    Pb shape;
    for (size_t i = 0; i < dims.size(); ++i) {
      Pb d;
      if (dims[i] < 0) d.bytes_field(2, names.at(i));
      else d.int64_field(1, dims[i]);
      shape.message_field(1, d);
    }
    Pb tensor;
    tensor.int64_field(1, kFloat);
    tensor.message_field(2, shape);
    Pb type;
    type.message_field(1, tensor);
    Pb vi;
    vi.bytes_field(1, name);
    vi.message_field(2, type);
    graph_.message_field(field, vi);
  }

  Pb& proto() { return graph_; }

 private:
  bool half_;
  Pb graph_;
};

// The network's buffers; in float16 the input is cast first.
std::string buf_name(int id, bool half) { return id == 0 ? (half ? "images_f16" : "images") : "t" + std::to_string(id); }

}  // namespace

std::string export_onnx(const DnnGraph& g, const OnnxExportOptions& o) {
  {
    const uint16_t probe = 1;
    uint8_t first;
    std::memcpy(&first, &probe, 1);
    if (first != 1) throw Error("ONNX export: big-endian hosts are not supported");
  }
  if (o.height < 32 || o.width < 32 || o.height % 32 || o.width % 32)
    throw Error("ONNX export: input " + std::to_string(o.height) + "x" + std::to_string(o.width) +
                " is not a multiple of 32");
  OnnxGraph G(o.half);
  const int64_t B = o.batch > 0 ? o.batch : -1;  // -1: the symbolic "batch"
  G.proto().bytes_field(2, "yolonas");
  auto buf_name = [&](int id) { return yolonas::buf_name(id, o.half); };
  if (o.half) G.node("Cast", {"images"}, "images_f16", {{"to", {kFloat16}, true}});

  for (const DnnOp& op : g.ops) {
    const std::string out = buf_name(op.output);
    std::vector<std::string> in;
    for (int i : op.inputs) in.push_back(buf_name(i));
    const int64_t k = op.kernel, s = op.stride, p = op.pad;
    switch (op.kind) {
      case DnnOpKind::Conv: {
        const std::string w = G.constant(out + ".weight", {op.cout, op.cin, k, k}, op.weights.to_vector());
        const std::string b = G.constant(out + ".bias", {op.cout}, op.bias.to_vector());
        const std::string conv = G.node("Conv", {in[0], w, b}, op.relu ? out + ".conv" : out,
                                        {{"kernel_shape", {k, k}}, {"strides", {s, s}}, {"pads", {p, p, p, p}}});
        if (op.relu) G.node("Relu", {conv}, out);
        break;
      }
      case DnnOpKind::Deconv: {
        const std::string w = G.constant(out + ".weight", {op.cin, op.cout, k, k}, op.weights.to_vector());
        const std::string b = G.constant(out + ".bias", {op.cout}, op.bias.to_vector());
        G.node("ConvTranspose", {in[0], w, b}, out, {{"kernel_shape", {k, k}}, {"strides", {s, s}}});
        break;
      }
      case DnnOpKind::MaxPool:
        G.node("MaxPool", in, out, {{"kernel_shape", {k, k}}, {"strides", {1, 1}}, {"pads", {p, p, p, p}}});
        break;
      case DnnOpKind::Concat:
        G.node("Concat", in, out, {{"axis", {1}, true}});
        break;
      case DnnOpKind::Sum: {
        if (op.inputs.size() != 2) throw Error("ONNX export: " + op.name + ": a sum of two inputs expected");
        std::string a = in[0];
        if (op.scales[0] != 1.0f) a = G.node("Mul", {in[0], G.constant(out + ".alpha", {1}, {op.scales[0]})}, out + ".scaled");
        std::string b = in[1];
        if (op.scales[1] != 1.0f) b = G.node("Mul", {in[1], G.constant(out + ".beta", {1}, {op.scales[1]})}, out + ".scaled1");
        G.node("Add", {a, b}, out);
        break;
      }
    }
  }

  // DFL decode per level. reg [B, 4R, h, w] -> [B*4, R, hw, 1] -> softmax over R -> 1x1 conv with
  // the bin values 0..R-1 -> [B, 4, hw] distances (l, t, r, b); box = dist * (-s, -s, s, s) +
  // (ax, ay, ax, ay) * s around cell centres. cls [B, C, h, w] -> [B, C, hw].
  const int R = g.reg_max + 1, C = g.num_classes;
  std::vector<float> bins(static_cast<size_t>(R));
  for (int i = 0; i < R; ++i) bins[static_cast<size_t>(i)] = static_cast<float>(i);
  const std::string proj = G.constant("dfl.proj", {1, R, 1, 1}, bins);
  std::vector<std::string> level_boxes, level_scores;
  int64_t A = 0;
  for (size_t l = 0; l < g.strides.size(); ++l) {
    const int st = g.strides[l];
    const int64_t h = o.height / st, w = o.width / st, hw = h * w;
    A += hw;
    const std::string L = "level" + std::to_string(l);
    const std::string r4 = G.node("Reshape", {buf_name(g.reg_outputs[l]), G.constant_i64(L + ".reg_shape", {-1, R, hw, 1})},
                                  L + ".reg4");
    const std::string sm = G.node("Softmax", {r4}, L + ".softmax", {{"axis", {1}, true}});
    const std::string d = G.node("Conv", {sm, proj}, L + ".dist", {{"kernel_shape", {1, 1}}});
    const std::string d3 = G.node("Reshape", {d, G.constant_i64(L + ".dist_shape", {-1, 4, hw})}, L + ".dist3");
    const float sf = static_cast<float>(st);
    std::vector<float> anchors(static_cast<size_t>(4 * hw));
    for (int64_t i = 0; i < hw; ++i) {
      float ax, ay;
      anchor_point(static_cast<int>(i), static_cast<int>(w), ax, ay);
      ax *= sf, ay *= sf;
      anchors[static_cast<size_t>(i)] = ax;
      anchors[static_cast<size_t>(hw + i)] = ay;
      anchors[static_cast<size_t>(2 * hw + i)] = ax;
      anchors[static_cast<size_t>(3 * hw + i)] = ay;
    }
    const std::string scaled =
        G.node("Mul", {d3, G.constant(L + ".sides", {1, 4, 1}, {-sf, -sf, sf, sf})}, L + ".scaled_dist");
    level_boxes.push_back(G.node("Add", {scaled, G.constant(L + ".anchors", {1, 4, hw}, anchors)}, L + ".boxes"));
    level_scores.push_back(G.node("Reshape", {buf_name(g.cls_outputs[l]), G.constant_i64(L + ".cls_shape", {0, C, hw})},
                                  L + ".logits"));
  }
  const std::string boxes_t = G.node("Concat", level_boxes, "boxes_t", {{"axis", {2}, true}});
  const std::string logits_t = G.node("Concat", level_scores, "logits_t", {{"axis", {2}, true}});
  // Outputs in float32 (cast from float16 when the network computes in it).
  const std::string boxes_name = o.nms ? "all_boxes" : "boxes", scores_name = o.nms ? "all_scores" : "scores";
  const std::string boxes_c = G.node("Transpose", {boxes_t}, o.half ? "boxes_f16" : boxes_name, {{"perm", {0, 2, 1}}});
  const std::string logits = G.node("Transpose", {logits_t}, "logits", {{"perm", {0, 2, 1}}});
  const std::string scores_c = G.node("Sigmoid", {logits}, o.half ? "scores_f16" : scores_name);
  if (o.half) {
    G.node("Cast", {boxes_c}, boxes_name, {{"to", {kFloat}, true}});
    G.node("Cast", {scores_c}, scores_name, {{"to", {kFloat}, true}});
  }

  G.value_info(11, "images", {B, g.input_channels, o.height, o.width}, {"batch"});
  if (!o.nms) {
    G.value_info(12, "boxes", {B, A, 4}, {"batch"});
    G.value_info(12, "scores", {B, A, C}, {"batch"});
  } else {
    // SG's PPYoloEPostPredictionCallback, per image, in standard operators: the top_k best (anchor,
    // class) pairs are the candidates (scores below the image's top_k-th best are zeroed), ONNX's
    // NonMaxSuppression per class (score > conf, IoU > iou suppresses), then at most max_det rows per
    // image. detections [N, 7]: batch index, x1, y1, x2, y2 (input pixels), score, class; best first
    // over the batch.
    if (!(o.conf >= 0 && o.conf <= 1) || !(o.iou >= 0 && o.iou <= 1) || o.top_k < 1 || o.max_det < 1)
      throw Error("ONNX export: NMS needs conf and iou in [0, 1], top_k >= 1 and max_det >= 1");
    const std::string flat = G.node("Reshape", {scores_name, G.constant_i64("nms.flat_shape", {0, -1})}, "nms.flat");
    const std::string pairs = G.node("Slice", {G.node("Shape", {flat}, "nms.flat_dims"), G.constant_i64("nms.one", {1}),
                                               G.constant_i64("nms.two", {2})},
                                     "nms.pairs");  // [1]: anchors x classes
    const std::string k1 = G.node("Min", {pairs, G.constant_i64("nms.top_k", {o.top_k})}, "nms.k_candidates");
    const std::string best = G.nodes("TopK", {flat, k1}, {"nms.best", "nms.best_idx"},
                                     {{"axis", {1}, true}, {"largest", {1}, true}, {"sorted", {1}, true}})[0];
    const std::string kth = G.node("ReduceMin", {best}, "nms.kth", {{"axes", {1}}, {"keepdims", {1}, true}});  // [B, 1]
    const std::string kth3 = G.node("Unsqueeze", {kth, G.constant_i64("nms.axis2", {2})}, "nms.kth3");       // [B, 1, 1]
    const std::string candidates =
        G.node("Where",
               {G.node("GreaterOrEqual", {scores_name, kth3}, "nms.is_candidate"), scores_name,
                G.constant_f32("nms.zero", {}, {0.f})},
               "nms.candidates");  // [B, A, C]; a zeroed pair never passes score > conf (conf >= 0)
    const std::string scores_bca = G.node("Transpose", {candidates}, "nms.scores", {{"perm", {0, 2, 1}}});
    const std::string sel = G.node("NonMaxSuppression",
                                   {boxes_name, scores_bca, G.constant_i64("nms.per_class", {o.top_k}),
                                    G.constant_f32("nms.iou", {1}, {o.iou}), G.constant_f32("nms.conf", {1}, {o.conf})},
                                   "nms.selected", {{"center_point_box", {0}, true}});  // [M, 3]: batch, class, box
    auto column = [&](int64_t c, const std::string& name) {
      return G.node("Gather", {sel, G.constant_i64("nms.col" + std::to_string(c), {c})}, name, {{"axis", {1}, true}});
    };
    const std::string b_idx = column(0, "nms.batch"), c_idx = column(1, "nms.class"), a_idx = column(2, "nms.box");
    const std::string ba = G.node("Concat", {b_idx, a_idx}, "nms.batch_box", {{"axis", {1}, true}});
    const std::string sel_boxes = G.node("GatherND", {boxes_name, ba}, "nms.boxes");            // [M, 4]
    const std::string sel_scores = G.node("GatherND", {scores_bca, sel}, "nms.scores_1d");      // [M]
    const std::string scores_col = G.node("Unsqueeze", {sel_scores, G.constant_i64("nms.axis1", {1})}, "nms.score");
    const std::string rows = G.node(
        "Concat",
        {G.node("Cast", {b_idx}, "nms.batch_f", {{"to", {kFloat}, true}}), sel_boxes, scores_col,
         G.node("Cast", {c_idx}, "nms.class_f", {{"to", {kFloat}, true}})},
        "nms.rows", {{"axis", {1}, true}});  // [M, 7]
    // Best first over the batch.
    const std::string m = G.node("Shape", {sel_scores}, "nms.count");
    const std::string order = G.nodes("TopK", {sel_scores, m}, {"nms.sorted_scores", "nms.order"},
                                      {{"axis", {0}, true}, {"largest", {1}, true}, {"sorted", {1}, true}})[1];
    const std::string sorted_rows = G.node("Gather", {rows, order}, "nms.sorted_rows", {{"axis", {0}, true}});
    // Each row's rank within its image (1 = its best): a running count per image down the sorted rows.
    const std::string sorted_b = G.node("Gather", {b_idx, order}, "nms.sorted_batch", {{"axis", {0}, true}});  // [M, 1]
    const std::string batch = G.node("Gather", {G.node("Shape", {"images"}, "nms.input_dims"), G.constant_i64("nms.zero_i", {0}, true)},
                                     "nms.batch_size", {{"axis", {0}, true}});  // scalar
    const std::string images = G.node("Range", {G.constant_i64("nms.zero_s", {0}, true), batch, G.constant_i64("nms.one_s", {1}, true)},
                                      "nms.image_ids");  // [B]
    const std::string is_image = G.node("Cast", {G.node("Equal", {sorted_b, G.node("Unsqueeze", {images, G.constant_i64("nms.axis0", {0})}, "nms.image_row")}, "nms.is_image")},
                                        "nms.is_image_i", {{"to", {kInt64}, true}});  // [M, B]
    const std::string running = G.node("CumSum", {is_image, G.constant_i64("nms.axis0_s", {0}, true)}, "nms.running");
    const std::string rank = G.node("GatherElements", {running, sorted_b}, "nms.rank", {{"axis", {1}, true}});  // [M, 1]
    const std::string keep = G.node("Squeeze", {G.node("LessOrEqual", {rank, G.constant_i64("nms.max_det", {o.max_det})}, "nms.keep2"),
                                                G.constant_i64("nms.axis1b", {1})},
                                    "nms.keep");  // [M]
    const std::string kept = G.node("Squeeze", {G.node("NonZero", {keep}, "nms.kept2"), G.constant_i64("nms.axis0b", {0})}, "nms.kept");
    G.node("Gather", {sorted_rows, kept}, "detections", {{"axis", {0}, true}});
    G.value_info(12, "detections", {-1, 7}, {"num_detections"});
  }

  Pb model;
  model.int64_field(1, 7);  // IR version 7 (ONNX 1.7+)
  model.bytes_field(2, "yolonas");
  if (!o.producer_version.empty()) model.bytes_field(3, o.producer_version);
  model.message_field(7, G.proto());
  Pb opset;
  opset.bytes_field(1, "");
  opset.int64_field(2, 13);
  model.message_field(8, opset);
  for (const auto& [k, v] : o.metadata) {
    Pb kv;
    kv.bytes_field(1, k);
    kv.bytes_field(2, v);
    model.message_field(14, kv);
  }
  return model.bytes();
}

}  // namespace yolonas
