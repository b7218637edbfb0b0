#include "yolonas/api/detector.h"

#include <optional>

#include "yolonas/core/error.h"
#include "yolonas/model/engines.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/runtime/int8.h"
#include "yolonas/runtime/model_file.h"
#include "yolonas/detect/tta.h"
#include "yolonas/runtime/onednn_engine.h"

namespace yolonas {

struct Detector::Impl {
  std::optional<QuantizeReport> quantize_report;
  ModelMeta meta;
  std::string source;  // "weights.pth [ema_net]"
  int threads = 1;
  bool cpu = true;
  std::unique_ptr<InferenceEngine> engine;
};

Detector::Detector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Detector::Detector(Detector&&) noexcept = default;
Detector& Detector::operator=(Detector&&) noexcept = default;
Detector::~Detector() = default;

namespace {

// A model file (.ynas): the runtime's graph and plan, no LibTorch model. engine=int8 on an FP32 file
// quantizes it at load with the calibration images.
// The Detector's INT8 plan: calibration and the optional selective scan (api/quantize.h).
DnnInt8 quantize_for(const DnnGraph& graph, const DetectionInfo& info, const DetectorOptions& o,
                     std::optional<QuantizeReport>& report, std::string& note) {
  if (o.calibration_images.empty())
    throw Error("engine=int8 needs calibration images like the ones to detect on: calib=DIR|GLOB|data.yaml");
  QuantizeOptions q = o.quantize;
  q.eval = o.quantize_eval.get();
  report.emplace();
  DnnInt8 plan = quantize_graph(graph, info, o.calibration_images, q, &*report);
  note = report->note();
  return plan;
}

std::unique_ptr<InferenceEngine> model_file_engine(const std::string& path, const DetectorOptions& o, ModelMeta& meta,
                                                   std::string& source, std::optional<QuantizeReport>& report) {
  if (!parse_device(o.device).is_cpu()) throw Error(clip(path) + ": a model file runs on the CPU (the oneDNN runtime); drop device=");
  if (o.engine != "auto" && o.engine != "onednn" && o.engine != "int8" && o.engine != "bf16")
    throw Error("engine=" + clip(o.engine, 40) + ": a model file runs on the oneDNN runtime (engine=auto, onednn, int8 or bf16)");
  ModelFile mf = read_model_file(path);
  meta = ModelMeta::from_json(mf.meta_json, path);
  if (o.imgsz > 0) {
    check_input_size(o.imgsz, o.imgsz);
    meta.preprocessing = PreprocessParams::for_imgsz(o.imgsz, o.imgsz);
  }
  source = path + (mf.int8 ? " [INT8 model file]" : " [model file]");
  if ((o.engine == "onednn" || o.engine == "bf16") && mf.int8)
    throw Error(clip(path) + " is an INT8 model file; engine=" + o.engine + " needs an FP32 one (export it without int8=true)");
  if (o.engine == "bf16") return OnednnEngine::bf16(std::move(mf.graph));
  if (o.engine == "int8" && !mf.int8) {
    std::string note;
    DnnInt8 plan = quantize_for(mf.graph, meta, o, report, note);
    return std::make_unique<OnednnEngine>(std::move(mf.graph), std::move(plan), note);
  }
  return std::make_unique<OnednnEngine>(std::move(mf.graph), std::move(mf.int8), mf.int8_note);
}

}  // namespace

Detector Detector::load(const DetectorOptions& options) {
  // augment=true|flip: the engine runs inside the test-time augmentation (detect/tta.h).
  const auto finish = [&](std::unique_ptr<Impl> impl) {
    if (options.augment == "true") {
      const PreprocessParams& pp = impl->meta.preprocessing;
      impl->engine = std::make_unique<TtaEngine>(std::move(impl->engine), static_cast<float>(pp.pad_value * pp.scale));
    } else if (options.augment == "flip") {
      impl->engine = std::make_unique<FlipAverageEngine>(std::move(impl->engine), impl->meta.arch.strides());
    } else if (options.augment != "none" && options.augment != "false") {
      throw Error("augment=" + clip(options.augment, 40) + ": expected true, false or flip");
    }
    return Detector(std::move(impl));
  };
  auto impl = std::make_unique<Impl>();
  impl->cpu = parse_device(options.device).is_cpu();  // first: a bad device= fails before the weights load
  impl->threads = set_threads(options.threads);
  std::string file = is_model_file(options.weights) ? options.weights : is_model_file(options.model) ? options.model : "";
  if (options.model.empty() && options.weights.empty() && !options.random_init) {
    // The built-in default model, as a model file when the build made one (it does), else its checkpoint.
    file = find_default_model(true);
    if (!file.empty()) print_default_model_notice(file);
  }
  if (!file.empty()) {
    if (!options.weights.empty() && !options.model.empty() && options.weights != options.model &&
        is_model_file(options.weights) && is_model_file(options.model))
      throw Error("model=" + clip(options.model) + " and weights=" + clip(options.weights) + " are two model files; give one");
    impl->engine = model_file_engine(file, options, impl->meta, impl->source, impl->quantize_report);
    return finish(std::move(impl));
  }
  LoadedModel lm = load_model(options);
  impl->meta = lm.meta;
  impl->source = lm.source;
  Quantizer quantizer;
  if (options.engine == "int8")
    quantizer = [&](const DnnGraph& g, std::string& note) {
      return quantize_for(g, impl->meta, options, impl->quantize_report, note);
    };
  impl->engine = make_engine(std::move(lm.model), lm.meta, options, quantizer);
  return finish(std::move(impl));
}

const ModelMeta& Detector::meta() const { return impl_->meta; }
const QuantizeReport* Detector::quantize_report() const {
  return impl_->quantize_report ? &*impl_->quantize_report : nullptr;
}
const std::vector<std::string>& Detector::names() const { return impl_->meta.names; }
const ArchParams& Detector::arch() const { return impl_->meta.arch; }
const PreprocessParams& Detector::preprocessing() const { return impl_->meta.preprocessing; }
InferenceEngine& Detector::engine() { return *impl_->engine; }

NmsParams Detector::default_nms() const {
  NmsParams p = NmsParams::predict_defaults();
  p.conf = impl_->meta.conf;
  p.iou = impl_->meta.iou;
  return p;
}

std::string Detector::describe() const {
  const auto& m = impl_->meta;
  return m.model_name + " (" + std::to_string(m.arch.num_classes) + " classes, " +
         std::to_string(m.preprocessing.input_h) + "x" + std::to_string(m.preprocessing.input_w) + ", " +
         impl_->engine->describe() + (impl_->cpu ? ", " + std::to_string(impl_->threads) + " threads" : "") +
         ") from " + impl_->source;
}

ImageResult Detector::predict(const cv::Mat& bgr, const NmsParams& nms) {
  return predict(std::vector<cv::Mat>{bgr}, nms).at(0);
}

std::vector<ImageResult> Detector::predict(const std::vector<cv::Mat>& images, const NmsParams& nms) {
  return detect_images(*impl_->engine, images, impl_->meta.preprocessing, nms);
}

}  // namespace yolonas
