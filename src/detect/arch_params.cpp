#include "yolonas/detect/arch_params.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <type_traits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "yolonas/core/files.h"
#include "yolonas/core/yaml_check.h"
#include "yolonas/core/error.h"

namespace yolonas {
namespace {

// SG sg/modules/utils.py::width_multiplier with divisor 8.
int width_multiplier(int original, double factor, int divisor) {
  const int scaled = static_cast<int>(original * factor);
  return static_cast<int>(std::ceil(static_cast<double>(scaled) / divisor)) * divisor;
}

ArchParams common_base(const std::string& name) {
  ArchParams a;
  a.name = name;
  a.stem_out_channels = 48;
  a.stages = {{96, 2, 0, false}, {192, 3, 0, false}, {384, 5, 0, false}, {768, 2, 0, false}};
  a.spp_out_channels = 768;
  a.neck1.out_channels = 192;
  a.neck2.out_channels = 96;
  a.neck3.out_channels = 192;
  a.neck4.out_channels = 384;
  a.heads = {{128, 1.0, 8}, {256, 1.0, 16}, {512, 1.0, 32}};
  return a;
}

void set_stages(ArchParams& a, std::vector<int> hidden, std::vector<bool> concat) {
  for (int i = 0; i < 4; ++i) {
    a.stages[i].hidden_channels = hidden[i];
    a.stages[i].concat_intermediates = concat[i];
  }
}

void set_neck(NeckStageParams& n, int blocks, int hidden) {
  n.num_blocks = blocks;
  n.hidden_channels = hidden;
}

void set_head_width(ArchParams& a, double wm) {
  for (auto& h : a.heads) h.width_mult = wm;
}

// ---- SG schema parsing ------------------------------------------------------------------------

struct Ctx {
  std::string origin;
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(origin + ": arch params field '" + field + "': " + what);
  }
};

YAML::Node child(const Ctx& c, const YAML::Node& n, const std::string& key, const std::string& path) {
  if (!n.IsMap() || !n[key]) c.fail(path + "." + key, "missing");
  return n[key];
}

// SG wraps each module config as {TypeName: {params}}; returns the params after checking the type.
YAML::Node typed(const Ctx& c, const YAML::Node& n, const std::string& type, const std::string& path) {
  if (!n.IsMap() || n.size() != 1 || !n[type])
    c.fail(path, "expected a single-key map {" + type + ": {...}}");
  return n[type];
}

// Numbers an arch-params file may hold: channel counts, blocks, strides and classes far beyond any
// real model, small enough that the width/depth arithmetic (int(out_channels * width_mult)) cannot
// overflow an int. yaml-cpp already refuses an int that does not fit, but reads .inf and .nan as doubles.
constexpr int kMaxArchInt = 1 << 20;
constexpr double kMaxMultiplier = 1000;

template <typename T>
T get(const Ctx& c, const YAML::Node& n, const std::string& key, const std::string& path) {
  YAML::Node v = child(c, n, key, path);
  T out;
  try {
    out = v.as<T>();
  } catch (const YAML::Exception&) {
    c.fail(path + "." + key, "has the wrong type");
  }
  if constexpr (std::is_same_v<T, int>) {
    if (out < -kMaxArchInt || out > kMaxArchInt)
      c.fail(path + "." + key, std::to_string(out) + " is out of range (at most " + std::to_string(kMaxArchInt) + ")");
  } else if constexpr (std::is_same_v<T, double>) {
    if (!std::isfinite(out)) c.fail(path + "." + key, "must be a finite number");
    if (key.find("_mult") != std::string::npos && std::abs(out) > kMaxMultiplier)
      c.fail(path + "." + key, "is out of range (a multiplier is at most " + std::to_string(int(kMaxMultiplier)) + ")");
  } else if constexpr (std::is_same_v<T, std::vector<int>>) {
    for (int x : out)
      if (x < -kMaxArchInt || x > kMaxArchInt)
        c.fail(path + "." + key, std::to_string(x) + " is out of range (at most " + std::to_string(kMaxArchInt) + ")");
  }
  return out;
}

template <typename T>
T get_or(const Ctx& c, const YAML::Node& n, const std::string& key, const std::string& path, T def) {
  if (!n.IsMap() || !n[key] || n[key].IsNull()) return def;
  return get<T>(c, n, key, path);
}

void check_relu(const Ctx& c, const YAML::Node& n, const std::string& path) {
  const std::string act = get_or<std::string>(c, n, "activation_type", path, "relu");
  if (act != "relu") c.fail(path + ".activation_type", "only 'relu' is supported (YOLO-NAS uses ReLU), got '" + act + "'");
}

NeckStageParams parse_neck(const Ctx& c, const YAML::Node& neck, const std::string& key, const std::string& type) {
  const std::string path = "neck.YoloNASPANNeckWithC2." + key;
  YAML::Node p = typed(c, child(c, neck, key, "neck.YoloNASPANNeckWithC2"), type, path);
  const std::string tp = path + "." + type;
  check_relu(c, p, tp);
  if (type == "YoloNASUpStage" && !get_or<bool>(c, p, "reduce_channels", tp, false))
    c.fail(tp + ".reduce_channels", "only reduce_channels: true is supported (the form every YOLO-NAS variant uses)");
  NeckStageParams s;
  s.out_channels = get<int>(c, p, "out_channels", tp);
  s.num_blocks = get<int>(c, p, "num_blocks", tp);
  s.hidden_channels = get<int>(c, p, "hidden_channels", tp);
  s.width_mult = get_or<double>(c, p, "width_mult", tp, 1.0);
  s.depth_mult = get_or<double>(c, p, "depth_mult", tp, 1.0);
  return s;
}

}  // namespace

