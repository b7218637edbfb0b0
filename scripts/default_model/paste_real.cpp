// Training-data preparation for scripts/train_default_model.sh (not part of the product):
//   paste_real LABELLED_DIR BACKGROUND_LIST OUT_DIR N IMGSZ SEED [MIN_SIZE]
// Copy-paste of real objects. Every box of the YOLO dataset LABELLED_DIR's train split (the
// teacher's pseudo-labels) whose long side is at least 24 px is cut out of its picture: GrabCut,
// started from the box, separates the object from its surroundings; where it fails (too little or
// almost all of the box kept) an ellipse inscribed in the box is used instead. The cut-outs are pasted,
// 1-4 per image, resized so that their long side is MIN_SIZE-100 % of the image's short side
// (log-uniform; MIN_SIZE 0.2 unless given), onto random
// crops of the object-free pictures in BACKGROUND_LIST. Classes are drawn with weight sqrt(boxes of the
// class), so the few real horses or giraffes are seen more often than their share. Writes N images
// OUT_DIR/images/train/paste_NNNNNN.jpg (long side IMGSZ) and their YOLO labels; a label box is the
// pasted teacher box, clipped to the image. An earlier object is not covered by more than 40 %.
// Prints what it wrote; exits non-zero on a missing input or an unwritable output.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Cutout {
  int cls = 0;
  bool grabcut = false;  // false: GrabCut failed, the ellipse is used
  cv::Mat bgr;    // the box with a margin, CV_8UC3
  cv::Mat alpha;  // CV_32F in 0..1, same size
  cv::Rect box;   // the teacher box inside bgr
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "paste_real: %s\n", msg.c_str());
  std::exit(1);
}

// The object inside `box` of `img` as a soft mask over the box plus a margin.
Cutout cut(const cv::Mat& img, const cv::Rect& box, int cls) {
  const int mx = std::max(2, box.width / 10), my = std::max(2, box.height / 10);
  const cv::Rect outer = cv::Rect(box.x - mx, box.y - my, box.width + 2 * mx, box.height + 2 * my) &
                         cv::Rect(0, 0, img.cols, img.rows);
  Cutout c;
  c.cls = cls;
  c.bgr = img(outer).clone();
  c.box = cv::Rect(box.x - outer.x, box.y - outer.y, box.width, box.height) & cv::Rect(0, 0, outer.width, outer.height);
  // GrabCut on at most 160 px (speed); the result is scaled back up.
  const double s = std::min(1.0, 160.0 / std::max(outer.width, outer.height));
  cv::Mat small;
  cv::resize(c.bgr, small, cv::Size(), s, s, cv::INTER_AREA);
  cv::Rect r(int(c.box.x * s), int(c.box.y * s), std::max(2, int(c.box.width * s)), std::max(2, int(c.box.height * s)));
  r &= cv::Rect(0, 0, small.cols, small.rows);
  cv::Mat mask(small.size(), CV_8U, cv::Scalar(cv::GC_BGD)), bg, fg;
  bool ok = r.width > 4 && r.height > 4 && r.area() < small.cols * small.rows;
  if (ok) {
    try {
      cv::grabCut(small, mask, r, bg, fg, 3, cv::GC_INIT_WITH_RECT);
    } catch (const cv::Exception&) {
      ok = false;
    }
  }
  cv::Mat fgm = (mask == cv::GC_FGD) | (mask == cv::GC_PR_FGD);
  const double kept = ok ? cv::countNonZero(fgm(r)) / double(r.area()) : 0.0;
  cv::Mat m(c.bgr.size(), CV_8U, cv::Scalar(0));
  if (ok && kept > 0.25 && kept < 0.97) {
    cv::resize(fgm, m, c.bgr.size(), 0, 0, cv::INTER_LINEAR);
    m = m > 127;
    const int d = std::max(1, std::min(c.box.width, c.box.height) / 25);  // keep thin parts (legs, tails)
    cv::dilate(m, m, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * d + 1, 2 * d + 1)));
    c.grabcut = true;
  } else {
    cv::ellipse(m, cv::Point(c.box.x + c.box.width / 2, c.box.y + c.box.height / 2),
                cv::Size(int(c.box.width * 0.55), int(c.box.height * 0.55)), 0, 0, 360, cv::Scalar(255), -1);
  }
  // Nothing outside the teacher box (plus 3 %) is pasted.
  cv::Mat inside(m.size(), CV_8U, cv::Scalar(0));
  const int ix = c.box.width * 3 / 100, iy = c.box.height * 3 / 100;
  cv::rectangle(inside, cv::Rect(c.box.x - ix, c.box.y - iy, c.box.width + 2 * ix, c.box.height + 2 * iy), cv::Scalar(255), -1);
  m &= inside;
  m.convertTo(c.alpha, CV_32F, 1.0 / 255);
  return c;
}

