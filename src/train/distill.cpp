#include "yolonas/train/distill.h"

#include "yolonas/core/error.h"

namespace yolonas {

namespace F = torch::nn::functional;

DistillationLoss distillation_loss(const YoloNASOutput& student, const YoloNASOutput& teacher, double temperature) {
  if (!(temperature > 0)) throw Error("kd_temperature must be positive");
  const torch::Tensor& s_cls = student.cls_logits;
  const torch::Tensor t_cls = teacher.cls_logits.detach().to(s_cls.scalar_type());
  if (s_cls.sizes() != t_cls.sizes() || student.reg_distri.sizes() != teacher.reg_distri.sizes())
    throw Error("distillation: the teacher's outputs do not match the student's (classes, input size or DFL bins)");
  const double T = temperature;
  // Binary KL per class: BCE(student, p_t) - BCE(teacher, p_t) (the teacher's entropy), >= 0.
  const torch::Tensor p_t = torch::sigmoid(t_cls / T);
  const auto none = F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone);
  const torch::Tensor kl_cls = (F::binary_cross_entropy_with_logits(s_cls / T, p_t, none) -
                                F::binary_cross_entropy_with_logits(t_cls / T, p_t, none))
                                   .sum(-1);  // [B,A]
  DistillationLoss r;
  r.cls = kl_cls.mean() * (T * T);
  // DFL distributions: [B,A,4*(R+1)] -> [B,A,4,R+1].
  const int64_t B = student.reg_distri.size(0), A = student.reg_distri.size(1);
  const torch::Tensor s_reg = student.reg_distri.reshape({B, A, 4, -1}) / T;
  const torch::Tensor t_reg = teacher.reg_distri.detach().to(s_reg.scalar_type()).reshape({B, A, 4, -1}) / T;
  const torch::Tensor log_q = torch::log_softmax(s_reg, -1), log_p = torch::log_softmax(t_reg, -1);
  const torch::Tensor kl_dfl = (log_p.exp() * (log_p - log_q)).sum(-1).mean(-1);  // [B,A]
  const torch::Tensor w = std::get<0>(torch::sigmoid(t_cls).max(-1));             // teacher's confidence
  r.dfl = (kl_dfl * w).sum() / w.sum().clamp_min(1e-6) * (T * T);
  r.loss = r.cls + r.dfl;
  return r;
}

}  // namespace yolonas
