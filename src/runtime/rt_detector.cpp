#include "yolonas/runtime/rt_detector.h"

#include <thread>

#include "yolonas/core/error.h"
#include "yolonas/runtime/model_file.h"
#include "yolonas/runtime/onednn_engine.h"

// OpenMP's runtime (libgomp), which oneDNN uses for its threads.
extern "C" {
void omp_set_num_threads(int);
int omp_get_max_threads(void);
}

namespace yolonas::rt {

int set_runtime_threads(int threads) {
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(n);
  return omp_get_max_threads();
}

struct Detector::Impl {
  DetectionInfo info;
  std::string source;
  int threads = 1;
  bool int8 = false;
  std::unique_ptr<OnednnEngine> engine;
};

Detector::Detector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Detector::Detector(Detector&&) noexcept = default;
Detector& Detector::operator=(Detector&&) noexcept = default;
Detector::~Detector() = default;

Detector Detector::load(const std::string& model_file, int threads, bool bf16) {
  auto impl = std::make_unique<Impl>();
  impl->threads = set_runtime_threads(threads);
  ModelFile mf = read_model_file(model_file);
  impl->info = mf.info;
  impl->source = model_file;
  impl->int8 = mf.int8.has_value();
  if (bf16 && impl->int8) throw Error(model_file + " is an INT8 model file; bf16 runs FP32 ones");
  impl->engine = bf16 ? OnednnEngine::bf16(std::move(mf.graph))
                      : std::make_unique<OnednnEngine>(std::move(mf.graph), std::move(mf.int8), mf.int8_note);
  return Detector(std::move(impl));
}

ImageResult Detector::predict(const cv::Mat& image) const { return predict(image, default_nms()); }

ImageResult Detector::predict(const cv::Mat& image, const NmsParams& nms) const {
  return predict(std::vector<cv::Mat>{image}, nms).at(0);
}

std::vector<ImageResult> Detector::predict(const std::vector<cv::Mat>& images, const NmsParams& nms) const {
  return detect_images(*impl_->engine, images, impl_->info.preprocessing, nms);
}

NmsParams Detector::default_nms() const {
  NmsParams p = NmsParams::predict_defaults();
  p.conf = impl_->info.conf;
  p.iou = impl_->info.iou;
  return p;
}

const std::vector<std::string>& Detector::names() const { return impl_->info.names; }
const PreprocessParams& Detector::preprocessing() const { return impl_->info.preprocessing; }
const DetectionInfo& Detector::info() const { return impl_->info; }
bool Detector::int8() const { return impl_->int8; }
InferenceEngine& Detector::engine() const { return *impl_->engine; }

std::string Detector::describe() const {
  const auto& m = impl_->info;
  return m.model_name + " (" + std::to_string(m.names.size()) + " classes, " + std::to_string(m.preprocessing.input_h) +
         "x" + std::to_string(m.preprocessing.input_w) + ", " + impl_->engine->describe() + ", " +
         std::to_string(impl_->threads) + " threads) from " + impl_->source;
}

}  // namespace yolonas::rt