std::vector<std::string> read_lines(const std::string& file) {
  std::ifstream in(file);
  if (!in) die("cannot read '" + file + "'");
  std::vector<std::string> v;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) v.push_back(l);
  return v;
}

std::vector<Cutout> load_cutouts(const fs::path& dir) {
  std::vector<Cutout> all;
  const fs::path labels = dir / "labels/train", images = dir / "images/train";
  if (!fs::is_directory(labels)) die("no folder '" + labels.string() + "'");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(labels))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& lf : files) {
    const auto rows = read_lines(lf.string());
    if (rows.empty()) continue;
    const fs::path img_path = images / (lf.stem().string() + ".jpg");
    const cv::Mat img = cv::imread(img_path.string(), cv::IMREAD_COLOR);
    if (img.empty()) die("cannot read image '" + img_path.string() + "'");
    for (const auto& row : rows) {
      std::istringstream ss(row);
      int cls;
      double cx, cy, w, h;
      if (!(ss >> cls >> cx >> cy >> w >> h)) die(lf.string() + ": bad label line '" + row + "'");
      const cv::Rect box = cv::Rect(int((cx - w / 2) * img.cols), int((cy - h / 2) * img.rows), int(w * img.cols),
                                    int(h * img.rows)) & cv::Rect(0, 0, img.cols, img.rows);
      if (std::max(box.width, box.height) < 24 || std::min(box.width, box.height) < 8) continue;
      all.push_back(cut(img, box, cls));
    }
  }
  if (all.empty()) die("no box of 24 px or more in '" + dir.string() + "'");
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7 && argc != 8) die("usage: paste_real LABELLED_DIR BACKGROUND_LIST OUT_DIR N IMGSZ SEED [MIN_SIZE]");
  const double min_size = argc == 8 ? std::atof(argv[7]) : 0.2;
  if (!(min_size > 0.0 && min_size <= 1.0)) die(std::string("MIN_SIZE must be in (0, 1], got '") + argv[7] + "'");
  const fs::path out = argv[3];
  const int n = std::atoi(argv[4]), imgsz = std::atoi(argv[5]);
  std::mt19937 rng(unsigned(std::atoi(argv[6])));
  if (n <= 0 || imgsz < 64) die("N must be positive and IMGSZ at least 64");
  cv::setNumThreads(1);

  const auto cutouts = load_cutouts(argv[1]);
  std::vector<cv::Mat> backgrounds;
  for (const auto& f : read_lines(argv[2])) {
    cv::Mat b = cv::imread(f, cv::IMREAD_COLOR);
    if (b.empty()) die("cannot read background '" + f + "'");
    const double s = std::min(1.0, 2.0 * imgsz / std::max(b.cols, b.rows));
    if (s < 1.0) cv::resize(b, b, cv::Size(), s, s, cv::INTER_AREA);
    backgrounds.push_back(b);
  }
  if (backgrounds.empty()) die(std::string("no background in '") + argv[2] + "'");

  std::map<int, std::vector<int>> by_class;
  for (size_t i = 0; i < cutouts.size(); ++i) by_class[cutouts[i].cls].push_back(int(i));
  std::vector<int> classes;
  std::vector<double> weights;
  for (const auto& [k, v] : by_class) {
    classes.push_back(k);
    weights.push_back(std::sqrt(double(v.size())));
  }
  std::discrete_distribution<int> pick_class(weights.begin(), weights.end());
  std::uniform_real_distribution<double> u(0.0, 1.0);

  fs::create_directories(out / "images/train");
  fs::create_directories(out / "labels/train");
  std::map<int, int> pasted;
  for (int i = 0; i < n; ++i) {
    // Canvas: square, 4:3 or 3:4.
    const double shape = u(rng);
    const int W = shape < 0.2 ? imgsz * 3 / 4 : imgsz, H = shape >= 0.2 && shape < 0.45 ? imgsz * 3 / 4 : imgsz;
    const cv::Mat& bsrc = backgrounds[rng() % backgrounds.size()];
    const double area = 0.4 + 0.6 * u(rng);
    double cw = std::sqrt(area * bsrc.cols * bsrc.rows * W / H), ch = cw * H / W;
    const double fit = std::min({1.0, bsrc.cols / cw, bsrc.rows / ch});
    cw *= fit;
    ch *= fit;
    const cv::Rect crop(int(u(rng) * (bsrc.cols - cw)), int(u(rng) * (bsrc.rows - ch)), std::max(1, int(cw)),
                        std::max(1, int(ch)));
    cv::Mat canvas;
    cv::resize(bsrc(crop & cv::Rect(0, 0, bsrc.cols, bsrc.rows)), canvas, cv::Size(W, H), 0, 0, cv::INTER_AREA);
    if (u(rng) < 0.5) cv::flip(canvas, canvas, 1);
    cv::Mat canvas_f;
    canvas.convertTo(canvas_f, CV_32FC3);
    const cv::Scalar bg_mean = cv::mean(canvas);

    const double k_draw = u(rng);
    const int k = k_draw < 0.35 ? 1 : k_draw < 0.65 ? 2 : k_draw < 0.85 ? 3 : 4;
    std::vector<std::pair<int, cv::Rect>> boxes;  // class, box in canvas
    for (int o = 0; o < k; ++o) {
      const auto& members = by_class[classes[pick_class(rng)]];
      const Cutout& c = cutouts[members[rng() % members.size()]];
      // Long side of the teacher box: MIN_SIZE-100 % of the short side (log-uniform), at most 4x enlarged.
      const double want = std::exp(std::log(min_size) - u(rng) * std::log(min_size)) * std::min(W, H);
      const double s = std::min(want / std::max(c.box.width, c.box.height), 4.0);
      cv::Mat obj, alpha;
      const int ow = std::max(1, int(c.bgr.cols * s)), oh = std::max(1, int(c.bgr.rows * s));
      cv::resize(c.bgr, obj, cv::Size(ow, oh), 0, 0, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
      cv::resize(c.alpha, alpha, cv::Size(ow, oh), 0, 0, cv::INTER_LINEAR);
      const double sigma = 0.6 + 0.9 * u(rng);
      cv::GaussianBlur(alpha, alpha, cv::Size(0, 0), sigma);
      cv::Rect b(int(c.box.x * s), int(c.box.y * s), std::max(1, int(c.box.width * s)), std::max(1, int(c.box.height * s)));
      const bool flip = u(rng) < 0.5;
      if (flip) {
        cv::flip(obj, obj, 1);
        cv::flip(alpha, alpha, 1);
        b.x = ow - b.x - b.width;
      }
      // Place: the box centre inside the image, at least 60 % of the box inside, earlier boxes covered
      // by at most 40 %; up to 15 tries.
      bool placed = false;
      cv::Point at;
      cv::Rect inimg;
      for (int t = 0; t < 15 && !placed; ++t) {
        const int bx = int(u(rng) * W) - b.width / 2, by = int(u(rng) * H) - b.height / 2;
        const cv::Rect nb(bx, by, b.width, b.height);
        inimg = nb & cv::Rect(0, 0, W, H);
        if (inimg.area() < 0.6 * nb.area()) continue;
        bool ok = true;
        for (const auto& [_, e] : boxes)
          if ((e & nb).area() > 0.4 * e.area() || (e & nb).area() > 0.6 * nb.area()) ok = false;
        if (!ok) continue;
        at = cv::Point(bx - b.x, by - b.y);
        placed = true;
      }
      if (!placed) continue;
      // Colour: pulled part of the way toward the background's mean, plus a brightness change.
      const cv::Scalar om = cv::mean(obj, alpha > 0.5);
      const double t = 0.3 * u(rng), gain = 0.8 + 0.4 * u(rng);
      cv::Mat objf;
      obj.convertTo(objf, CV_32FC3);
      std::vector<cv::Mat> ch3;
      cv::split(objf, ch3);
      for (int q = 0; q < 3; ++q) {
        const double g = std::clamp(std::pow((bg_mean[q] + 1) / (om[q] + 1), t), 0.6, 1.6) * gain;
        ch3[q] *= g;
      }
      cv::merge(ch3, objf);
      // Composite.
      const cv::Rect dst = cv::Rect(at.x, at.y, ow, oh) & cv::Rect(0, 0, W, H);
      if (dst.area() <= 0) continue;
      const cv::Rect src(dst.x - at.x, dst.y - at.y, dst.width, dst.height);
      for (int y = 0; y < dst.height; ++y) {
        auto* cp = canvas_f.ptr<cv::Vec3f>(dst.y + y) + dst.x;
        const auto* op = objf.ptr<cv::Vec3f>(src.y + y) + src.x;
        const float* ap = alpha.ptr<float>(src.y + y) + src.x;
        for (int x = 0; x < dst.width; ++x) cp[x] = cp[x] * (1.f - ap[x]) + op[x] * ap[x];
      }
      boxes.emplace_back(c.cls, inimg);
      ++pasted[c.cls];
    }
    // Whole image: sometimes sensor noise or a light blur, as photos have.
    if (u(rng) < 0.3) {
      cv::Mat noise(canvas_f.size(), CV_32FC3);
      cv::randn(noise, 0, 2 + 4 * u(rng));
      canvas_f += noise;
    }
    canvas_f.convertTo(canvas, CV_8UC3);
    if (u(rng) < 0.2) cv::GaussianBlur(canvas, canvas, cv::Size(3, 3), 0);
    char name[64];
    std::snprintf(name, sizeof name, "paste_%06d", i);
    const fs::path img_file = out / "images/train" / (std::string(name) + ".jpg");
    if (!cv::imwrite(img_file.string(), canvas, {cv::IMWRITE_JPEG_QUALITY, int(60 + 35 * u(rng))}))
      die("cannot write '" + img_file.string() + "'");
    std::ofstream lab(out / "labels/train" / (std::string(name) + ".txt"));
    for (const auto& [cls, r] : boxes) {
      char line[128];
      std::snprintf(line, sizeof line, "%d %.6f %.6f %.6f %.6f\n", cls, (r.x + r.width / 2.0) / W,
                    (r.y + r.height / 2.0) / H, double(r.width) / W, double(r.height) / H);
      lab << line;
    }
    if (!lab) die("cannot write the label of '" + img_file.string() + "'");
  }
  const auto cut_ok = std::count_if(cutouts.begin(), cutouts.end(), [](const Cutout& c) { return c.grabcut; });
  std::printf("paste_real: %zu cut-outs (%zd by GrabCut, the rest ellipses) of %zu classes, %zu backgrounds -> %d images in %s\n",
              cutouts.size(), cut_ok, by_class.size(), backgrounds.size(), n, out.string().c_str());
  for (const auto& [cls, cnt] : pasted)
    std::printf("  class %2d: %zu cut-outs, pasted %d times\n", cls, by_class[cls].size(), cnt);
  return 0;
}
