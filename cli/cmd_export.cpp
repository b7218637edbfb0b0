// `yolonas export weights=PATH format=pth out=PATH`: a weights-only yolonas checkpoint (EMA weights
// when the source has them) with the metadata inside (arch, class names, input size, preprocessing).
// Turns an SG checkpoint, or a training checkpoint with optimizer state, into a small deployable file
// that SG can still load (same key layout).
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "yolonas/checkpoint.h"
#include "yolonas/error.h"
#include "yolonas/model_loader.h"
#include "yolonas/state_dict.h"

namespace yolonas::cli {

int cmd_export(const Args& args) {
  args.check_known({"model", "weights", "format", "out", "ema", "imgsz", "names"});
  const std::string format = args.str("format", "pth");
  if (format != "pth")
    throw Error("format=" + format + ": only 'pth' (yolonas/SG checkpoint with metadata) is available in this version");
  DetectorOptions o;
  o.model = args.str("model", "");  // from the checkpoint's metadata (yolo_nas_s for SG files)
  o.weights = args.str("weights", "");
  o.prefer_ema = args.boolean("ema", true);
  o.imgsz = args.integer("imgsz", 0);
  if (o.weights.empty()) throw Error("weights= is required (the checkpoint to export)");
  LoadedModel lm = load_model(o);
  std::string out = args.str("out", "");
  if (out.empty()) out = std::filesystem::path(o.weights).stem().string() + "_export.pth";
  if (std::filesystem::absolute(out) == std::filesystem::absolute(o.weights))
    throw Error("out= must differ from weights= (the source is never overwritten)");
  StateDict sd = state_dict(*lm.model);
  CheckpointWrite w;
  w.net = &sd;
  w.meta_json = lm.meta.to_json();
  write_checkpoint(out, w);
  std::printf("exported %s -> %s (%.1f MB, %zu tensors, %d classes, %dx%d)\n", lm.source.c_str(), out.c_str(),
              std::filesystem::file_size(out) / 1e6, sd.size(), lm.meta.arch.num_classes, lm.meta.preprocessing.input_h,
              lm.meta.preprocessing.input_w);
  return 0;
}

}  // namespace yolonas::cli
