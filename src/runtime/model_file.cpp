// The yolonas model file. See model_file.h for the layout.
#include "yolonas/runtime/model_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/text.h"

namespace yolonas {

using nlohmann::json;

namespace {

constexpr char kMagic[8] = {'Y', 'O', 'L', 'O', 'N', 'A', 'S', '\x1a'};
constexpr uint64_t kHeaderBytes = 64;
constexpr uint64_t kAlign = 64;
constexpr uint64_t kMaxJsonBytes = 64u << 20;

uint32_t crc32_of(const uint8_t* p, uint64_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<uint64_t>(n, 1u << 30));
    c = crc32(c, p, chunk);
    p += chunk, n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }  // little-endian hosts (x86-64, arm64)
void put_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// ---- writing ----------------------------------------------------------------------------------------

class DataWriter {
 public:
  // Appends the bytes 64-byte aligned; returns [offset, count] for the JSON.
  template <typename T>
  json add(const T* data, size_t count) {
    while (bytes_.size() % kAlign) bytes_.push_back('\0');
    const size_t off = bytes_.size();
    bytes_.append(reinterpret_cast<const char*>(data), count * sizeof(T));
    return json::array({off, count});
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

DnnOpKind kind_of(const std::string& s, const std::string& where) {
  for (DnnOpKind k : {DnnOpKind::Conv, DnnOpKind::Deconv, DnnOpKind::MaxPool, DnnOpKind::Concat, DnnOpKind::Sum})
    if (s == dnn_op_kind_name(k)) return k;
  throw Error(where + ": unknown operation '" + clip(s, 40) + "'");
}

// ---- reading ----------------------------------------------------------------------------------------

struct Mapping {
  const uint8_t* p = nullptr;
  size_t n = 0;
  ~Mapping() {
    if (p) ::munmap(const_cast<uint8_t*>(p), n);
  }
};

std::shared_ptr<const Mapping> map_file(const std::string& path) {
  const std::string problem = file_problem(path);
  if (!problem.empty()) throw Error("cannot read model file '" + clip(path) + "': it " + problem);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open model file '" + clip(path) + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    throw Error("cannot read model file '" + clip(path) + "': " + err);
  }
  auto m = std::make_shared<Mapping>();
  m->n = static_cast<size_t>(st.st_size);
  if (m->n > 0) {
    void* p = ::mmap(nullptr, m->n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      throw Error("cannot map model file '" + clip(path) + "': " + err);
    }
    m->p = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return m;
}

// Reads [offset, count] tensor references against the data section.
class DataReader {
 public:
  DataReader(std::shared_ptr<const Mapping> m, uint64_t data_off, uint64_t data_size, std::string origin)
      : m_(std::move(m)), off_(data_off), size_(data_size), origin_(std::move(origin)) {}

  template <typename T>
  DnnArray<T> get(const json& ref, const std::string& where) const {
    if (!ref.is_array() || ref.size() != 2 || !ref[0].is_number_unsigned() || !ref[1].is_number_unsigned())
      throw Error(origin_ + ": " + where + ": a tensor reference must be [offset, count]");
    const uint64_t off = ref[0].get<uint64_t>(), count = ref[1].get<uint64_t>();
    if (off % alignof(T) != 0 || count > size_ / sizeof(T) || off > size_ - count * sizeof(T))
      throw Error(origin_ + ": " + where + ": tensor [" + std::to_string(off) + ", " + std::to_string(count) +
                  "] lies outside the data section (" + std::to_string(size_) + " bytes) or is misaligned");
    return DnnArray<T>::view(reinterpret_cast<const T*>(m_->p + off_ + off), static_cast<size_t>(count), m_);
  }

 private:
  std::shared_ptr<const Mapping> m_;
  uint64_t off_, size_;
  std::string origin_;
};

int get_int(const json& o, const char* key, int lo, int hi, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number_integer()) throw Error(where + ": '" + key + "' must be an integer");
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    throw Error(where + ": '" + key + "' = " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
  return static_cast<int>(v);
}

std::vector<int> get_ints(const json& o, const char* key, int lo, int hi, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_array()) throw Error(where + ": '" + key + "' must be a list of integers");
  std::vector<int> out;
  for (const json& v : *it) {
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
      throw Error(where + ": '" + key + "' holds " + clip(v.dump(), 40) + ", not an integer in [" + std::to_string(lo) +
                  ", " + std::to_string(hi) + "]");
    out.push_back(v.get<int>());
  }
  return out;
}

std::vector<float> get_floats(const json& o, const char* key, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_array()) throw Error(where + ": '" + key + "' must be a list of numbers");
  std::vector<float> out;
  for (const json& v : *it) {
    if (!v.is_number() || !std::isfinite(v.get<double>())) throw Error(where + ": '" + key + "' holds a non-finite value");
    out.push_back(v.get<float>());
  }
  return out;
}

}  // namespace

