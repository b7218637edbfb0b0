// PyTorch-ordered state_dicts for LibTorch modules (LibTorch has no state_dict()): per module its
// own parameters, then its own buffers, then its children in registration order - the order SG's
// checkpoints and the golden key lists use.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace yolonas {

using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

StateDict state_dict(const torch::nn::Module& module);

// Copies `sd` into the module. Strict: every key present with the same shape, no extra keys;
// otherwise throws yolonas::Error listing missing, unexpected and mis-shaped keys (from `origin`).
// Keys in `skip_prefixes`... are not required (used when re-initialising class heads).
void load_state_dict(torch::nn::Module& module, const StateDict& sd, const std::string& origin,
                     const std::vector<std::string>& ignore_keys = {});

int64_t count_parameters(const torch::nn::Module& module);

}  // namespace yolonas
