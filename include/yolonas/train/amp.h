// Mixed precision for training (SG's mixed_precision=True: torch.cuda.amp autocast + GradScaler):
//   amp=auto   on for CUDA (float16 + a gradient scaler), off on the CPU
//   amp=true   on: float16 on CUDA, bfloat16 on the CPU (no scaler needed: bf16 has fp32's range)
//   amp_dtype=fp16|bf16 to choose
// The forward pass runs under autocast; the loss runs in float32 on the outputs cast back to float32
// (SG runs its loss under autocast too; float32 is the more accurate choice and costs little).
// Master weights, gradients and the optimizer state stay float32.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace yolonas {

struct AmpSettings {
  bool enabled = false;
  torch::ScalarType dtype = torch::kFloat32;
  bool scaler = false;  // float16: dynamic loss scaling
  std::string describe() const;  // "off", "bf16 autocast", "fp16 autocast + grad scaler"
};

// Throws yolonas::Error on a bad value or an unsupported combination (fp16 on the CPU).
AmpSettings resolve_amp(const std::string& amp, const std::string& dtype, const torch::Device& device);

// Autocast on `device` for the lifetime of the scope (restores what was there before).
class AutocastScope {
 public:
  AutocastScope(const AmpSettings& amp, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false, was_enabled_ = false;
  c10::DeviceType type_;
  torch::ScalarType was_dtype_;
};

// torch.cuda.amp.GradScaler's dynamic loss scaling: the loss is multiplied by scale() before
// backward; unscale_() divides the gradients back and reports non-finite ones; a step with
// non-finite gradients is skipped and the scale halves; after growth_interval good steps it doubles.
class GradScaler {
 public:
  explicit GradScaler(double init_scale = 65536.0, double growth_factor = 2.0, double backoff_factor = 0.5,
                      int growth_interval = 2000);
  double scale() const { return scale_; }
  torch::Tensor scale(const torch::Tensor& loss) const { return loss * scale_; }
  // Divides every gradient by the scale; true when all are finite.
  bool unscale_(const std::vector<torch::Tensor>& params);
  // After the step (made or skipped): the scale's update.
  void update(bool finite);
  int64_t skipped_steps() const { return skipped_; }
  // For checkpoints.
  std::vector<double> state() const { return {scale_, static_cast<double>(good_steps_), static_cast<double>(skipped_)}; }
  void load_state(const std::vector<double>& s);

 private:
  double scale_, growth_, backoff_;
  int interval_, good_steps_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace yolonas
