#include "yolonas/api/detector.h"

#include <chrono>
#include <opencv2/imgcodecs.hpp>

#include "yolonas/core/files.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/core/error.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/runtime/onednn_net.h"

namespace yolonas {

struct Detector::Impl {
  LoadedModel lm;
  std::string fuse;
  int threads = 1;
  torch::Device device{torch::kCPU};
  bool onednn = false;
  std::unique_ptr<DnnInt8> int8;                   // int8: the quantization plan
  size_t calibrated = 0;                           // int8: calibration images used
  OnednnNetCache nets;                             // onednn: the model (the LibTorch copy is released)
};

Detector::Detector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Detector::Detector(Detector&&) noexcept = default;
Detector& Detector::operator=(Detector&&) noexcept = default;
Detector::~Detector() = default;

Detector Detector::load(const DetectorOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->device = parse_device(options.device);  // first: a bad device= fails before the weights load
  impl->threads = set_threads(options.threads);
  impl->lm = load_model(options);
  impl->fuse = options.fuse;
  const std::string& engine = options.engine;
  if (engine != "auto" && engine != "libtorch" && engine != "onednn" && engine != "int8")
    throw Error("engine=" + engine + ": expected auto, libtorch, onednn or int8");
  const bool dnn = engine == "onednn" || engine == "int8";
  if (dnn && !impl->device.is_cpu()) throw Error("engine=" + engine + " runs on the CPU; drop device= or use engine=libtorch");
  if (dnn && parse_fuse_mode(options.fuse) != FuseMode::kFull)
    throw Error("engine=" + engine + " runs the fully fused model: use fuse=full (the default)");
  if (engine == "int8" && options.calibration_images.empty())
    throw Error("engine=int8 needs calibration images like the ones to detect on: calib=DIR|GLOB|data.yaml");
  fuse_for_inference(impl->lm.model, options.fuse);
  impl->onednn = dnn || (engine == "auto" && impl->device.is_cpu() && parse_fuse_mode(options.fuse) == FuseMode::kFull);
  if (impl->onednn) {
    DnnGraph graph = build_dnn_graph(impl->lm.model);
    impl->lm.model = YoloNAS(nullptr);  // the weights now live in the graph
    if (engine == "int8") {
      // Post-training quantization: activation ranges of up to 32 images, evenly spread over the list.
      const auto& pp = impl->lm.meta.preprocessing;
      const auto& all = options.calibration_images;
      const size_t n = std::min<size_t>(all.size(), 32);
      std::vector<std::vector<float>> inputs(n, std::vector<float>(static_cast<size_t>(3) * pp.input_h * pp.input_w));
      std::vector<const float*> ptrs;
      for (size_t i = 0; i < n; ++i) {
        const std::string& path = all[i * all.size() / n];
        const std::string problem = file_problem(path);
        const cv::Mat im = read_image(path, Orientation::ApplyExif);  // dataset images, as the loader reads them
        if (im.empty())
          throw Error("calibration image '" + clip(path) + "' cannot be read" + (problem.empty() ? "" : ": " + problem));
        preprocess_image(im, pp, inputs[i].data());
        ptrs.push_back(inputs[i].data());
      }
      impl->int8 = std::make_unique<DnnInt8>(plan_int8(graph, calibrate_ranges(graph, pp.input_h, pp.input_w, ptrs)));
      impl->calibrated = n;
    }
    impl->nets = OnednnNetCache(std::move(graph), impl->int8.get());
  } else {
    impl->lm.model->to(impl->device);
  }
  return Detector(std::move(impl));
}

const std::vector<std::string>& Detector::names() const { return impl_->lm.meta.names; }
const ArchParams& Detector::arch() const { return impl_->lm.meta.arch; }
const PreprocessParams& Detector::preprocessing() const { return impl_->lm.meta.preprocessing; }
NmsParams Detector::default_nms() const {
  NmsParams p = NmsParams::predict_defaults();
  p.conf = impl_->lm.meta.conf;
  p.iou = impl_->lm.meta.iou;
  return p;
}

std::string Detector::describe() const {
  const auto& m = impl_->lm.meta;
  return m.model_name + " (" + std::to_string(m.arch.num_classes) + " classes, " +
         std::to_string(m.preprocessing.input_h) + "x" + std::to_string(m.preprocessing.input_w) + ", fuse=" +
         impl_->fuse +
         (impl_->int8 ? ", oneDNN INT8 (calibrated on " + std::to_string(impl_->calibrated) + " images)"
                      : impl_->onednn ? ", oneDNN" : "") +
         ", " +
         (impl_->device.is_cpu() ? std::to_string(impl_->threads) + " threads" : impl_->device.str()) + ") from " +
         impl_->lm.source;
}

ImageResult Detector::predict(const cv::Mat& bgr, const NmsParams& nms) {
  return predict(std::vector<cv::Mat>{bgr}, nms).at(0);
}

std::vector<ImageResult> Detector::predict(const std::vector<cv::Mat>& images, const NmsParams& nms) {
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  const auto& pp = impl_->lm.meta.preprocessing;
  const int64_t n = static_cast<int64_t>(images.size());
  std::vector<ImageResult> results(images.size());
  if (n == 0) return results;

  const auto t0 = clock::now();
  torch::Tensor input = torch::empty({n, 3, pp.input_h, pp.input_w}, torch::kFloat32);
  for (int64_t i = 0; i < n; ++i)
    results[i].letterbox = preprocess_image(images[i], pp, input[i].data_ptr<float>());
  const auto t1 = clock::now();

  // Both engines give flat boxes (n x A x 4) and scores (n x A x C).
  std::vector<float> dnn_boxes, dnn_scores;
  torch::Tensor boxes, scores;
  const float *box_data, *score_data;
  int A, C;
  if (impl_->onednn) {
    OnednnNet& net = impl_->nets.get(static_cast<int>(n), pp.input_h, pp.input_w);
    net.run(input.data_ptr<float>(), dnn_boxes, dnn_scores);
    box_data = dnn_boxes.data(), score_data = dnn_scores.data();
    A = net.num_anchors(), C = net.num_classes();
  } else {
    c10::InferenceMode guard;
    std::tie(boxes, scores) = impl_->lm.model->forward_decoded(input.to(impl_->device));
    boxes = boxes.cpu().contiguous();  // .cpu() waits for a GPU: the timing below is complete
    scores = scores.cpu().contiguous();
    box_data = boxes.data_ptr<float>(), score_data = scores.data_ptr<float>();
    A = static_cast<int>(boxes.size(1)), C = static_cast<int>(scores.size(2));
  }
  const auto t2 = clock::now();

  for (int64_t i = 0; i < n; ++i) {
    results[i].detections = postprocess(box_data + static_cast<size_t>(i) * A * 4, score_data + static_cast<size_t>(i) * A * C,
                                        A, C, nms);
    undo_letterbox(results[i].detections, results[i].letterbox);
  }
  const auto t3 = clock::now();
  for (auto& r : results) {
    r.preprocess_ms = ms(t0, t1) / n;
    r.inference_ms = ms(t1, t2) / n;
    r.postprocess_ms = ms(t2, t3) / n;
  }
  return results;
}

}  // namespace yolonas