int NeckStageParams::effective_out_channels() const { return width_multiplier(out_channels, width_mult, 8); }
int NeckStageParams::effective_num_blocks() const {
  // SG yolo_stages.py: num_blocks if num_blocks == 1 else int(num_blocks * depth_mult)
  return num_blocks == 1 ? 1 : static_cast<int>(num_blocks * depth_mult);
}
int HeadParams::effective_inter_channels() const { return width_multiplier(inter_channels, width_mult, 8); }

ArchParams ArchParams::yolo_nas_s() {
  ArchParams a = common_base("yolo_nas_s");
  set_stages(a, {32, 64, 96, 192}, {false, false, false, false});
  set_neck(a.neck1, 2, 64);
  set_neck(a.neck2, 2, 48);
  set_neck(a.neck3, 2, 64);
  set_neck(a.neck4, 2, 64);
  set_head_width(a, 0.5);
  return a;
}

ArchParams ArchParams::yolo_nas_m() {
  ArchParams a = common_base("yolo_nas_m");
  set_stages(a, {64, 128, 256, 384}, {true, true, true, false});
  set_neck(a.neck1, 2, 192);
  set_neck(a.neck2, 3, 64);
  set_neck(a.neck3, 2, 192);
  set_neck(a.neck4, 3, 256);
  set_head_width(a, 0.75);
  return a;
}

ArchParams ArchParams::yolo_nas_l() {
  ArchParams a = common_base("yolo_nas_l");
  set_stages(a, {96, 128, 256, 512}, {true, true, true, true});
  set_neck(a.neck1, 4, 128);
  set_neck(a.neck2, 4, 128);
  set_neck(a.neck3, 4, 128);
  set_neck(a.neck4, 4, 256);
  set_head_width(a, 1.0);
  return a;
}

bool is_builtin_variant(const std::string& m) {
  return m == "yolo_nas_s" || m == "yolo_nas_m" || m == "yolo_nas_l" || m == "s" || m == "m" || m == "l";
}

ArchParams ArchParams::by_name(const std::string& name) {
  if (name == "yolo_nas_s" || name == "s") return yolo_nas_s();
  if (name == "yolo_nas_m" || name == "m") return yolo_nas_m();
  if (name == "yolo_nas_l" || name == "l") return yolo_nas_l();
  throw Error("unknown model '" + name +
              "': expected yolo_nas_s, yolo_nas_m, yolo_nas_l, a .pth checkpoint or an arch-params .yaml/.json file");
}

ArchParams ArchParams::from_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw Error(clip(path) + ": arch-params file is not a regular file (a folder, FIFO or device)");
  if (std::filesystem::file_size(path, ec) > (16u << 20) && !ec)
    throw Error(clip(path) + ": arch-params file is larger than 16 MB");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(clip(path) + ": cannot open arch-params file");
  std::stringstream ss;
  ss << f.rdbuf();
  ArchParams a = from_string(ss.str(), path);
  std::string stem = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  a.name = stem.substr(0, stem.find('.'));
  return a;
}