bool is_model_file(const std::string& path) { return ends_with(lower(path), kModelFileExtension); }

void write_model_file(const std::string& path, const DnnGraph& g, const DnnInt8* int8, const std::string& meta_json,
                      const std::string& int8_note, const std::string& producer, const std::string& int8_report) {
  if (int8 && (int8->mult.size() != static_cast<size_t>(g.num_buffers) ||
               int8->is_unsigned.size() != static_cast<size_t>(g.num_buffers) ||
               int8->is_f32.size() != static_cast<size_t>(g.num_buffers)))
    throw Error("model file: the INT8 plan does not belong to this graph");
  DataWriter data;
  json ops = json::array();
  for (const DnnOp& op : g.ops) {
    json o = {{"kind", dnn_op_kind_name(op.kind)}, {"in", op.inputs}, {"out", op.output}, {"name", op.name}};
    if (op.kind == DnnOpKind::Conv || op.kind == DnnOpKind::Deconv) {
      o["cin"] = op.cin, o["cout"] = op.cout, o["k"] = op.kernel, o["s"] = op.stride, o["p"] = op.pad, o["relu"] = op.relu;
      if (int8 && runs_int8(op, *int8)) {
        std::vector<float> wmult;
        const std::vector<int8_t> q = quantize_weights(op, wmult);
        o["qw"] = data.add(q.data(), q.size());
        o["ws"] = data.add(wmult.data(), wmult.size());
      } else {
        if (op.weights.empty()) throw Error("model file: " + op.name + " has no FP32 weights to write");
        o["w"] = data.add(op.weights.data(), op.weights.size());
      }
      o["b"] = data.add(op.bias.data(), op.bias.size());
    }
    if (op.kind == DnnOpKind::MaxPool) o["k"] = op.kernel, o["p"] = op.pad;
    if (op.kind == DnnOpKind::Sum) o["scales"] = op.scales;
    ops.push_back(std::move(o));
  }
  json doc = {{"format", "yolonas-model"},
              {"version", kModelFileVersion},
              {"producer", producer},
              {"meta", json::parse(meta_json)},
              {"precision", int8 ? "int8" : "fp32"},
              {"int8_note", int8_note},
              {"graph",
               {{"input_channels", g.input_channels},
                {"num_buffers", g.num_buffers},
                {"reg_outputs", g.reg_outputs},
                {"cls_outputs", g.cls_outputs},
                {"strides", g.strides},
                {"num_classes", g.num_classes},
                {"reg_max", g.reg_max},
                {"ops", ops}}}};
  if (!int8_report.empty()) doc["int8_report"] = json::parse(int8_report);
  if (int8) {
    std::vector<int> u(int8->is_unsigned.begin(), int8->is_unsigned.end()), f(int8->is_f32.begin(), int8->is_f32.end());
    doc["int8"] = {{"mult", int8->mult}, {"unsigned", u}, {"f32", f}};
  }
  const std::string text = doc.dump();
  const uint64_t json_off = kHeaderBytes, json_size = text.size();
  const uint64_t data_off = (json_off + json_size + kAlign - 1) / kAlign * kAlign;
  const uint64_t data_size = data.bytes().size();
  const uint64_t file_size = data_off + data_size;
  std::string file(file_size, '\0');
  auto* p = reinterpret_cast<uint8_t*>(file.data());
  std::memcpy(p, kMagic, 8);
  put_u32(p + 8, kModelFileVersion);
  put_u32(p + 12, static_cast<uint32_t>(kHeaderBytes));
  put_u64(p + 16, json_off);
  put_u64(p + 24, json_size);
  put_u64(p + 32, data_off);
  put_u64(p + 40, data_size);
  put_u64(p + 48, file_size);
  std::memcpy(p + json_off, text.data(), json_size);
  std::memcpy(p + data_off, data.bytes().data(), data_size);
  put_u32(p + 56, crc32_of(p + kHeaderBytes, file_size - kHeaderBytes));
  put_u32(p + 60, crc32_of(p, 60));
  write_file_atomic(path, file);
}

