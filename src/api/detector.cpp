#include "yolonas/api/detector.h"

#include "yolonas/core/error.h"
#include "yolonas/model/engines.h"
#include "yolonas/model/model_loader.h"

namespace yolonas {

struct Detector::Impl {
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

Detector Detector::load(const DetectorOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->cpu = parse_device(options.device).is_cpu();  // first: a bad device= fails before the weights load
  impl->threads = set_threads(options.threads);
  LoadedModel lm = load_model(options);
  impl->meta = lm.meta;
  impl->source = lm.source;
  impl->engine = make_engine(std::move(lm.model), lm.meta, options);
  return Detector(std::move(impl));
}

const ModelMeta& Detector::meta() const { return impl_->meta; }
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
