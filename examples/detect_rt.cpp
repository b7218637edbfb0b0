// A deployment in one file: a model file, the runtime library, this program. No LibTorch.
//
//   build (from the yolonas build tree): cmake --build build --target detect_rt
//   run:   build/examples/detect_rt model.ynas image.jpg [more images...]
//
// Prints one line per detection: image, class, score, box in image pixels.
#include <cstdio>
#include <exception>

#include <opencv2/imgcodecs.hpp>

#include "yolonas/runtime/rt_detector.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.ynas IMAGE...\n", argv[0]);
    return 2;
  }
  try {
    const yolonas::rt::Detector det = yolonas::rt::Detector::load(argv[1]);
    std::fprintf(stderr, "%s\n", det.describe().c_str());
    for (int i = 2; i < argc; ++i) {
      const cv::Mat image = cv::imread(argv[i], cv::IMREAD_COLOR);
      if (image.empty()) {
        std::fprintf(stderr, "%s: cannot read the image\n", argv[i]);
        return 1;
      }
      const yolonas::ImageResult r = det.predict(image);
      for (const yolonas::Detection& d : r.detections)
        std::printf("%s %s %.3f %.1f %.1f %.1f %.1f\n", argv[i], det.names()[static_cast<size_t>(d.cls)].c_str(), d.score,
                    d.x1, d.y1, d.x2, d.y2);
      std::fprintf(stderr, "%s: %zu detections, %.1f ms\n", argv[i], r.detections.size(),
                   r.preprocess_ms + r.inference_ms + r.postprocess_ms);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