ModelFile read_model_file(const std::string& path) {
  const std::string origin = clip(path);
  const std::shared_ptr<const Mapping> m = map_file(path);
  const uint8_t* p = m->p;
  const uint64_t n = m->n;
  if (n < kHeaderBytes || std::memcmp(p, kMagic, 8) != 0)
    throw Error(origin + ": not a yolonas model file (no YOLONAS header; a .pth checkpoint goes in weights=)");
  const uint32_t version = get_u32(p + 8);
  if (version > kModelFileVersion)
    throw Error(origin + ": model file format " + std::to_string(version) + " is newer than this yolonas reads (" +
                std::to_string(kModelFileVersion) + "): update yolonas");
  if (get_u32(p + 60) != crc32_of(p, 60)) throw Error(origin + ": the model file header is corrupted (checksum mismatch)");
  const uint64_t json_off = get_u64(p + 16), json_size = get_u64(p + 24), data_off = get_u64(p + 32),
                 data_size = get_u64(p + 40), file_size = get_u64(p + 48);
  if (file_size != n)
    throw Error(origin + ": the model file is " + std::to_string(n) + " bytes, its header says " + std::to_string(file_size) +
                (n < file_size ? " (truncated: copy it again)" : " (extra bytes at the end)"));
  if (version != kModelFileVersion || get_u32(p + 12) != kHeaderBytes || json_off != kHeaderBytes ||
      json_size > kMaxJsonBytes || json_size > n - json_off || data_off % kAlign != 0 || data_off < json_off + json_size ||
      data_off > n || data_size != n - data_off)
    throw Error(origin + ": the model file header is inconsistent (sections outside the file)");
  if (get_u32(p + 56) != crc32_of(p + kHeaderBytes, n - kHeaderBytes))
    throw Error(origin + ": the model file is corrupted (checksum mismatch): copy it again or export it again");

  ModelFile mf;
  mf.file_bytes = n;
  const DataReader data(m, data_off, data_size, origin);
  try {
    const json doc = json::parse(reinterpret_cast<const char*>(p + json_off), reinterpret_cast<const char*>(p + json_off + json_size));
    if (doc.value("format", "") != "yolonas-model") throw Error(origin + ": not a yolonas model file (format)");
    mf.producer = doc.value("producer", "");
    mf.int8_note = doc.value("int8_note", "");
    if (doc.contains("int8_report")) mf.int8_report = doc["int8_report"].dump();
    const json& gj = doc.at("graph");
    const std::string gw = origin + ": graph";
    DnnGraph& g = mf.graph;
    g.input_channels = get_int(gj, "input_channels", 1, 4, gw);
    g.num_buffers = get_int(gj, "num_buffers", 2, 1000000, gw);
    g.num_classes = get_int(gj, "num_classes", 1, 100000, gw);
    g.reg_max = get_int(gj, "reg_max", 1, 256, gw);
    g.strides = get_ints(gj, "strides", 1, 1024, gw);
    g.reg_outputs = get_ints(gj, "reg_outputs", 1, g.num_buffers - 1, gw);
    g.cls_outputs = get_ints(gj, "cls_outputs", 1, g.num_buffers - 1, gw);
    if (g.strides.empty() || g.reg_outputs.size() != g.strides.size() || g.cls_outputs.size() != g.strides.size())
      throw Error(gw + ": strides, reg_outputs and cls_outputs must list the same levels");
    const json& ops = gj.at("ops");
    if (!ops.is_array() || ops.size() + 1 != static_cast<size_t>(g.num_buffers))
      throw Error(gw + ": " + std::to_string(g.num_buffers) + " buffers need " + std::to_string(g.num_buffers - 1) + " operations");
    for (size_t i = 0; i < ops.size(); ++i) {
      const json& o = ops[i];
      DnnOp op;
      op.name = o.value("name", "op" + std::to_string(i));
      const std::string where = gw + ": operation " + std::to_string(i) + " (" + clip(op.name, 80) + ")";
      op.kind = kind_of(o.at("kind").get<std::string>(), where);
      op.inputs = get_ints(o, "in", 0, static_cast<int>(i), where);  // only buffers written before it
      if (get_int(o, "out", 0, g.num_buffers, where) != static_cast<int>(i) + 1)
        throw Error(where + ": writes buffer " + std::to_string(o.at("out").get<int64_t>()) + ", expected " + std::to_string(i + 1));
      op.output = static_cast<int>(i) + 1;
      switch (op.kind) {
        case DnnOpKind::Conv:
        case DnnOpKind::Deconv: {
          if (op.inputs.size() != 1) throw Error(where + ": a convolution has one input");
          op.cin = get_int(o, "cin", 1, 65536, where);
          op.cout = get_int(o, "cout", 1, 65536, where);
          op.kernel = get_int(o, "k", 1, 15, where);
          op.stride = get_int(o, "s", 1, 16, where);
          op.pad = get_int(o, "p", 0, op.kernel, where);
          op.relu = o.at("relu").get<bool>();
          const uint64_t count = static_cast<uint64_t>(op.cin) * op.cout * op.kernel * op.kernel;
          if (o.contains("w")) op.weights = data.get<float>(o["w"], where + " weights");
          if (o.contains("qw")) {
            op.qweights = data.get<int8_t>(o["qw"], where + " INT8 weights");
            op.wscales = data.get<float>(o.at("ws"), where + " weight scales");
            if (op.qweights.size() != count || op.wscales.size() != static_cast<size_t>(op.cout))
              throw Error(where + ": the INT8 weights do not have the layer's shape");
            for (float s : op.wscales)
              if (!(std::isfinite(s) && s > 0)) throw Error(where + ": a weight scale is not a positive number");
          }
          if (op.weights.empty() == op.qweights.empty())
            throw Error(where + ": needs either FP32 or INT8 weights");
          if (!op.weights.empty() && op.weights.size() != count)
            throw Error(where + ": " + std::to_string(op.weights.size()) + " weights, the layer has " + std::to_string(count));
          op.bias = data.get<float>(o.at("b"), where + " bias");
          if (op.bias.size() != static_cast<size_t>(op.cout)) throw Error(where + ": the bias does not have the layer's shape");
          break;
        }
        case DnnOpKind::MaxPool:
          if (op.inputs.size() != 1) throw Error(where + ": a max-pool has one input");
          op.kernel = get_int(o, "k", 1, 15, where);
          op.pad = get_int(o, "p", 0, op.kernel, where);
          break;
        case DnnOpKind::Concat:
          if (op.inputs.size() < 2) throw Error(where + ": a concat has two inputs or more");
          break;
        case DnnOpKind::Sum:
          op.scales = get_floats(o, "scales", where);
          if (op.inputs.size() != 2 || op.scales.size() != 2) throw Error(where + ": a sum has two inputs and two scales");
          break;
      }
      g.ops.push_back(std::move(op));
    }
    const std::string precision = doc.value("precision", "fp32");
    if (precision == "int8") {
      const json& q = doc.at("int8");
      const std::string qw = origin + ": int8 plan";
      DnnInt8 plan;
      plan.mult = get_floats(q, "mult", qw);
      for (int v : get_ints(q, "unsigned", 0, 1, qw)) plan.is_unsigned.push_back(static_cast<uint8_t>(v));
      for (int v : get_ints(q, "f32", 0, 1, qw)) plan.is_f32.push_back(static_cast<uint8_t>(v));
      const size_t nb = static_cast<size_t>(g.num_buffers);
      if (plan.mult.size() != nb || plan.is_unsigned.size() != nb || plan.is_f32.size() != nb)
        throw Error(qw + ": does not cover the graph's " + std::to_string(nb) + " buffers");
      for (float v : plan.mult)
        if (!(v > 0)) throw Error(qw + ": a scale is not positive");
      for (const DnnOp& op : g.ops)
        if ((op.kind == DnnOpKind::Conv || op.kind == DnnOpKind::Deconv) && runs_int8(op, plan) == op.qweights.empty())
          throw Error(qw + ": " + op.name + (op.qweights.empty() ? " runs quantized but has FP32 weights"
                                                                   : " has INT8 weights but runs in FP32"));
      mf.int8 = std::move(plan);
    } else if (precision != "fp32") {
      throw Error(origin + ": unknown precision '" + clip(precision, 20) + "'");
    } else {
      for (const DnnOp& op : g.ops)
        if (!op.qweights.empty()) throw Error(origin + ": an FP32 model file holds INT8 weights (" + op.name + ")");
    }
    mf.meta_json = doc.at("meta").dump();
    mf.info = DetectionInfo::from_json(mf.meta_json, origin, g.num_classes);
    if (mf.info.preprocessing.input_h % g.strides.back() || mf.info.preprocessing.input_w % g.strides.back())
      throw Error(origin + ": the input size is not a multiple of the largest stride");
  } catch (const json::exception& e) {
    throw Error(origin + ": malformed model description: " + e.what());
  }
  return mf;
}

}  // namespace yolonas
