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

void RunningMean::add(const StateDict& sd) {
  if (count_ == 0) {
    // Integer tensors are summed in float64 and truncated once at the end: SG's true_divide turns
    // them into floats that only the model's buffer makes integer again.
    mean_.reserve(sd.size());
    for (const auto& [k, v] : sd) {
      dtypes_.push_back(v.scalar_type());
      mean_.emplace_back(k, v.is_floating_point() ? v.detach().clone() : v.detach().to(torch::kFloat64));
    }
    count_ = 1;
    return;
  }
  if (sd.size() != mean_.size())
    throw Error("weight averaging: snapshot " + std::to_string(count_) + " has " + std::to_string(sd.size()) +
                " tensors, the first " + std::to_string(mean_.size()));
  const double n = static_cast<double>(count_);
  for (size_t i = 0; i < mean_.size(); ++i) {
    auto& [key, a] = mean_[i];
    const torch::Tensor& b = sd[i].second;
    if (sd[i].first != key || !b.sizes().equals(a.sizes()))
      throw Error("weight averaging: snapshot " + std::to_string(count_) + " differs at " + key + " (" + sd[i].first + ")");
    a = (a * n + b.to(a.dtype())) / (n + 1);
  }
  ++count_;
}

StateDict RunningMean::result() const {
  if (count_ == 0) throw Error("weight averaging: no state dict to average");
  StateDict out = mean_;
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].second.scalar_type() != dtypes_[i]) out[i].second = out[i].second.to(dtypes_[i]);
  return out;
}

StateDict average_state_dicts(const std::vector<StateDict>& sds) {
  RunningMean m;
  for (const StateDict& sd : sds) m.add(sd);
  return m.result();
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
  if (kept() == 0) throw Error("average_best_models: no epoch has been validated yet");
  RunningMean m;  // one snapshot in memory at a time besides the mean (10 of L's would be 2.7 GB)
  for (size_t i = 0; i < slots_.size(); ++i)
    if (std::isfinite(slots_[i].metric)) m.add(read_checkpoint(slot_path(i), false).weights);
  return m.result();
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
