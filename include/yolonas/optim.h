// Optimization pieces of SG's YOLO-NAS recipes, each small and testable:
//  - parameter groups: no weight decay on BatchNorm weights/biases and on every bias
//    (SG zero_weight_decay_on_bias_and_bn); conv weights and bottleneck alphas decay;
//  - optimizers: AdamW (recipes), Adam (the widely used fine-tuning notebook), SGD (momentum, nesterov);
//  - LR: linear warm-up (per epoch, as SG's LinearEpochLRWarmup, or per step) then cosine to
//    final_lr_ratio * lr0;
//  - EMA with SG's "threshold" decay schedule over every floating state_dict entry.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "yolonas/state_dict.h"

namespace yolonas {

struct ParamGroups {
  std::vector<std::string> no_decay_names, decay_names;
  std::vector<torch::Tensor> no_decay, decay;
};

// Only parameters with requires_grad (frozen ones are left out). Order: named_parameters order.
ParamGroups make_param_groups(torch::nn::Module& model);

struct OptimConfig {
  std::string name = "AdamW";  // AdamW | Adam | SGD
  double lr0 = 5e-4;
  double weight_decay = 1e-4;
  double momentum = 0.9;       // SGD momentum / Adam beta1
  bool nesterov = true;        // SGD only
};

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model, const OptimConfig& c);
void set_lr(torch::optim::Optimizer& opt, double lr);

struct LrSchedule {
  double lr0 = 5e-4;
  double warmup_initial_lr = 1e-6;
  int warmup_epochs = 3;
  bool warmup_per_step = false;  // false: SG LinearEpochLRWarmup (constant within an epoch)
  double final_lr_ratio = 0.1;
  int epochs = 100;
  int steps_per_epoch = 1;
  // LR for optimizer step `step` (0-based) of epoch `epoch` (0-based).
  double lr_at(int epoch, int step) const;
};

// SG ModelEMA, decay_type "threshold": d = min(decay, (1 + updates) / (10 + updates)).
class ModelEMA {
 public:
  ModelEMA(torch::nn::Module& model, double decay);
  void update(torch::nn::Module& model);  // after each optimizer step
  StateDict state() const;                // the EMA weights, model's key order
  void load(const StateDict& sd, int64_t updates);
  int64_t updates() const { return updates_; }
  double current_decay() const;

 private:
  StateDict ema_;
  double decay_;
  int64_t updates_ = 0;
};

}  // namespace yolonas