ArchParams ArchParams::from_string(const std::string& text, const std::string& origin) {
  Ctx c{origin};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(origin + ": not valid YAML/JSON: " + e.what());
  }
  if (!root.IsMap()) throw Error(origin + ": arch params must be a map");
  // A key written twice would silently lose one of the values (node[key] returns the first).
  check_yaml_unique_keys(root, origin);
  ArchParams a;
  a.in_channels = get_or<int>(c, root, "in_channels", "", 3);
  a.bn_eps = get_or<double>(c, root, "bn_eps", "", 1e-3);
  a.bn_momentum = get_or<double>(c, root, "bn_momentum", "", 0.03);

  YAML::Node bb = typed(c, child(c, root, "backbone", ""), "NStageBackbone", "backbone");
  const std::string bp = "backbone.NStageBackbone";
  a.stem_out_channels = get<int>(c, typed(c, child(c, bb, "stem", bp), "YoloNASStem", bp + ".stem"), "out_channels",
                                 bp + ".stem.YoloNASStem");
  YAML::Node stages = child(c, bb, "stages", bp);
  if (!stages.IsSequence() || stages.size() != 4) c.fail(bp + ".stages", "expected a list of 4 YoloNASStage entries");
  for (size_t i = 0; i < 4; ++i) {
    const std::string sp = bp + ".stages[" + std::to_string(i) + "]";
    YAML::Node s = typed(c, stages[i], "YoloNASStage", sp);
    check_relu(c, s, sp + ".YoloNASStage");
    StageParams st;
    st.out_channels = get<int>(c, s, "out_channels", sp);
    st.num_blocks = get<int>(c, s, "num_blocks", sp);
    st.hidden_channels = get<int>(c, s, "hidden_channels", sp);
    st.concat_intermediates = get_or<bool>(c, s, "concat_intermediates", sp, false);
    a.stages.push_back(st);
  }
  YAML::Node spp = typed(c, child(c, bb, "context_module", bp), "SPP", bp + ".context_module");
  check_relu(c, spp, bp + ".context_module.SPP");
  a.spp_out_channels = get<int>(c, spp, "output_channels", bp + ".context_module.SPP");
  a.spp_kernels = get_or<std::vector<int>>(c, spp, "k", bp + ".context_module.SPP", {5, 9, 13});
  if (bb["out_layers"]) {
    auto ol = get<std::vector<std::string>>(c, bb, "out_layers", bp);
    if (ol != std::vector<std::string>{"stage1", "stage2", "stage3", "context_module"})
      c.fail(bp + ".out_layers", "only [stage1, stage2, stage3, context_module] is supported");
  }

  YAML::Node neck = typed(c, child(c, root, "neck", ""), "YoloNASPANNeckWithC2", "neck");
  a.neck1 = parse_neck(c, neck, "neck1", "YoloNASUpStage");
  a.neck2 = parse_neck(c, neck, "neck2", "YoloNASUpStage");
  a.neck3 = parse_neck(c, neck, "neck3", "YoloNASDownStage");
  a.neck4 = parse_neck(c, neck, "neck4", "YoloNASDownStage");

  YAML::Node heads = typed(c, child(c, root, "heads", ""), "NDFLHeads", "heads");
  const std::string hp = "heads.NDFLHeads";
  a.reg_max = get_or<int>(c, heads, "reg_max", hp, 16);
  a.num_classes = get_or<int>(c, root, "num_classes", "", get_or<int>(c, heads, "num_classes", hp, 80));
  YAML::Node hl = child(c, heads, "heads_list", hp);
  if (!hl.IsSequence() || hl.size() != 3) c.fail(hp + ".heads_list", "expected 3 YoloNASDFLHead entries");
  for (size_t i = 0; i < 3; ++i) {
    const std::string p = hp + ".heads_list[" + std::to_string(i) + "]";
    YAML::Node h = typed(c, hl[i], "YoloNASDFLHead", p);
    if (get_or<int>(c, h, "first_conv_group_size", p, 0) != 0)
      c.fail(p + ".first_conv_group_size", "only 0 is supported (the value every YOLO-NAS variant uses)");
    HeadParams hpar;
    hpar.inter_channels = get<int>(c, h, "inter_channels", p);
    hpar.width_mult = get_or<double>(c, h, "width_mult", p, 1.0);
    hpar.stride = get<int>(c, h, "stride", p);
    a.heads.push_back(hpar);
  }
  try {
    a.validate();
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  return a;
}

