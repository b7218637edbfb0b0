// YAML documents written by users (data.yaml, arch-params files) are checked for what yaml-cpp
// accepts silently.
#pragma once
#include <string>

namespace YAML {
class Node;
}

namespace yolonas {

// Throws yolonas::Error "<file>:<line>: duplicate key '<key>' (first at line <n>)" when a mapping
// anywhere in a parsed YAML document (or JSON read by yaml-cpp) has the same key twice: yaml-cpp
// keeps both pairs and node[key] silently returns the first. Aliases are walked once.
void check_yaml_unique_keys(const YAML::Node& root, const std::string& file);

}  // namespace yolonas
