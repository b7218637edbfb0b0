#include "yolonas/model/state_dict.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "yolonas/core/error.h"

namespace yolonas {
namespace {

void collect(const torch::nn::Module& m, const std::string& prefix, StateDict& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : m.named_buffers(/*recurse=*/false)) out.emplace_back(prefix + b.key(), b.value());
  for (const auto& c : m.named_children()) collect(*c.value(), prefix + c.key() + ".", out);
}

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

std::string list_some(const std::vector<std::string>& v, size_t max_items = 8) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < max_items; ++i) s += "\n    " + v[i];
  if (v.size() > max_items) s += "\n    ... and " + std::to_string(v.size() - max_items) + " more";
  return s;
}

}  // namespace

StateDict state_dict(const torch::nn::Module& module) {
  StateDict out;
  collect(module, "", out);
  return out;
}

void load_state_dict(torch::nn::Module& module, const StateDict& sd, const std::string& origin,
                     const std::vector<std::string>& ignore_keys) {
  StateDict dst = state_dict(module);
  std::map<std::string, const torch::Tensor*> src;
  for (const auto& kv : sd) src[kv.first] = &kv.second;
  auto ignored = [&](const std::string& k) {
    return std::find(ignore_keys.begin(), ignore_keys.end(), k) != ignore_keys.end();
  };

  std::vector<std::string> missing, unexpected, mismatched;
  std::map<std::string, bool> known;
  for (const auto& kv : dst) {
    known[kv.first] = true;
    auto it = src.find(kv.first);
    if (it == src.end()) {
      if (!ignored(kv.first)) missing.push_back(kv.first);
    } else if (it->second->sizes() != kv.second.sizes() && !ignored(kv.first)) {
      mismatched.push_back(kv.first + ": checkpoint " + shape_str(*it->second) + ", model " + shape_str(kv.second));
    }
  }
  for (const auto& kv : sd)
    if (!known.count(kv.first)) unexpected.push_back(kv.first);

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = origin + ": the weights do not match the model";
    if (!mismatched.empty())
      msg += "\n  " + std::to_string(mismatched.size()) + " with a different shape:" + list_some(mismatched);
    if (!missing.empty()) msg += "\n  " + std::to_string(missing.size()) + " missing keys:" + list_some(missing);
    if (!unexpected.empty())
      msg += "\n  " + std::to_string(unexpected.size()) + " unexpected keys:" + list_some(unexpected);
    msg += "\n  (is model= the right variant for these weights? yolo_nas_s, yolo_nas_m and yolo_nas_l differ)";
    throw Error(msg);
  }

  torch::NoGradGuard ng;
  for (auto& kv : dst) {
    auto it = src.find(kv.first);
    if (it == src.end() || ignored(kv.first)) continue;
    kv.second.copy_(*it->second);
  }
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace yolonas