std::string ArchParams::to_json() const {
  using nlohmann::json;
  json stages_j = json::array();
  for (const auto& s : stages)
    stages_j.push_back({{"YoloNASStage",
                         {{"out_channels", s.out_channels},
                          {"num_blocks", s.num_blocks},
                          {"activation_type", "relu"},
                          {"hidden_channels", s.hidden_channels},
                          {"concat_intermediates", s.concat_intermediates}}}});
  auto neck_j = [](const NeckStageParams& n, bool up) {
    json j = {{"out_channels", n.out_channels},   {"num_blocks", n.num_blocks}, {"hidden_channels", n.hidden_channels},
              {"width_mult", n.width_mult},       {"depth_mult", n.depth_mult}, {"activation_type", "relu"}};
    if (up) j["reduce_channels"] = true;
    return json{{up ? "YoloNASUpStage" : "YoloNASDownStage", j}};
  };
  json heads_j = json::array();
  for (const auto& h : heads)
    heads_j.push_back({{"YoloNASDFLHead",
                        {{"inter_channels", h.inter_channels},
                         {"width_mult", h.width_mult},
                         {"first_conv_group_size", 0},
                         {"stride", h.stride}}}});
  json j = {
      {"in_channels", in_channels},
      {"backbone",
       {{"NStageBackbone",
         {{"stem", {{"YoloNASStem", {{"out_channels", stem_out_channels}}}}},
          {"stages", stages_j},
          {"context_module",
           {{"SPP", {{"output_channels", spp_out_channels}, {"activation_type", "relu"}, {"k", spp_kernels}}}}},
          {"out_layers", {"stage1", "stage2", "stage3", "context_module"}}}}}},
      {"neck",
       {{"YoloNASPANNeckWithC2",
         {{"neck1", neck_j(neck1, true)},
          {"neck2", neck_j(neck2, true)},
          {"neck3", neck_j(neck3, false)},
          {"neck4", neck_j(neck4, false)}}}}},
      {"heads", {{"NDFLHeads", {{"num_classes", num_classes}, {"reg_max", reg_max}, {"heads_list", heads_j}}}}},
      {"bn_eps", bn_eps},
      {"bn_momentum", bn_momentum},
      {"num_classes", num_classes},
  };
  return j.dump(2);
}

void ArchParams::validate() const {
  auto fail = [](const std::string& m) { throw Error("invalid arch params: " + m); };
  if (in_channels <= 0) fail("in_channels must be positive");
  if (stem_out_channels <= 0) fail("stem out_channels must be positive");
  if (stages.size() != 4) fail("exactly 4 backbone stages are required");
  for (size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    if (s.out_channels <= 0 || s.num_blocks <= 0 || s.hidden_channels <= 0)
      fail("stage" + std::to_string(i + 1) + ": out_channels, num_blocks and hidden_channels must be positive");
  }
  if (spp_out_channels <= 0 || spp_kernels.empty()) fail("SPP needs output_channels and kernels");
  for (int k : spp_kernels)
    if (k <= 0 || k % 2 == 0) fail("SPP kernel sizes must be odd and positive");
  for (const auto* n : {&neck1, &neck2, &neck3, &neck4})
    if (n->out_channels <= 0 || n->num_blocks <= 0 || n->hidden_channels <= 0 || n->effective_out_channels() <= 0)
      fail("neck stages need positive out_channels, num_blocks and hidden_channels");
  if (neck3.effective_out_channels() % 2 != 0 || neck4.effective_out_channels() % 2 != 0)
    fail("neck3/neck4 out_channels must be even (their first conv has out_channels/2)");
  if (heads.size() != 3) fail("exactly 3 heads are required");
  const int expect[3] = {8, 16, 32};
  for (int i = 0; i < 3; ++i) {
    if (heads[i].stride != expect[i]) fail("head strides must be 8, 16, 32");
    if (heads[i].effective_inter_channels() <= 0) fail("head inter_channels must be positive");
  }
  if (reg_max <= 0) fail("reg_max must be positive");
  if (num_classes <= 0) fail("num_classes must be positive");
  if (!(bn_eps > 0)) fail("bn_eps must be positive");
}

std::vector<int> ArchParams::strides() const {
  std::vector<int> s;
  for (const auto& h : heads) s.push_back(h.stride);
  return s;
}

}  // namespace yolonas
