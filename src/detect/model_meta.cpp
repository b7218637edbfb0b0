#include "yolonas/detect/model_meta.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "yolonas/detect/coco_names.h"
#include "yolonas/core/error.h"

namespace yolonas {

using nlohmann::json;

std::vector<std::string> default_names(int num_classes) {
  if (num_classes == 80) return coco80_names();
  std::vector<std::string> n;
  for (int i = 0; i < num_classes; ++i) n.push_back("class" + std::to_string(i));
  return n;
}

std::string ModelMeta::to_json() const {
  const auto& p = preprocessing;
  json j = {
      {"format", "yolonas-checkpoint-v1"},
      {"model", model_name},
      {"arch", json::parse(arch.to_json())},
      {"names", names},
      {"imgsz", {p.input_h, p.input_w}},
      {"preprocessing",
       {{"rescale", {p.rescale_h, p.rescale_w}},
        {"pad_value", p.pad_value},
        {"rounding", rounding_name(p.rounding)},
        {"center_pad", p.center_pad},
        {"rgb", p.rgb},
        {"scale", p.scale}}},
      {"conf", conf},
      {"iou", iou},
  };
  return j.dump();
}

ModelMeta ModelMeta::from_json(const std::string& text, const std::string& origin) {
  ModelMeta m;
  try {
    json j = json::parse(text);
    m.model_name = j.value("model", std::string("custom"));
    if (!j.contains("arch")) throw Error(origin + ": yolonas_meta has no 'arch'");
    m.arch = ArchParams::from_string(j["arch"].dump(), origin + " (yolonas_meta.arch)");
    m.arch.name = m.model_name;
    m.names = j.value("names", default_names(m.arch.num_classes));
    if (static_cast<int>(m.names.size()) != m.arch.num_classes)
      throw Error(origin + ": yolonas_meta has " + std::to_string(m.names.size()) + " names for " +
                  std::to_string(m.arch.num_classes) + " classes");
    auto sz = j.value("imgsz", std::vector<int>{640, 640});
    if (sz.size() != 2) throw Error(origin + ": yolonas_meta.imgsz must be [h, w]");
    m.preprocessing = PreprocessParams::for_imgsz(sz[0], sz[1]);
    if (j.contains("preprocessing")) {
      const auto& p = j["preprocessing"];
      auto r = p.value("rescale", std::vector<int>{m.preprocessing.rescale_h, m.preprocessing.rescale_w});
      if (r.size() != 2) throw Error(origin + ": yolonas_meta.preprocessing.rescale must be [h, w]");
      m.preprocessing.rescale_h = r[0];
      m.preprocessing.rescale_w = r[1];
      m.preprocessing.pad_value = p.value("pad_value", 114);
      const std::string rounding = p.value("rounding", std::string("round"));
      if (rounding != "round" && rounding != "int")
        throw Error(origin + ": yolonas_meta.preprocessing.rounding must be \"round\" or \"int\", got \"" +
                    clip(rounding, 40) + "\"");
      m.preprocessing.rounding = rounding == "int" ? Rounding::Truncate : Rounding::Python;
      m.preprocessing.center_pad = p.value("center_pad", true);
      m.preprocessing.rgb = p.value("rgb", true);
      m.preprocessing.scale = p.value("scale", 1.0 / 255.0);
    }
    m.conf = j.value("conf", 0.25f);
    m.iou = j.value("iou", 0.7f);
    // A checkpoint is user input: values the pre/post-processing trusts are checked here.
    const auto& pp = m.preprocessing;
    auto bad = [&](const std::string& what) { throw Error(origin + ": yolonas_meta." + what); };
    if (pp.input_h < 32 || pp.input_w < 32 || pp.input_h > 8192 || pp.input_w > 8192 || pp.input_h % 32 || pp.input_w % 32)
      bad("imgsz must be multiples of 32 between 32 and 8192");
    if (pp.rescale_h < 1 || pp.rescale_w < 1 || pp.rescale_h > pp.input_h || pp.rescale_w > pp.input_w)
      bad("preprocessing.rescale must be positive and at most imgsz");
    if (pp.pad_value < 0 || pp.pad_value > 255) bad("preprocessing.pad_value must be in [0, 255]");
    if (!std::isfinite(pp.scale) || pp.scale <= 0) bad("preprocessing.scale must be a positive number");
    if (!(m.conf >= 0 && m.conf <= 1) || !(m.iou >= 0 && m.iou <= 1)) bad("conf and iou must be in [0, 1]");
  } catch (const json::exception& e) {
    throw Error(origin + ": malformed yolonas_meta: " + e.what());
  }
  return m;
}

}  // namespace yolonas
