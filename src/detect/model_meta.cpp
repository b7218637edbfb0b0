#include "yolonas/detect/model_meta.h"

#include <nlohmann/json.hpp>

#include "yolonas/core/error.h"

namespace yolonas {

using nlohmann::json;

std::string ModelMeta::to_json() const {
  json j = {{"format", "yolonas-checkpoint-v1"}, {"arch", json::parse(arch.to_json())}};
  write_json(j);
  return j.dump();
}

ModelMeta ModelMeta::from_json(const std::string& text, const std::string& origin) {
  ModelMeta m;
  try {
    const json j = json::parse(text);
    if (!j.is_object() || !j.contains("arch")) throw Error(origin + ": yolonas_meta has no 'arch'");
    m.arch = ArchParams::from_string(j["arch"].dump(), origin + " (yolonas_meta.arch)");
  } catch (const json::exception& e) {
    throw Error(origin + ": malformed yolonas_meta: " + e.what());
  }
  static_cast<DetectionInfo&>(m) = DetectionInfo::from_json(text, origin, m.arch.num_classes);
  m.arch.name = m.model_name;
  return m;
}

}  // namespace yolonas
