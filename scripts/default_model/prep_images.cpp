// Training-data preparation for scripts/train_default_model.sh (not part of the product):
//   prep_images images LIST OUT_DIR MIN_SIDE MAX_SIDE
//       every readable image named in LIST (one path per line; jpg/png/webp/...) is written as
//       OUT_DIR/<flattened path>.jpg, long side reduced to MAX_SIDE; images whose short side is under
//       MIN_SIDE, and exact duplicates of an earlier image (same 16x16 thumbnail), are skipped.
//   prep_images frames VIDEO OUT_DIR PREFIX STRIDE MIN_DIFF MAX_FRAMES
//       every STRIDE-th frame as OUT_DIR/PREFIX_NNNNNN.jpg, skipping frames whose 32x32 thumbnail
//       differs from the last written one by less than MIN_DIFF (mean absolute grey level).
// Prints what it wrote; exits non-zero on a missing input or an unwritable output.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace {

bool write_jpeg(const std::string& path, const cv::Mat& img) {
  return cv::imwrite(path, img, {cv::IMWRITE_JPEG_QUALITY, 92});
}

std::string flatten(std::string p) {
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  for (char& c : p)
    if (c == '/' || c == ' ') c = '_';
  const auto dot = p.rfind('.');
  return dot == std::string::npos ? p : p.substr(0, dot);
}

int images(const char* list, const std::string& out, int min_side, int max_side) {
  std::ifstream in(list);
  if (!in) {
    std::fprintf(stderr, "prep_images: cannot read list '%s'\n", list);
    return 1;
  }
  std::set<std::string> seen;
  std::string path;
  int written = 0, skipped = 0;
  while (std::getline(in, path)) {
    if (path.empty()) continue;
    cv::Mat img = cv::imread(path, cv::IMREAD_COLOR);
    if (img.empty() || std::min(img.cols, img.rows) < min_side) {
      ++skipped;
      continue;
    }
    cv::Mat thumb;
    cv::resize(img, thumb, cv::Size(16, 16), 0, 0, cv::INTER_AREA);
    const std::string key(reinterpret_cast<const char*>(thumb.data), thumb.total() * thumb.elemSize());
    if (!seen.insert(key).second) {
      ++skipped;
      continue;
    }
    const int side = std::max(img.cols, img.rows);
    if (side > max_side) {
      const double f = static_cast<double>(max_side) / side;
      cv::resize(img, img, cv::Size(std::max(1, int(img.cols * f + 0.5)), std::max(1, int(img.rows * f + 0.5))), 0, 0,
                 cv::INTER_AREA);
    }
    if (!write_jpeg(out + "/" + flatten(path) + ".jpg", img)) {
      std::fprintf(stderr, "prep_images: cannot write into '%s'\n", out.c_str());
      return 1;
    }
    ++written;
  }
  std::printf("%s: %d images written, %d skipped (unreadable, small or duplicate)\n", list, written, skipped);
  return 0;
}

int frames(const char* video, const std::string& out, const std::string& prefix, int stride, double min_diff,
           int max_frames) {
  cv::VideoCapture cap(video);
  if (!cap.isOpened()) {
    std::fprintf(stderr, "prep_images: cannot open video '%s'\n", video);
    return 1;
  }
  cv::Mat frame, grey, thumb, last;
  int index = 0, written = 0;
  while (written < max_frames && cap.read(frame)) {
    if (index++ % stride != 0 || frame.empty()) continue;
    cv::cvtColor(frame, grey, cv::COLOR_BGR2GRAY);
    cv::resize(grey, thumb, cv::Size(32, 32), 0, 0, cv::INTER_AREA);
    thumb.convertTo(thumb, CV_32F);
    if (!last.empty() && cv::mean(cv::abs(thumb - last))[0] < min_diff) continue;
    last = thumb.clone();
    char name[32];
    std::snprintf(name, sizeof name, "_%06d.jpg", index - 1);
    if (!write_jpeg(out + "/" + prefix + name, frame)) {
      std::fprintf(stderr, "prep_images: cannot write into '%s'\n", out.c_str());
      return 1;
    }
    ++written;
  }
  std::printf("%s: %d frames written\n", video, written);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "images" && argc == 6) return images(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
  if (mode == "frames" && argc == 8)
    return frames(argv[2], argv[3], argv[4], std::max(1, std::atoi(argv[5])), std::atof(argv[6]), std::atoi(argv[7]));
  std::fprintf(stderr,
               "usage: prep_images images LIST OUT_DIR MIN_SIDE MAX_SIDE\n"
               "       prep_images frames VIDEO OUT_DIR PREFIX STRIDE MIN_DIFF MAX_FRAMES\n");
  return 2;
}
