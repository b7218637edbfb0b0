// Builds a YoloNAS module from a ModelSource: variant / arch file / checkpoint metadata, weights
// from an SG or yolonas checkpoint (fused layouts accepted), fusion, threads. Shared by the
// Detector, `benchmark`, `export` and training-time validation.
#pragma once
#include <string>

#include "yolonas/model/fusion.h"
#include "yolonas/model/model.h"
#include "yolonas/detect/model_meta.h"
#include "yolonas/model/model_source.h"

namespace yolonas {

struct LoadedModel {
  YoloNAS model{nullptr};
  ModelMeta meta;
  std::string source;       // "weights.pth [ema_net]" / "random init"
  std::string weights_path; // resolved
};

// Builds the model (eval mode) and loads weights; does not fuse (see fuse_for_inference).
LoadedModel load_model(const ModelSource& source);

// Applies a fuse= value: "none", "partial" (SG predict), "full" (+ Conv/BN folding).
void fuse_for_inference(YoloNAS& model, const std::string& fuse);

// Sets LibTorch's intra-op threads (0 = all cores); returns the number in effect.
int set_threads(int threads);

// device= as Ultralytics takes it: "" or "cpu"; "cuda" / "gpu" (GPU 0); "cuda:N" or "N" (GPU N).
// Throws naming the value when it is malformed, names several GPUs ("0,1": one GPU only), or asks for
// a GPU that this LibTorch build or machine does not have.
torch::Device parse_device(const std::string& spec);

// The built-in default model: $YOLONAS_DEFAULT_MODEL, else models/yolonas_default.{ynas,pth} next to
// the binary (build/models: the build exports the .ynas from the .pth), in the source tree above it,
// in share/yolonas, or in ./models. model_file: the runtime's .ynas (predict, val) rather than the
// checkpoint (training, fine-tuning). "" when there is none.
std::string find_default_model(bool model_file);

// The one-line notice on stderr that says the built-in default model at `path` is in use, what it
// is, and how to pass your own.
void print_default_model_notice(const std::string& path);

// Text of the error given when a built-in model is requested without weights.
std::string missing_weights_message(const std::string& model);

}  // namespace yolonas
