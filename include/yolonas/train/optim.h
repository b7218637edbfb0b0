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

#include "yolonas/model/state_dict.h"

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

// SG's learning-rate schedule, step by step as its callbacks produce it (sg/training/utils/callbacks):
//  - LinearEpochLRWarmup (warmup_epochs > 0): at the start of epoch e <= warmup_epochs,
//    lr = warmup_initial_lr + e * (lr0 - warmup_initial_lr) / warmup_epochs (constant within the epoch);
//  - LinearBatchLRWarmup (batch_warmup): before global step g < n = min(warmup_steps, steps_per_epoch),
//    lr = linspace(warmup_initial_lr, lr0, n)[g];
//  - CosineLRScheduler, after every optimizer step once enabled (global step >= warmup_steps when
//    warmup_steps > 0, else epoch >= warmup_epochs): it = max(0, L*(e - warmup_epochs) + s - warmup_steps),
//    T = L*(epochs - warmup_epochs) - warmup_steps, lr = 0.5*lr0*(1 + cos(pi*it/(T+1)))*(1-r) + r*lr0.
//    Being applied after a step, it sets the lr of the next one.
// Between these events the lr stays where the last one left it. SG's fine-tuning recipe runs epoch
// warm-up with warmup_steps 1000 inherited from the COCO recipe, which only delays the cosine (a quirk
// we reproduce); the COCO recipe runs batch warm-up over 1000 steps.
struct LrSchedule {
  double lr0 = 5e-4;
  double warmup_initial_lr = 1e-6;
  int warmup_epochs = 3;         // SG lr_warmup_epochs
  int warmup_steps = 0;          // SG lr_warmup_steps
  bool batch_warmup = false;     // SG warmup_mode LinearBatchLRWarmup (else LinearEpochLRWarmup)
  double final_lr_ratio = 0.1;   // SG cosine_final_lr_ratio
  int epochs = 100;
  int steps_per_epoch = 1;       // optimizer steps per epoch (SG: len(train_loader))
  // LR of optimizer step `step` (0-based) of epoch `epoch` (0-based).
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
