// A tiny synthetic detection dataset for training tests: filled rectangles (class 0) and circles
// (class 1) in random colours on a noisy background, with exact YOLO labels. Deterministic per seed.
#pragma once
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>

namespace yolonas::test {

inline void write_shapes_split(const std::string& root, const std::string& split, int n, int size, unsigned seed) {
  namespace fs = std::filesystem;
  fs::create_directories(root + "/images/" + split);
  fs::create_directories(root + "/labels/" + split);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> col(40, 255), count(1, 3), cls(0, 1);
  for (int i = 0; i < n; ++i) {
    cv::Mat img(size, size, CV_8UC3);
    cv::randu(img, cv::Scalar(0, 0, 0), cv::Scalar(60, 60, 60));
    std::ofstream lab(root + "/labels/" + split + "/" + std::to_string(i) + ".txt");
    const int k = count(rng);
    for (int j = 0; j < k; ++j) {
      // Objects in separate horizontal bands so that they never overlap.
      const int band = size / k;
      std::uniform_int_distribution<int> wd(size / 6, size / 3);
      const int w = wd(rng), h = std::min(wd(rng), band - 4);
      std::uniform_int_distribution<int> xd(0, size - w - 1), yd(j * band + 1, j * band + band - h - 2);
      const int x = xd(rng), y = yd(rng), c = cls(rng);
      const cv::Scalar colour(col(rng), col(rng), col(rng));
      if (c == 0)
        cv::rectangle(img, cv::Rect(x, y, w, h), colour, cv::FILLED);
      else
        cv::ellipse(img, cv::Point(x + w / 2, y + h / 2), cv::Size(w / 2, h / 2), 0, 0, 360, colour, cv::FILLED);
      lab << c << " " << (x + w / 2.0) / size << " " << (y + h / 2.0) / size << " " << double(w) / size << " "
          << double(h) / size << "\n";
    }
    cv::imwrite(root + "/images/" + split + "/" + std::to_string(i) + ".png", img);
  }
}

// root/data.yaml with train and val splits; returns its path.
inline std::string write_shapes_dataset(const std::string& root, int n_train, int n_val, int size, unsigned seed,
                                        bool val_equals_train = false) {
  // cv::randu draws from OpenCV's global RNG: start it from its initial state, so a dataset's images
  // are the same whatever ran before in the process (as when its test runs alone under ctest).
  cv::theRNG() = cv::RNG();
  write_shapes_split(root, "train", n_train, size, seed);
  if (!val_equals_train) write_shapes_split(root, "val", n_val, size, seed + 1000);
  std::ofstream y(root + "/data.yaml");
  y << "path: " << root << "\ntrain: images/train\nval: images/" << (val_equals_train ? "train" : "val")
    << "\nnames: [rectangle, circle]\n";
  return root + "/data.yaml";
}

}  // namespace yolonas::test
