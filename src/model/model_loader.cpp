#include "yolonas/model/model_loader.h"

#include <dlfcn.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "yolonas/model/checkpoint.h"
#include "yolonas/core/error.h"
#include "yolonas/core/text.h"
#include "yolonas/model/state_dict.h"

namespace fs = std::filesystem;

namespace yolonas {
namespace {

bool is_arch_file(const std::string& m) { return ends_with(m, ".yaml") || ends_with(m, ".yml") || ends_with(m, ".json"); }
bool is_checkpoint_file(const std::string& m) { return ends_with(m, ".pth") || ends_with(m, ".pt"); }

// Official weights the user placed themselves: ./weights/<model>_coco.pth or $YOLONAS_WEIGHTS/<model>_coco.pth.
std::string find_local_official_weights(const std::string& model) {
  std::vector<fs::path> dirs{"weights"};
  if (const char* env = std::getenv("YOLONAS_WEIGHTS")) dirs.insert(dirs.begin(), env);
  for (const auto& d : dirs) {
    fs::path p = d / (model + "_coco.pth");
    if (fs::exists(p)) return p.string();
  }
  return "";
}

std::string canonical_variant(const std::string& m) {
  if (m == "s") return "yolo_nas_s";
  if (m == "m") return "yolo_nas_m";
  if (m == "l") return "yolo_nas_l";
  return m;
}

}  // namespace

void print_default_model_notice(const std::string& path) {
  std::fprintf(stderr, "using the built-in default model %s (yolo_nas_n, 28 COCO classes, weak on real photos: "
                       "docs/DEFAULT_MODEL.md; pass model= and weights= for your own)\n", path.c_str());
}

std::string find_default_model(bool model_file) {
  if (const char* env = std::getenv("YOLONAS_DEFAULT_MODEL")) {  // it wins, in its own format
    const bool is_file = ends_with(lower(env), ".ynas");
    return is_file == model_file ? env : "";
  }
  const std::string name = model_file ? "yolonas_default.ynas" : "yolonas_default.pth";
  std::error_code ec;
  std::vector<fs::path> bases;  // beside the program, and beside the shared object holding this code
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) bases.push_back(exe.parent_path());
  Dl_info info;  // the Python module (build/python/yolonas*.so) runs inside python3
  if (dladdr(reinterpret_cast<void*>(&find_default_model), &info) && info.dli_fname && info.dli_fname[0] == '/')
    bases.push_back(fs::path(info.dli_fname).parent_path());
  std::vector<fs::path> candidates;
  for (const fs::path& base : bases) {
    candidates.push_back(base / "models" / name);
    candidates.push_back(base.parent_path() / "models" / name);
    candidates.push_back(base.parent_path() / "share/yolonas" / name);
  }
  candidates.push_back(fs::path("models") / name);
  for (const auto& c : candidates)
    if (fs::exists(c)) return c.string();
  return "";
}

std::string missing_weights_message(const std::string& model) {
  return "model=" + model +
         " needs weights, and yolonas never downloads any. Either\n"
         "  - pass weights=PATH to a SuperGradients checkpoint (e.g. " + model + "_coco.pth) or a yolonas checkpoint, or\n"
         "  - put the official file at ./weights/" + model + "_coco.pth (or in $YOLONAS_WEIGHTS/), or\n"
         "  - pass random_init=true for an untrained model (useful for benchmarks and training from scratch).\n"
         "Note: Deci's official YOLO-NAS weights are licensed for non-commercial use only (LICENSE.YOLONAS.md);\n"
         "obtain them yourself and check the licence before use.";
}

int set_threads(int threads) {
  int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return at::get_num_threads();
}

