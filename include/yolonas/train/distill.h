// Knowledge distillation for detection (the seed's KD: SG's KD trainer puts a KL term on the
// logits next to the task loss). The student learns, on the same augmented batch, from the
// teacher's class scores and box (DFL) distributions as well as from the labels:
//   cls: per anchor, the binary KL between the teacher's and the student's sigmoid class scores at
//        temperature T, summed over classes, averaged over anchors;
//   dfl: per anchor and box side, the KL between the teacher's and the student's softmax over the
//        DFL bins at temperature T, weighted by the teacher's confidence in the anchor (its largest
//        class score), so the box lessons come from where the teacher sees an object;
//   both times T^2 (Hinton's scaling, so the gradients keep their size as T changes).
// Both are 0 when the student equals the teacher. The teacher must have the student's classes, strides
// and DFL bins (the trainer checks).
#pragma once
#include <torch/torch.h>

#include "yolonas/model/model.h"

namespace yolonas {

struct DistillationLoss {
  torch::Tensor loss;  // cls + dfl, differentiable in the student's outputs
  torch::Tensor cls, dfl;
};

DistillationLoss distillation_loss(const YoloNASOutput& student, const YoloNASOutput& teacher, double temperature = 1.0);

}  // namespace yolonas
