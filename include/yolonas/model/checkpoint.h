// Reading SuperGradients checkpoints and writing ours in SG's layout.
//
// Read: torch.save zip files holding {"net": sd, "ema_net": sd, ...} (SG Trainer), {"net": sd}, or a
// bare state_dict; `module.` prefixes stripped when every key has one; ema_net preferred (as SG's
// pretrained loader) unless prefer_ema=false. Legacy (pre-1.6, non-zip) pickles are refused with a
// conversion hint. Every failure throws yolonas::Error naming the file.
// Write: {"net": sd, ["ema_net": sd,] "acc", "epoch", "metrics": {}, "yolonas_meta": json string},
// atomically (temp + rename), loadable by SG's models.get(checkpoint_path=...).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "yolonas/model/state_dict.h"

namespace yolonas {

struct Checkpoint {
  StateDict weights;                 // the chosen state_dict
  std::string weights_key;           // "ema_net", "net" or "state_dict" (bare)
  std::vector<std::string> top_level_keys;
  std::optional<std::string> meta_json;  // our "yolonas_meta" entry, when present
  int64_t epoch = -1;
  // Training checkpoints (yolonas train): the other weights set, the training state and the optimizer.
  std::optional<StateDict> ema_weights;        // ema_net when `weights` is net
  std::optional<std::string> train_state_json;  // "yolonas_train_state"
  torch::Tensor optimizer_bytes;                // "yolonas_optimizer": uint8 tensor (LibTorch archive)
};

Checkpoint read_checkpoint(const std::string& path, bool prefer_ema = true);

// Number of classes from heads.head1.cls_pred.weight; throws if the key is absent.
int infer_num_classes(const StateDict& sd, const std::string& origin);

// "unfused" | "partial" | "full": which QARepVGG layout the state_dict holds.
std::string infer_rep_layout(const StateDict& sd);

struct CheckpointWrite {
  const StateDict* net = nullptr;
  const StateDict* ema = nullptr;    // optional
  std::string meta_json;             // stored as "yolonas_meta"
  int64_t epoch = 0;
  double acc = 0.0;
  std::string train_state_json;  // stored as "yolonas_train_state" when non-empty
  std::string optimizer_bytes;   // stored as a uint8 tensor "yolonas_optimizer" when non-empty
};
void write_checkpoint(const std::string& path, const CheckpointWrite& w);

}  // namespace yolonas
