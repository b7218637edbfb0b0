#include "yolonas/core/yaml_check.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "yolonas/core/error.h"

namespace yolonas {

void check_yaml_unique_keys(const YAML::Node& root, const std::string& file) {
  // An explicit stack instead of recursion (nesting costs heap only); a node reached again through
  // an alias is walked once, so that nested aliases ("billion laughs") cost nothing.
  std::vector<YAML::Node> todo{root};
  std::set<std::pair<size_t, int>> walked;  // (position in the text, type) of maps and sequences
  auto line_of = [](const YAML::Node& n) { return n.Mark().is_null() ? 0 : n.Mark().line + 1; };
  while (!todo.empty()) {
    const YAML::Node node = todo.back();
    todo.pop_back();
    if (!node.IsMap() && !node.IsSequence()) continue;
    if (!node.Mark().is_null() && !walked.emplace(static_cast<size_t>(node.Mark().pos), static_cast<int>(node.Type())).second)
      continue;
    if (node.IsSequence()) {
      for (const auto& item : node) todo.push_back(item);
      continue;
    }
    std::map<std::string, int> first_line;
    for (const auto& kv : node) {
      if (kv.first.IsScalar()) {
        const auto [it, fresh] = first_line.emplace(kv.first.Scalar(), line_of(kv.first));
        if (!fresh) {
          const int line = line_of(kv.first);
          throw Error(clip(file) + (line > 0 ? ":" + std::to_string(line) : "") + ": duplicate key '" +
                      clip(kv.first.Scalar()) + "'" +
                      (it->second > 0 ? " (first at line " + std::to_string(it->second) + ")" : "") +
                      ": a key may appear once in a mapping");
        }
      }
      todo.push_back(kv.first);
      todo.push_back(kv.second);
    }
  }
}

}  // namespace yolonas
