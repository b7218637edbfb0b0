#include "yolonas/train/amp.h"

#include "yolonas/core/error.h"
#include "yolonas/model/torch_compat.h"

namespace yolonas {

std::string AmpSettings::describe() const {
  if (!enabled) return "off";
  return std::string(dtype == torch::kBFloat16 ? "bf16" : "fp16") + " autocast" + (scaler ? " + grad scaler" : "");
}

AmpSettings resolve_amp(const std::string& amp, const std::string& dtype, const torch::Device& device) {
  if (amp != "auto" && amp != "true" && amp != "false")
    throw Error("amp=" + clip(amp, 40) + ": expected auto (on for CUDA), true or false");
  if (dtype != "auto" && dtype != "fp16" && dtype != "bf16")
    throw Error("amp_dtype=" + clip(dtype, 40) + ": expected auto, fp16 or bf16");
  AmpSettings s;
  s.enabled = amp == "true" || (amp == "auto" && device.is_cuda());
  if (!s.enabled) return s;
  const bool fp16 = dtype == "fp16" || (dtype == "auto" && device.is_cuda());
  if (fp16 && !device.is_cuda())
    throw Error("amp_dtype=fp16 needs a CUDA device: on the CPU, mixed precision is bf16 (amp_dtype=bf16)");
  s.dtype = fp16 ? torch::kFloat16 : torch::kBFloat16;
  s.scaler = fp16;
  return s;
}

AutocastScope::AutocastScope(const AmpSettings& amp, const torch::Device& device)
    : type_(device.type()), was_dtype_(torch::kFloat32) {
  if (!amp.enabled) return;
  active_ = true;
  was_enabled_ = compat::autocast_enabled(type_);
  was_dtype_ = compat::autocast_dtype(type_);
  compat::set_autocast(type_, true, amp.dtype);
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  compat::set_autocast(type_, was_enabled_, was_dtype_);
  if (!was_enabled_) at::autocast::clear_cache();
}

GradScaler::GradScaler(double init_scale, double growth_factor, double backoff_factor, int growth_interval)
    : scale_(init_scale), growth_(growth_factor), backoff_(backoff_factor), interval_(growth_interval) {}

bool GradScaler::unscale_(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard ng;
  const double inv = 1.0 / scale_;
  torch::Tensor bad;
  for (const auto& p : params) {
    torch::Tensor g = p.grad();
    if (!g.defined()) continue;
    g.mul_(inv);
    torch::Tensor b = g.isfinite().logical_not().any();
    bad = bad.defined() ? bad.logical_or(b) : b;
  }
  return !bad.defined() || !bad.item<bool>();  // one synchronization per step
}

void GradScaler::update(bool finite) {
  if (!finite) {
    scale_ *= backoff_;
    good_steps_ = 0;
    ++skipped_;
    return;
  }
  if (++good_steps_ >= interval_) {
    scale_ *= growth_;
    good_steps_ = 0;
  }
}

void GradScaler::load_state(const std::vector<double>& s) {
  if (s.size() != 3 || !(s[0] > 0)) throw Error("grad scaler state: expected [scale > 0, good steps, skipped]");
  scale_ = s[0];
  good_steps_ = static_cast<int>(s[1]);
  skipped_ = static_cast<int64_t>(s[2]);
}

}  // namespace yolonas
