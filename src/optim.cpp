#include "yolonas/optim.h"

#include <cmath>

#include "yolonas/error.h"

namespace yolonas {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

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
  if (epoch < warmup_epochs) {
    // SG LinearEpochLRWarmup: lr = warmup_initial_lr + epoch * (lr0 - warmup_initial_lr) / warmup_epochs,
    // constant within the epoch. Per-step: the same line sampled at fractional epochs.
    const double e = warmup_per_step ? epoch + static_cast<double>(step) / std::max(1, steps_per_epoch) : epoch;
    return warmup_initial_lr + e * (lr0 - warmup_initial_lr) / warmup_epochs;
  }
  // SG CosineLRScheduler: 0.5*lr0*(1+cos(pi*it/(T+1)))*(1-r) + r*lr0, counted after the warm-up.
  const double it = static_cast<double>(epoch - warmup_epochs) * steps_per_epoch + step;
  const double T = static_cast<double>(std::max(1, epochs - warmup_epochs)) * steps_per_epoch;
  const double cos_part = 0.5 * lr0 * (1.0 + std::cos(M_PI * it / (T + 1.0)));
  return cos_part * (1.0 - final_lr_ratio) + final_lr_ratio * lr0;
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
