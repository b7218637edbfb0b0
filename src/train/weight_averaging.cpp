#include "yolonas/train/weight_averaging.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "yolonas/core/error.h"
#include "yolonas/model/checkpoint.h"

namespace fs = std::filesystem;

namespace yolonas {

int slot_to_replace(const std::vector<double>& slot_metrics, double metric) {
  if (slot_metrics.empty() || std::isnan(metric)) return -1;
  const auto worst = std::min_element(slot_metrics.begin(), slot_metrics.end());  // the first of the lowest
  return metric > *worst ? static_cast<int>(worst - slot_metrics.begin()) : -1;
}

StateDict average_state_dicts(const std::vector<StateDict>& sds) {
  if (sds.empty()) throw Error("weight averaging: no state dict to average");
  // Integer tensors are summed in float64 and truncated once at the end: SG's true_divide turns them
  // into floats that only the model's buffer makes integer again.
  StateDict avg;
  std::vector<c10::ScalarType> dtypes;
  avg.reserve(sds[0].size());
  for (const auto& [k, v] : sds[0]) {
    dtypes.push_back(v.scalar_type());
    avg.emplace_back(k, v.is_floating_point() ? v.detach().clone() : v.detach().to(torch::kFloat64));
  }
  for (size_t n = 1; n < sds.size(); ++n) {
    const StateDict& sd = sds[n];
    if (sd.size() != avg.size())
      throw Error("weight averaging: snapshot " + std::to_string(n) + " has " + std::to_string(sd.size()) +
                  " tensors, the first " + std::to_string(avg.size()));
    for (size_t i = 0; i < avg.size(); ++i) {
      auto& [key, a] = avg[i];
      const torch::Tensor& b = sd[i].second;
      if (sd[i].first != key || !b.sizes().equals(a.sizes()))
        throw Error("weight averaging: snapshot " + std::to_string(n) + " differs at " + key + " (" + sd[i].first + ")");
      const double w = static_cast<double>(n);
      a = (a * w + b.to(a.dtype())) / (w + 1);
    }
  }
  for (size_t i = 0; i < avg.size(); ++i)
    if (avg[i].second.scalar_type() != dtypes[i]) avg[i].second = avg[i].second.to(dtypes[i]);
  return avg;
}

BestModelsAverage::BestModelsAverage(std::string dir, int n) : dir_(std::move(dir)) {
  if (n < 1) throw Error("average_best_models: needs at least 1 model to average, got " + std::to_string(n));
  slots_.resize(static_cast<size_t>(n));
}

std::string BestModelsAverage::slot_path(size_t i) const { return dir_ + "/slot" + std::to_string(i) + ".pth"; }

bool BestModelsAverage::offer(const StateDict& sd, double metric, int epoch) {
  std::vector<double> metrics;
  for (const Slot& s : slots_) metrics.push_back(s.metric);
  const int i = slot_to_replace(metrics, metric);
  if (i < 0) return false;
  fs::create_directories(dir_);
  CheckpointWrite w;
  w.net = &sd;
  w.epoch = epoch;
  w.acc = metric;
  write_checkpoint(slot_path(static_cast<size_t>(i)), w);  // atomic: a kill leaves the old slot whole
  slots_[static_cast<size_t>(i)] = {metric, epoch};
  return true;
}

int BestModelsAverage::kept() const {
  return static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return std::isfinite(s.metric); }));
}

StateDict BestModelsAverage::average() const {
  std::vector<StateDict> sds;
  for (size_t i = 0; i < slots_.size(); ++i)
    if (std::isfinite(slots_[i].metric)) sds.push_back(read_checkpoint(slot_path(i), false).weights);
  if (sds.empty()) throw Error("average_best_models: no epoch has been validated yet");
  return average_state_dicts(sds);
}

std::vector<int> BestModelsAverage::epochs_by_metric() const {
  std::vector<Slot> kept;
  for (const Slot& s : slots_)
    if (std::isfinite(s.metric)) kept.push_back(s);
  std::stable_sort(kept.begin(), kept.end(), [](const Slot& a, const Slot& b) { return a.metric > b.metric; });
  std::vector<int> epochs;
  for (const Slot& s : kept) epochs.push_back(s.epoch);
  return epochs;
}

nlohmann::json BestModelsAverage::state() const {
  nlohmann::json slots = nlohmann::json::array();
  for (const Slot& s : slots_)
    slots.push_back(std::isfinite(s.metric) ? nlohmann::json{{"metric", s.metric}, {"epoch", s.epoch}} : nlohmann::json());
  return {{"slots", slots}};
}

void BestModelsAverage::load_state(const nlohmann::json& s) {
  const nlohmann::json& slots = s.at("slots");
  if (slots.size() != slots_.size())
    throw Error("average_best_models: the checkpoint averages " + std::to_string(slots.size()) + " models, this run " +
                std::to_string(slots_.size()));
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i] = Slot{};
    if (slots[i].is_null()) continue;
    const int epoch = slots[i].at("epoch").get<int>();
    // The file must hold that epoch: a run killed between a snapshot and its last.pth left a newer
    // one, which the resumed epoch rewrites (the same decision from the same state) or drops here.
    int64_t held = -1;
    if (fs::exists(slot_path(i))) {
      try {
        held = read_checkpoint(slot_path(i), false).epoch;
      } catch (const Error& e) {
        std::fprintf(stderr, "warning: %s\n", e.what());
      }
    }
    if (held != epoch) {
      std::fprintf(stderr, "warning: average_best_models: %s does not hold epoch %d (%s); it leaves the average\n",
                   slot_path(i).c_str(), epoch, held < 0 ? "missing or unreadable" : ("epoch " + std::to_string(held)).c_str());
      continue;
    }
    slots_[i] = {slots[i].at("metric").get<double>(), epoch};
  }
}

void BestModelsAverage::remove_snapshots() const {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace yolonas
