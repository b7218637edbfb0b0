#include "yolonas/train/optim.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "yolonas/core/error.h"
#include "yolonas/core/text.h"

namespace yolonas {
namespace {

// Collect (name, param, is_norm_layer) in named_parameters order.
void walk(torch::nn::Module& m, const std::string& prefix, ParamGroups& g) {
  const bool is_bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(&m) != nullptr;
  for (auto& p : m.named_parameters(/*recurse=*/false)) {
    if (!p.value().requires_grad()) continue;
    const std::string name = prefix + p.key();
    // SG _get_no_decay_param_ids: weight & bias of norm layers, and every parameter named "bias".
    if (is_bn || ends_with(name, ".bias") || name == "bias") {
      g.no_decay_names.push_back(name);
      g.no_decay.push_back(p.value());
    } else {
      g.decay_names.push_back(name);
      g.decay.push_back(p.value());
    }
  }
  for (auto& c : m.named_children()) walk(*c.value(), prefix + c.key() + ".", g);
}

}  // namespace

ParamGroups make_param_groups(torch::nn::Module& model) {
  ParamGroups g;
  walk(model, "", g);
  return g;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model, const OptimConfig& c) {
  ParamGroups g = make_param_groups(model);
  using namespace torch::optim;
  if (c.name == "AdamW" || c.name == "adamw") {
    std::vector<OptimizerParamGroup> groups;
    groups.emplace_back(g.no_decay, std::make_unique<AdamWOptions>(AdamWOptions(c.lr0).weight_decay(0.0)));
    groups.emplace_back(g.decay, std::make_unique<AdamWOptions>(AdamWOptions(c.lr0).weight_decay(c.weight_decay)));
    return std::make_unique<AdamW>(std::move(groups), AdamWOptions(c.lr0).weight_decay(c.weight_decay));
  }
  if (c.name == "Adam" || c.name == "adam") {
    std::vector<OptimizerParamGroup> groups;
    groups.emplace_back(g.no_decay, std::make_unique<AdamOptions>(AdamOptions(c.lr0).weight_decay(0.0)));
    groups.emplace_back(g.decay, std::make_unique<AdamOptions>(AdamOptions(c.lr0).weight_decay(c.weight_decay)));
    return std::make_unique<Adam>(std::move(groups), AdamOptions(c.lr0).weight_decay(c.weight_decay));
  }
  if (c.name == "SGD" || c.name == "sgd") {
    auto opts = [&](double wd) {
      return std::make_unique<SGDOptions>(SGDOptions(c.lr0).momentum(c.momentum).nesterov(c.nesterov).weight_decay(wd));
    };
    std::vector<OptimizerParamGroup> groups;
    groups.emplace_back(g.no_decay, opts(0.0));
    groups.emplace_back(g.decay, opts(c.weight_decay));
    return std::make_unique<SGD>(std::move(groups),
                                 SGDOptions(c.lr0).momentum(c.momentum).nesterov(c.nesterov).weight_decay(c.weight_decay));
  }
  throw Error("optimizer=" + c.name + ": expected AdamW, Adam or SGD");
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

double LrSchedule::lr_at(int epoch, int step) const {
  const int64_t L = std::max(1, steps_per_epoch);
  const int64_t n = std::min<int64_t>(warmup_steps, L);  // SG caps the batch warm-up at one epoch
  auto cosine_enabled = [&](int64_t e, int64_t s) {
    return warmup_steps > 0 ? e * L + s >= warmup_steps : (warmup_epochs <= e && e < epochs);
  };
  auto cosine = [&](int64_t e, int64_t s) {
    const double it = static_cast<double>(std::max<int64_t>(0, L * (e - warmup_epochs) + s - warmup_steps));
    const double T = static_cast<double>(L * (epochs - warmup_epochs) - warmup_steps);
    const double cos_part = 0.5 * lr0 * (1.0 + std::cos(it / (T + 1.0) * M_PI));
    return cos_part * (1.0 - final_lr_ratio) + final_lr_ratio * lr0;
  };
  // Walk back from this step to the last event that set the lr: the batch warm-up before this step,
  // the epoch warm-up at the start of this epoch, or the cosine after an earlier step.
  int64_t e = epoch, s = step;
  for (;;) {
    const int64_t g = e * L + s;
    if (batch_warmup && g < n)
      return n == 1 ? warmup_initial_lr
                    : warmup_initial_lr + static_cast<double>(g) * (lr0 - warmup_initial_lr) / static_cast<double>(n - 1);
    if (!batch_warmup && s == 0 && warmup_epochs > 0 && e <= warmup_epochs)
      return warmup_initial_lr + static_cast<double>(e) * (lr0 - warmup_initial_lr) / warmup_epochs;
    if (s > 0) {
      --s;
    } else if (e > 0) {
      --e;
      s = L - 1;
    } else {
      return lr0;  // the optimizer's initial lr, untouched by any callback yet
    }
    if (cosine_enabled(e, s)) return cosine(e, s);
  }
}

ModelEMA::ModelEMA(torch::nn::Module& model, double decay) : decay_(decay) {
  for (auto& kv : state_dict(model)) ema_.emplace_back(kv.first, kv.second.detach().clone());
}

double ModelEMA::current_decay() const {
  const double t = static_cast<double>(updates_);
  return std::min(decay_, (1.0 + t) / (10.0 + t));
}

void ModelEMA::update(torch::nn::Module& model) {
  torch::NoGradGuard ng;
  const double d = current_decay();
  StateDict cur = state_dict(model);
  if (cur.size() != ema_.size()) throw Error("EMA: the model's state_dict changed size (fused after EMA was created?)");
  for (size_t i = 0; i < cur.size(); ++i) {
    auto& e = ema_[i].second;
    if (!e.is_floating_point()) continue;  // SG leaves num_batches_tracked alone
    e.copy_(e * d + (1.0 - d) * cur[i].second.detach());
  }
  ++updates_;
}

StateDict ModelEMA::state() const { return ema_; }

void ModelEMA::load(const StateDict& sd, int64_t updates) {
  if (sd.size() != ema_.size()) throw Error("EMA state has " + std::to_string(sd.size()) + " entries, expected " +
                                            std::to_string(ema_.size()));
  torch::NoGradGuard ng;
  for (size_t i = 0; i < sd.size(); ++i) ema_[i].second.copy_(sd[i].second);
  updates_ = updates;
}

}  // namespace yolonas
