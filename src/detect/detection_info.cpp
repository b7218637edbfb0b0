// DetectionInfo (model_meta.h): the part of yolonas_meta that running a model needs. nlohmann only,
// so that the runtime library reads model files without yaml-cpp.
#include <cmath>

#include <nlohmann/json.hpp>

#include "yolonas/core/error.h"
#include "yolonas/detect/coco_names.h"
#include "yolonas/detect/model_meta.h"

namespace yolonas {

using nlohmann::json;

std::vector<std::string> default_names(int num_classes) {
  if (num_classes == 80) return coco80_names();
  std::vector<std::string> n;
  for (int i = 0; i < num_classes; ++i) n.push_back("class" + std::to_string(i));
  return n;
}

void DetectionInfo::write_json(json& j) const {
  const auto& p = preprocessing;
  j["model"] = model_name;
  j["names"] = names;
  j["imgsz"] = {p.input_h, p.input_w};
  j["preprocessing"] = {{"rescale", {p.rescale_h, p.rescale_w}},
                        {"pad_value", p.pad_value},
                        {"rounding", rounding_name(p.rounding)},
                        {"center_pad", p.center_pad},
                        {"rgb", p.rgb},
                        {"scale", p.scale}};
  j["conf"] = conf;
  j["iou"] = iou;
}

DetectionInfo DetectionInfo::from_json(const std::string& text, const std::string& origin, int num_classes) {
  DetectionInfo m;
  try {
    const json j = json::parse(text);
    if (!j.is_object()) throw Error(origin + ": yolonas_meta is not a JSON object");
    m.model_name = j.value("model", std::string("custom"));
    m.names = j.value("names", default_names(num_classes));
    if (static_cast<int>(m.names.size()) != num_classes)
      throw Error(origin + ": yolonas_meta has " + std::to_string(m.names.size()) + " names for " +
                  std::to_string(num_classes) + " classes");
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
    // A model file is user input: values the pre/post-processing trusts are checked here.
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
