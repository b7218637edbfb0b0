// Test helpers that need LibTorch: .npy -> tensor, golden key lists, tensor comparisons.
#pragma once
#include <torch/torch.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "yolonas/core/npy.h"

namespace yolonas::test {

inline torch::Tensor load_tensor(const std::string& path) {
  NpyArray a = load_npy(path);
  if (a.dtype == "<i8") {
    auto v = a.to_int64();
    return torch::from_blob(v.data(), a.shape, torch::kInt64).clone();
  }
  auto v = a.to_float();
  return torch::from_blob(v.data(), a.shape, torch::kFloat32).clone();
}

struct KeyEntry {
  std::string key;
  std::vector<int64_t> shape;
  std::string dtype;
};

// Golden key list format: key<TAB>shape(comma separated)<TAB>dtype<TAB>numel; '#' lines are comments.
inline std::vector<KeyEntry> load_key_list(const std::string& path) {
  std::ifstream f(path);
  std::vector<KeyEntry> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::stringstream ss(line);
    KeyEntry e;
    std::string shape;
    std::getline(ss, e.key, '\t');
    std::getline(ss, shape, '\t');
    std::getline(ss, e.dtype, '\t');
    std::stringstream sh(shape);
    std::string d;
    while (std::getline(sh, d, ',')) e.shape.push_back(std::stoll(d));
    out.push_back(e);
  }
  return out;
}

// max |a-b| / max(|b|) : the "relative" error measure used for logits and features.
inline double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  auto d = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  auto s = b.to(torch::kFloat64).abs().max().item<double>();
  return d / std::max(s, 1e-12);
}
inline double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace yolonas::test