LoadedModel load_model(const ModelSource& o) {
  LoadedModel lm;
  std::string model = canonical_variant(o.model);
  std::string weights = o.weights;
  if (model.empty() && weights.empty() && !o.random_init) {
    weights = find_default_model(false);
    if (weights.empty())
      throw Error("no model= or weights= given and the built-in default model (models/yolonas_default.pth) was not "
                  "found; set YOLONAS_DEFAULT_MODEL or pass weights=PATH");
    print_default_model_notice(weights);
  }
  if (is_checkpoint_file(model)) {  // Ultralytics habit: model=path/to/weights.pth
    if (!weights.empty() && weights != model)
      throw Error("model=" + model + " is a checkpoint and weights=" + weights + " is another; give one of them");
    weights = model;
    model = "";
  }

  // Architecture from model=, possibly replaced by the checkpoint's own metadata below.
  ArchParams arch;
  bool arch_given = !model.empty();
  if (!arch_given) {
    arch = ArchParams::yolo_nas_s();
  } else if (is_arch_file(model)) {
    arch = ArchParams::from_file(model);
  } else {
    arch = ArchParams::by_name(model);
  }

  if (weights.empty() && !o.random_init && !is_arch_file(model)) {
    weights = find_local_official_weights(model.empty() ? "yolo_nas_s" : model);
    if (weights.empty()) throw Error(missing_weights_message(model.empty() ? "yolo_nas_s" : model));
  }
  if (weights.empty() && !o.random_init)
    throw Error("model=" + model + " is an architecture without weights: pass weights=PATH or random_init=true");

  std::optional<Checkpoint> ck;
  if (!weights.empty()) {
    ck = read_checkpoint(weights, o.prefer_ema);
    if (ck->meta_json) {
      ModelMeta m = ModelMeta::from_json(*ck->meta_json, weights);
      if (arch_given && m.model_name != model && m.arch.to_json() != arch.to_json()) {
        // The checkpoint describes itself; trust it over model= (but say so).
        std::fprintf(stderr, "note: %s holds a '%s' model; using its own architecture instead of model=%s\n",
                     weights.c_str(), m.model_name.c_str(), model.c_str());
      }
      lm.meta = m;
      arch = m.arch;
    } else {
      arch.num_classes = infer_num_classes(ck->weights, weights);
      lm.meta.model_name = model.empty() ? "yolo_nas_s" : arch.name;
      lm.meta.names = default_names(arch.num_classes);
      lm.meta.preprocessing = PreprocessParams::for_imgsz(640, 640);
    }
  } else {
    if (o.num_classes > 0) arch.num_classes = o.num_classes;
    lm.meta.model_name = arch.name;
    lm.meta.names = default_names(arch.num_classes);
    lm.meta.preprocessing = PreprocessParams::for_imgsz(640, 640);
  }
  lm.meta.arch = arch;
  if (o.imgsz > 0) {
    check_input_size(o.imgsz, o.imgsz);
    lm.meta.preprocessing = PreprocessParams::for_imgsz(o.imgsz, o.imgsz);
  }

  torch::NoGradGuard ng;
  lm.model = YoloNAS(arch);
  lm.model->eval();
  if (ck) {
    // SG checkpoints saved after fusion hold only rbr_reparam (+ post_bn): fuse ours the same way first.
    const std::string layout = infer_rep_layout(ck->weights);
    if (layout == "partial") fuse_qarepvgg(lm.model, FuseMode::kPartial);
    if (layout == "full") fuse_qarepvgg(lm.model, FuseMode::kFull);
    load_state_dict(*lm.model, ck->weights, weights);
    lm.source = weights + " [" + ck->weights_key + (layout != "unfused" ? ", " + layout + "-fused layout" : "") + "]";
    lm.weights_path = weights;
  } else {
    lm.source = "random init (random_init=true)";
  }
  return lm;
}

void fuse_for_inference(YoloNAS& model, const std::string& fuse) {
  const FuseMode mode = parse_fuse_mode(fuse);
  fuse_qarepvgg(model, mode);
  if (mode == FuseMode::kFull) fold_conv_bn(model);
}

torch::Device parse_device(const std::string& spec_in) {
  std::string spec;
  for (char c : spec_in)
    if (c != ' ') spec += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (spec.empty() || spec == "cpu") return torch::Device(torch::kCPU);
  if (spec.find(',') != std::string::npos)
    throw Error("device=" + spec_in + ": several GPUs are not supported; pick one (device=0)");
  std::string index = spec;
  if (spec == "cuda" || spec == "gpu") index = "0";
  else if (spec.rfind("cuda:", 0) == 0) index = spec.substr(5);
  char* end = nullptr;
  const long gpu = std::strtol(index.c_str(), &end, 10);
  if (index.empty() || *end != '\0' || gpu < 0)
    throw Error("device=" + spec_in + ": expected cpu, cuda, cuda:N or a GPU index N");
  if (!torch::cuda::is_available())
    throw Error("device=" + spec_in + ": no CUDA device is available (this LibTorch build is CPU-only, or no GPU is "
                "visible); use device=cpu, or build yolonas against a CUDA LibTorch");
  const long count = static_cast<long>(torch::cuda::device_count());
  if (gpu >= count)
    throw Error("device=" + spec_in + ": GPU " + std::to_string(gpu) + " does not exist (" + std::to_string(count) +
                " visible)");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(gpu));
}

}  // namespace yolonas
