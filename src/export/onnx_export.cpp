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

constexpr int kFloat = 1, kInt64 = 7;  // TensorProto.DataType

// Little-endian bytes of a vector of scalars (x86 and ARM are little-endian; checked below).
template <typename T>
std::string raw_bytes(const std::vector<T>& v) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or int64");
  std::string out(v.size() * sizeof(T), '\0');
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

class OnnxGraph {
 public:
  // A constant tensor (initializer); returns its name.
  std::string constant(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& data) {
    Pb t;
    for (int64_t d : dims) t.int64_field(1, d);
    t.int64_field(2, kFloat);
    t.bytes_field(8, name);
    t.bytes_field(9, raw_bytes(data));
    graph_.message_field(5, t);
    return name;
  }
  std::string constant_i64(const std::string& name, const std::vector<int64_t>& data) {
    Pb t;
    t.int64_field(1, static_cast<int64_t>(data.size()));
    t.int64_field(2, kInt64);
    t.bytes_field(8, name);
    t.bytes_field(9, raw_bytes(data));
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
    Pb n;
    for (const auto& i : inputs) n.bytes_field(1, i);
    n.bytes_field(2, out);
    n.bytes_field(3, out);  // node name = its output's name: unique
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
    return out;
  }

  void value_info(int field, const std::string& name, const std::vector<int64_t>& dims, const std::string& dyn0) {
    Pb shape;
    for (size_t i = 0; i < dims.size(); ++i) {
      Pb d;
      if (i == 0 && !dyn0.empty()) d.bytes_field(2, dyn0);
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
  Pb graph_;
};

std::string buf_name(int id) { return id == 0 ? "images" : "t" + std::to_string(id); }

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
  OnnxGraph G;
  const std::string dyn = o.batch > 0 ? "" : "batch";
  const int64_t B = o.batch > 0 ? o.batch : 1;
  G.proto().bytes_field(2, "yolonas");

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
  G.node("Transpose", {boxes_t}, "boxes", {{"perm", {0, 2, 1}}});
  const std::string logits_t = G.node("Concat", level_scores, "logits_t", {{"axis", {2}, true}});
  const std::string logits = G.node("Transpose", {logits_t}, "logits", {{"perm", {0, 2, 1}}});
  G.node("Sigmoid", {logits}, "scores");

  G.value_info(11, "images", {B, g.input_channels, o.height, o.width}, dyn);
  G.value_info(12, "boxes", {B, A, 4}, dyn);
  G.value_info(12, "scores", {B, A, C}, dyn);

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
