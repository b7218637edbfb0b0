// Benchmark (not a test): pycocotools-exact COCO evaluation of 5,000 images x 100 detections, the
// size of a COCO val2017 run, on synthetic data shaped like it (80 categories with COCO's sparse ids,
// ~7.4 boxes per image, 1% crowd, sizes spread over small/medium/large; detections are jittered
// copies of the boxes, some with the wrong class, plus random boxes). Also times the results-file
// round trip (serialize + parse), which `yolonas val gt= pred=` pays on top.
//
// Build (not built by default): cmake --build build --target bench_coco_eval
//   build/bench_coco_eval [images=5000] [dets_per_image=100]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "yolonas/eval/coco_eval.h"

using namespace yolonas;

namespace {

CocoDataset synthetic_ground_truth(int num_images, std::mt19937& rng) {
  CocoDataset gt;
  gt.source = "synthetic";
  for (int64_t id = 1, k = 0; k < 80; ++id) {
    if (id == 12 || id == 26 || id == 29 || id == 30 || id == 45 || id == 66 || id == 68 || id == 69 || id == 71 ||
        id == 83)
      continue;  // COCO's unused ids
    gt.categories.push_back({id, "c" + std::to_string(id)});
    ++k;
  }
  std::uniform_real_distribution<double> u(0, 1);
  std::poisson_distribution<int> boxes_per_image(7.3);
  std::uniform_int_distribution<int> cat(0, 79);
  int64_t ann_id = 1;
  for (int i = 0; i < num_images; ++i) {
    gt.images.push_back({1000 + 3 * i, "img.jpg", 640, 480});
    const int n = boxes_per_image(rng);
    for (int j = 0; j < n; ++j) {
      CocoAnnotation a;
      a.id = ann_id++;
      a.image_id = 1000 + 3 * i;
      a.category_id = gt.categories[static_cast<size_t>(cat(rng) % (8 + i % 40))].id;  // skewed class mix
      const double side = 8 * std::pow(40.0, u(rng));                             // 8 .. 320 px
      a.bbox[2] = side * (0.5 + u(rng)), a.bbox[3] = side * (0.5 + u(rng));
      a.bbox[0] = u(rng) * (640 - a.bbox[2] / 2), a.bbox[1] = u(rng) * (480 - a.bbox[3] / 2);
      a.area = a.bbox[2] * a.bbox[3] * (0.6 + 0.3 * u(rng));  // segment area < box area
      a.iscrowd = u(rng) < 0.01;
      gt.annotations.push_back(a);
    }
  }
  gt.build_index();
  return gt;
}

std::vector<CocoDetection> synthetic_detections(const CocoDataset& gt, int per_image, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::vector<const CocoAnnotation*>> by_image(gt.images.size());
  for (const auto& a : gt.annotations) by_image[static_cast<size_t>(gt.image_index(a.image_id))].push_back(&a);
  std::vector<CocoDetection> dets;
  dets.reserve(gt.images.size() * static_cast<size_t>(per_image));
  for (size_t i = 0; i < gt.images.size(); ++i) {
    for (int j = 0; j < per_image; ++j) {
      CocoDetection d;
      d.image_id = gt.images[i].id;
      const auto& anns = by_image[i];
      if (!anns.empty() && j < 3 * static_cast<int>(anns.size())) {  // up to 3 jittered copies per box
        const CocoAnnotation& a = *anns[static_cast<size_t>(j) % anns.size()];
        const double jit = 0.25 * u(rng);
        d.category_id = u(rng) < 0.9 ? a.category_id : gt.categories[static_cast<size_t>(j % 80)].id;
        for (int c = 0; c < 4; ++c) d.bbox[c] = a.bbox[c] + (u(rng) - 0.5) * jit * a.bbox[2 + c % 2];
        d.score = 0.3 + 0.7 * u(rng) * (1 - jit);
      } else {
        d.category_id = gt.categories[static_cast<size_t>(std::min(79.0, u(rng) * u(rng) * 80))].id;
        d.bbox[2] = 10 + 200 * u(rng), d.bbox[3] = 10 + 200 * u(rng);
        d.bbox[0] = u(rng) * 600, d.bbox[1] = u(rng) * 440;
        d.score = 0.001 + 0.5 * u(rng) * u(rng);
      }
      dets.push_back(d);
    }
  }
  return dets;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int num_images = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int per_image = argc > 2 ? std::atoi(argv[2]) : 100;
  std::mt19937 rng(12345);
  const CocoDataset gt = synthetic_ground_truth(num_images, rng);
  const std::vector<CocoDetection> dets = synthetic_detections(gt, per_image, rng);
  std::printf("%d images, %zu ground-truth boxes, %zu detections, %zu categories\n", num_images, gt.annotations.size(),
              dets.size(), gt.categories.size());

  auto t0 = std::chrono::steady_clock::now();
  const std::string text = coco_results_to_json(dets);
  const double t_write = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const std::vector<CocoDetection> parsed = parse_coco_results(text, "bench.json", gt);
  const double t_parse = seconds_since(t0);

  double best = 1e9;
  CocoEvalResult r;
  for (int rep = 0; rep < 3; ++rep) {
    t0 = std::chrono::steady_clock::now();
    r = evaluate_coco(gt, parsed);
    best = std::min(best, seconds_since(t0));
  }
  std::printf("%s", r.summary().c_str());
  std::printf("evaluate+accumulate+summarize: %.3f s (best of 3; evaluate %.3f s, accumulate %.3f s)\n", best,
              r.seconds_evaluate, r.seconds_accumulate);
  std::printf("results json: write %.3f s, parse+validate %.3f s (%.1f MB)\n", t_write, t_parse, text.size() / 1e6);
  return 0;
}
