// SG's `average_best_models` (training/utils/weight_averaging_utils.py, ModelWeightAveraging): the
// weights of the N best epochs by the watched metric (the EMA weights when EMA is on), averaged into
// average_model.pth. SG keeps the N snapshots in one pickle rewritten every epoch; here each kept
// snapshot is its own file under a folder (rewritten only when its slot changes), and the slots'
// metrics are the hook's state in every checkpoint, so that `resume=` continues the average exactly.
//
// SG's rule, kept: N slots start empty (metric -inf); an epoch replaces the slot with the lowest metric
// (the first such slot) when its metric is strictly higher. The average is SG's running mean in slot
// order: avg = s0; avg = (avg * n + s_n) / (n + 1) for each further filled slot n.
#pragma once
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "yolonas/model/state_dict.h"

namespace yolonas {

// The slot an epoch with `metric` takes (the first of the lowest), or -1 when it beats none.
int slot_to_replace(const std::vector<double>& slot_metrics, double metric);

// SG's running mean of state dicts, in the given order. All must have the same keys, order and shapes
// (throws yolonas::Error naming the first difference). Floating tensors are averaged in their own
// dtype; integer ones (BatchNorm's num_batches_tracked) in float64, truncated back to their dtype at the end.
StateDict average_state_dicts(const std::vector<StateDict>& sds);

// The same mean, one state dict at a time.
class RunningMean {
 public:
  void add(const StateDict& sd);
  StateDict result() const;  // throws when nothing was added
  int count() const { return count_; }

 private:
  StateDict mean_;
  std::vector<c10::ScalarType> dtypes_;
  int count_ = 0;
};

class BestModelsAverage {
 public:
  struct Slot {
    double metric = -std::numeric_limits<double>::infinity();  // empty
    int epoch = 0;               // 1-based epoch whose weights it holds
  };
  // Snapshots go to DIR/slot<i>.pth; n >= 1.
  BestModelsAverage(std::string dir, int n);
  // Keeps `sd` when `metric` beats the worst kept slot; true when the kept set changed.
  bool offer(const StateDict& sd, double metric, int epoch);
  // The average of the kept snapshots (read back from their files); throws when none is kept.
  StateDict average() const;
  const std::vector<Slot>& slots() const { return slots_; }
  int kept() const;
  // The 1-based epochs averaged, best metric first.
  std::vector<int> epochs_by_metric() const;
  nlohmann::json state() const;
  // Restores the slots of a resumed run; a slot whose file is missing or holds another epoch is
  // dropped with a warning.
  void load_state(const nlohmann::json& s);
  // Deletes the snapshot files and their folder (SG deletes its pickle when training ends).
  void remove_snapshots() const;

 private:
  std::string slot_path(size_t i) const;
  std::string dir_;
  std::vector<Slot> slots_;
};

}  // namespace yolonas
