// Re-parameterization of a YOLO-NAS model for inference.
//  partial: SG prep_model_for_conversion(): every QARepVGG block's 3x3+BN, 1x1 and identity branches
//           folded into rbr_reparam, post_bn kept (SG's predict()/export default).
//  full:    SG full_fusion=True: post_bn folded too.
//  fold_conv_bn: ours, on top of either: every plain Conv+BN block (CSP convs, neck, heads) gets its
//           BN folded into a conv bias. Changes the state_dict layout, so it is an inference-only step.
#pragma once
#include <string>

#include "yolonas/model/model.h"

namespace yolonas {

enum class FuseMode { kNone, kPartial, kFull };
FuseMode parse_fuse_mode(const std::string& s);  // "none" | "partial" | "full"; throws yolonas::Error

// The model must be in eval mode (uses BN running statistics). Idempotent.
void fuse_qarepvgg(YoloNAS& model, FuseMode mode);
void fold_conv_bn(YoloNAS& model);
RepState rep_state(YoloNAS& model);

}  // namespace yolonas
