#include "yolonas/model/fusion.h"

#include "yolonas/core/error.h"

namespace yolonas {

FuseMode parse_fuse_mode(const std::string& s) {
  if (s == "none" || s == "false" || s == "0") return FuseMode::kNone;
  if (s == "partial") return FuseMode::kPartial;
  if (s == "full" || s == "true" || s == "1") return FuseMode::kFull;
  throw Error("fuse=" + s + ": expected none, partial or full");
}

void fuse_qarepvgg(YoloNAS& model, FuseMode mode) {
  if (mode == FuseMode::kNone) return;
  if (model->is_training()) throw Error("fusion needs a model in eval mode (BN running statistics)");
  for (auto& m : model->modules(/*include_self=*/false)) {
    if (auto* q = m->as<QARepVGGBlockImpl>()) {
      if (mode == FuseMode::kPartial)
        q->fuse_partial();
      else
        q->fuse_full();
    }
  }
}

void fold_conv_bn(YoloNAS& model) {
  if (model->is_training()) throw Error("Conv/BN folding needs a model in eval mode");
  // Collect first: folding re-registers children while we iterate.
  std::vector<ConvBNImpl*> blocks;
  for (auto& m : model->modules(false))
    if (auto* c = m->as<ConvBNImpl>()) blocks.push_back(c);
  for (auto* c : blocks) {
    // branch_3x3 inside an un-fused QARepVGG block has no ReLU and feeds a sum; folding it is still
    // exact, so fold every ConvBN.
    c->fold_bn();
  }
}

RepState rep_state(YoloNAS& model) {
  for (auto& m : model->modules(false))
    if (auto* q = m->as<QARepVGGBlockImpl>()) return q->state;
  return RepState::kUnfused;
}

}  // namespace yolonas
