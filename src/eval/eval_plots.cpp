// Per-class table, P/R/F1 curves, confusion matrix and their PNG plots. See eval_plots.h.
#include "yolonas/eval/eval_plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "yolonas/core/error.h"

namespace yolonas {

// ---------------------------------------------------------------------------------------------
// P / R / F1 curves
// ---------------------------------------------------------------------------------------------

namespace {

constexpr double kEps = 1e-16;

// numpy.interp for increasing xp (duplicates allowed): fp at the last xp[j] <= x, linear up to the
// next larger xp; `left` below xp[0], fp.back() from xp.back() on.
double interp(double x, const std::vector<double>& xp, const std::vector<double>& fp, double left) {
  if (xp.empty()) return left;
  if (x < xp.front()) return left;
  if (x >= xp.back()) return fp.back();
  const size_t j = static_cast<size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
  const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  return fp[j] + slope * (x - xp[j]);
}

// Ultralytics' smooth(): box filter of width ~2*f*n (odd), edges padded with the end values.
std::vector<double> box_smooth(const std::vector<double>& y, double f) {
  const int n = static_cast<int>(y.size());
  const int nf = static_cast<int>(std::lround(n * f * 2)) / 2 + 1;
  const int half = nf / 2;
  std::vector<double> out(y.size());
  for (int i = 0; i < n; ++i) {
    double s = 0;
    for (int j = i - half; j <= i + half; ++j) s += y[static_cast<size_t>(std::clamp(j, 0, n - 1))];
    out[static_cast<size_t>(i)] = s / nf;
  }
  return out;
}

}  // namespace

PrfCurves compute_prf_curves(const CocoEvalResult& res, int points) {
  PrfCurves c;
  c.conf.resize(static_cast<size_t>(points));
  for (int i = 0; i < points; ++i) c.conf[static_cast<size_t>(i)] = points > 1 ? double(i) / (points - 1) : 0.0;
  for (size_t k = 0; k < res.matches50.size(); ++k) {
    const ClassMatches& m = res.matches50[k];
    if (m.num_gt == 0) continue;
    // Cumulative TP / FP in descending-score order; xp = -score is increasing.
    const size_t n = m.scores.size();
    std::vector<double> xp(n), rec(n), prec(n);
    double tp = 0, fp = 0;
    for (size_t i = 0; i < n; ++i) {
      tp += m.tp[i];
      fp += !m.tp[i];
      xp[i] = -m.scores[i];
      rec[i] = tp / (m.num_gt + kEps);
      prec[i] = tp / (tp + fp);
    }
    // A class with ground truth and no detection has P = R = F1 = 0 everywhere (Ultralytics' ap_per_class
    // skips it, leaving zeros); interpolating an empty curve would give precision 1.
    std::vector<double> pk(c.conf.size()), rk(c.conf.size()), fk(c.conf.size());
    for (size_t g = 0; g < c.conf.size() && n > 0; ++g) {
      rk[g] = interp(-c.conf[g], xp, rec, 0.0);
      pk[g] = interp(-c.conf[g], xp, prec, 1.0);
      fk[g] = 2 * pk[g] * rk[g] / (pk[g] + rk[g] + kEps);
    }
    c.classes.push_back(static_cast<int>(k));
    c.p.push_back(std::move(pk));
    c.r.push_back(std::move(rk));
    c.f1.push_back(std::move(fk));
  }
  if (c.classes.empty()) return c;
  std::vector<double> mean_f1(c.conf.size(), 0.0);
  for (const auto& f : c.f1)
    for (size_t g = 0; g < f.size(); ++g) mean_f1[g] += f[g] / static_cast<double>(c.f1.size());
  const std::vector<double> smoothed = box_smooth(mean_f1, 0.1);
  c.best_index = static_cast<int>(std::max_element(smoothed.begin(), smoothed.end()) - smoothed.begin());
  c.best_conf = c.conf[static_cast<size_t>(c.best_index)];
  for (size_t i = 0; i < c.classes.size(); ++i) {
    const size_t b = static_cast<size_t>(c.best_index);
    c.best_p.push_back(c.p[i][b]);
    c.best_r.push_back(c.r[i][b]);
    c.best_f1.push_back(c.f1[i][b]);
    c.mean_p += c.p[i][b] / static_cast<double>(c.classes.size());
    c.mean_r += c.r[i][b] / static_cast<double>(c.classes.size());
    c.mean_f1 += c.f1[i][b] / static_cast<double>(c.classes.size());
  }
  return c;
}

std::string format_class_table(const CocoEvalResult& res, const PrfCurves& curves, int num_images) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%22s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "P", "R", "mAP50",
                "mAP50-95");
  out += buf;
  long instances = 0;
  for (int n : res.class_num_gt) instances += n;
  std::snprintf(buf, sizeof buf, "%22s%11d%11ld%11.3g%11.3g%11.3g%11.3g\n", "all", num_images, instances,
                curves.mean_p, curves.mean_r, std::max(res.stats[1], 0.0), std::max(res.stats[0], 0.0));
  out += buf;
  for (size_t i = 0; i < curves.classes.size(); ++i) {
    const size_t k = static_cast<size_t>(curves.classes[i]);
    std::string name = res.names[k];
    if (name.size() > 21) name = name.substr(0, 21);
    std::snprintf(buf, sizeof buf, "%22s%11d%11d%11.3g%11.3g%11.3g%11.3g\n", name.c_str(), res.class_num_images[k],
                  res.class_num_gt[k], curves.best_p[i], curves.best_r[i], res.class_ap50[k], res.class_ap[k]);
    out += buf;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Confusion matrix
// ---------------------------------------------------------------------------------------------

ConfusionMatrix::ConfusionMatrix(int num_classes, double conf, double iou)
    : nc_(num_classes), conf_(conf), iou_(iou), m_(static_cast<size_t>(num_classes + 1) * (num_classes + 1), 0) {}

namespace {

double box_iou_xyxy(const ConfusionMatrix::Box& a, const ConfusionMatrix::Box& b) {
  const double w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const double h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const double inter = w * h;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

}  // namespace

void ConfusionMatrix::add_image(const std::vector<Box>& gt, const std::vector<Box>& all_dets) {
  std::vector<Box> dets;
  for (const Box& d : all_dets)
    if (d.score > conf_ && d.cls >= 0 && d.cls < nc_) dets.push_back(d);
  auto cell = [&](int pred, int truth) -> int64_t& { return m_[static_cast<size_t>(pred) * (nc_ + 1) + truth]; };

  // Candidate pairs above the IoU threshold, highest IoU first; keep one per detection, then one per gt.
  struct Pair {
    size_t g, d;
    double iou;
  };
  std::vector<Pair> pairs;
  for (size_t g = 0; g < gt.size(); ++g)
    for (size_t d = 0; d < dets.size(); ++d) {
      const double iou = box_iou_xyxy(gt[g], dets[d]);
      if (iou > iou_) pairs.push_back({g, d, iou});
    }
  std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.iou > b.iou; });
  std::vector<uint8_t> det_used(dets.size(), 0), gt_used(gt.size(), 0);
  std::vector<long> match_of_gt(gt.size(), -1);
  std::vector<Pair> per_det;
  for (const Pair& p : pairs)
    if (!det_used[p.d]) det_used[p.d] = 1, per_det.push_back(p);
  std::fill(det_used.begin(), det_used.end(), 0);
  for (const Pair& p : per_det)  // still in descending IoU order
    if (!gt_used[p.g]) {
      gt_used[p.g] = 1;
      det_used[p.d] = 1;
      match_of_gt[p.g] = static_cast<long>(p.d);
    }
  for (size_t g = 0; g < gt.size(); ++g) {
    if (gt[g].cls < 0 || gt[g].cls >= nc_) continue;
    if (match_of_gt[g] >= 0)
      ++cell(dets[static_cast<size_t>(match_of_gt[g])].cls, gt[g].cls);
    else
      ++cell(nc_, gt[g].cls);  // missed: background predicted
  }
  for (size_t d = 0; d < dets.size(); ++d)
    if (!det_used[d]) ++cell(dets[d].cls, nc_);  // nothing there: background is the truth
}

void ConfusionMatrix::add_coco(const CocoDataset& gt, const std::vector<CocoDetection>& dets) {
  std::vector<std::vector<Box>> g(gt.images.size()), d(gt.images.size());
  for (const CocoAnnotation& a : gt.annotations) {
    if (a.iscrowd) continue;
    const long i = gt.image_index(a.image_id);
    if (i < 0) continue;
    g[static_cast<size_t>(i)].push_back(
        {a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3], gt.class_index(a.category_id), 1.0});
  }
  for (const CocoDetection& x : dets) {
    const long i = gt.image_index(x.image_id);
    if (i < 0) continue;
    d[static_cast<size_t>(i)].push_back(
        {x.bbox[0], x.bbox[1], x.bbox[0] + x.bbox[2], x.bbox[1] + x.bbox[3], gt.class_index(x.category_id), x.score});
  }
  for (size_t i = 0; i < g.size(); ++i) add_image(g[i], d[i]);
}

std::vector<int64_t> ConfusionMatrix::true_positives() const {
  std::vector<int64_t> tp(static_cast<size_t>(nc_));
  for (int k = 0; k < nc_; ++k) tp[static_cast<size_t>(k)] = at(k, k);
  return tp;
}

std::vector<int64_t> ConfusionMatrix::false_positives() const {
  std::vector<int64_t> fp(static_cast<size_t>(nc_), 0);
  for (int k = 0; k < nc_; ++k)
    for (int t = 0; t <= nc_; ++t)
      if (t != k) fp[static_cast<size_t>(k)] += at(k, t);
  return fp;
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

namespace {

const cv::Scalar kBlack(0, 0, 0), kGrid(225, 225, 225), kWhite(255, 255, 255), kMeanBlue(180, 119, 31);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

// matplotlib's tab20-like palette (BGR), for per-class lines.
cv::Scalar palette_color(size_t i) {
  static const cv::Scalar kPalette[] = {
      {180, 119, 31},  {14, 127, 255},  {44, 160, 44},   {40, 39, 214},   {189, 103, 148}, {75, 86, 140},
      {194, 119, 227}, {127, 127, 127}, {34, 189, 188},  {207, 190, 23},  {232, 199, 174}, {120, 187, 255},
      {138, 223, 152}, {150, 152, 255}, {213, 176, 197}, {148, 156, 196}, {210, 182, 247}, {199, 199, 199},
      {141, 219, 219}, {229, 218, 158}};
  return kPalette[i % (sizeof kPalette / sizeof kPalette[0])];
}

void put_text(cv::Mat& img, const std::string& text, cv::Point org, double scale, const cv::Scalar& color,
              int thickness = 1) {
  cv::putText(img, text, org, kFont, scale, color, thickness, cv::LINE_AA);
}

cv::Size text_size(const std::string& text, double scale, int thickness = 1) {
  int baseline = 0;
  return cv::getTextSize(text, kFont, scale, thickness, &baseline);
}

// Text rotated 90 degrees counter-clockwise, its centre at `center`.
void put_text_vertical(cv::Mat& img, const std::string& text, cv::Point center, double scale, int thickness = 1) {
  const cv::Size ts = text_size(text, scale, thickness);
  cv::Mat tile(ts.height + 12, ts.width + 4, CV_8UC3, kWhite);
  put_text(tile, text, {2, ts.height + 4}, scale, kBlack, thickness);
  cv::Mat rotated;
  cv::rotate(tile, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
  cv::Rect roi(center.x - rotated.cols / 2, center.y - rotated.rows / 2, rotated.cols, rotated.rows);
  roi &= cv::Rect(0, 0, img.cols, img.rows);
  rotated(cv::Rect(0, 0, roi.width, roi.height)).copyTo(img(roi));
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

void write_png(const std::string& path, const cv::Mat& img) {
  bool ok = false;
  try {
    ok = cv::imwrite(path, img);
  } catch (const cv::Exception& e) {
    throw Error("cannot write '" + path + "': " + e.what());
  }
  if (!ok) throw Error("cannot write '" + path + "'");
}

// A line chart on [0,1] x [0,1]: white canvas, grid, ticks every 0.2 (minor grid 0.1), labels, title.
class Chart {
 public:
  Chart(const std::string& title, const std::string& xlabel, const std::string& ylabel)
      : img_(1100, 1500, CV_8UC3, kWhite), area_(130, 80, 1500 - 130 - 460, 1100 - 80 - 120) {
    for (int i = 0; i <= 10; ++i) {
      const double v = i / 10.0;
      cv::line(img_, px(v, 0), px(v, 1), kGrid, 1, cv::LINE_AA);
      cv::line(img_, px(0, v), px(1, v), kGrid, 1, cv::LINE_AA);
      if (i % 2 == 0) {
        const std::string label = fmt("%.1f", v);
        const cv::Size ts = text_size(label, 0.7);
        put_text(img_, label, px(v, 0) + cv::Point(-ts.width / 2, 12 + ts.height), 0.7, kBlack);
        put_text(img_, label, px(0, v) + cv::Point(-ts.width - 14, ts.height / 2), 0.7, kBlack);
        cv::line(img_, px(v, 0), px(v, 0) + cv::Point(0, 8), kBlack, 2);
        cv::line(img_, px(0, v), px(0, v) - cv::Point(8, 0), kBlack, 2);
      }
    }
    cv::rectangle(img_, area_, kBlack, 2);
    const cv::Size tt = text_size(title, 1.0, 2);
    put_text(img_, title, {area_.x + area_.width / 2 - tt.width / 2, 50}, 1.0, kBlack, 2);
    const cv::Size xs = text_size(xlabel, 0.9, 2);
    put_text(img_, xlabel, {area_.x + area_.width / 2 - xs.width / 2, area_.br().y + 85}, 0.9, kBlack, 2);
    put_text_vertical(img_, ylabel, {40, area_.y + area_.height / 2}, 0.9, 2);
  }

  cv::Point px(double x, double y) const {
    return {area_.x + static_cast<int>(std::lround(std::clamp(x, 0.0, 1.0) * area_.width)),
            area_.y + static_cast<int>(std::lround((1.0 - std::clamp(y, 0.0, 1.0)) * area_.height))};
  }

  void plot(const std::vector<double>& xs, const std::vector<double>& ys, const cv::Scalar& color, int thickness) {
    std::vector<cv::Point> pts;
    for (size_t i = 0; i < xs.size() && i < ys.size(); ++i) pts.push_back(px(xs[i], ys[i]));
    if (pts.size() > 1) cv::polylines(img_, pts, false, color, thickness, cv::LINE_AA);
  }

  void dashed_vertical(double x) {
    const cv::Point top = px(x, 1.0), bottom = px(x, 0.0);
    for (int y = top.y; y < bottom.y; y += 16) cv::line(img_, {top.x, y}, {top.x, std::min(y + 8, bottom.y)}, kBlack, 1);
  }

  void add_legend(const std::string& text, const cv::Scalar& color, int thickness) {
    legend_.push_back({text, color, thickness});
  }

  // Legend to the right of the plot area (long class lists are cut with a "+N more" line).
  void draw_legend() {
    const int x = area_.br().x + 25, line_h = 30, max_lines = area_.height / line_h;
    int y = area_.y + 20;
    for (size_t i = 0; i < legend_.size(); ++i) {
      if (static_cast<int>(i) == max_lines - 1 && legend_.size() > static_cast<size_t>(max_lines)) {
        put_text(img_, "+" + std::to_string(legend_.size() - i) + " more", {x, y + 6}, 0.6, kBlack);
        break;
      }
      const Entry& e = legend_[i];
      cv::line(img_, {x, y}, {x + 40, y}, e.color, std::max(e.thickness, 2), cv::LINE_AA);
      std::string text = e.text;
      if (text.size() > 30) text = text.substr(0, 29) + "~";
      put_text(img_, text, {x + 50, y + 7}, 0.6, kBlack, e.thickness > 2 ? 2 : 1);
      y += line_h;
    }
  }

  const cv::Mat& image() const { return img_; }

 private:
  struct Entry {
    std::string text;
    cv::Scalar color;
    int thickness;
  };
  cv::Mat img_;
  cv::Rect area_;
  std::vector<Entry> legend_;
};

}  // namespace

void save_pr_curve_png(const std::string& path, const CocoEvalResult& res) {
  Chart chart("Precision-Recall curve (IoU=0.50, COCO 101-point)", "Recall", "Precision");
  const auto& p = res.params;
  long t50 = -1;
  for (size_t t = 0; t < p.iou_thrs.size(); ++t)
    if (p.iou_thrs[t] == 0.5) t50 = static_cast<long>(t);
  if (t50 < 0) throw Error("save_pr_curve_png: IoU 0.50 is not an evaluation threshold");
  const int M = static_cast<int>(p.max_dets.size()) - 1, R = static_cast<int>(p.rec_thrs.size());
  const size_t K = res.cat_ids.size();
  std::vector<double> mean(static_cast<size_t>(R), 0.0);
  int counted = 0;
  const bool per_class_legend =
      std::count_if(res.class_ap50.begin(), res.class_ap50.end(), [](double ap) { return ap >= 0; }) <= 20;
  for (size_t k = 0; k < K; ++k) {
    if (res.class_ap50[k] < 0) continue;  // no ground truth
    std::vector<double> ys(static_cast<size_t>(R));
    for (int r = 0; r < R; ++r) ys[static_cast<size_t>(r)] = res.precision_at((int)t50, r, (int)k, 0, M);
    for (int r = 0; r < R; ++r) mean[static_cast<size_t>(r)] += ys[static_cast<size_t>(r)];
    ++counted;
    const cv::Scalar color = per_class_legend ? palette_color(k) : cv::Scalar(160, 160, 160);
    chart.plot(p.rec_thrs, ys, color, 2);
    if (per_class_legend) chart.add_legend(res.names[k] + " " + fmt("%.3f", res.class_ap50[k]), color, 1);
  }
  if (counted > 0) {
    for (double& v : mean) v /= counted;
    chart.plot(p.rec_thrs, mean, kMeanBlue, 4);
    chart.add_legend("all classes " + fmt("%.3f", res.stats[1]) + " mAP50", kMeanBlue, 4);
  }
  chart.draw_legend();
  write_png(path, chart.image());
}

void save_conf_curve_png(const std::string& path, const PrfCurves& c, const std::vector<std::string>& names,
                         CurveKind kind) {
  const char* what = kind == CurveKind::F1 ? "F1" : kind == CurveKind::Precision ? "Precision" : "Recall";
  Chart chart(std::string(what) + "-Confidence curve (IoU=0.50)", "Confidence", what);
  const auto& series = kind == CurveKind::F1 ? c.f1 : kind == CurveKind::Precision ? c.p : c.r;
  const bool per_class_legend = c.classes.size() <= 20;
  std::vector<double> mean(c.conf.size(), 0.0);
  for (size_t i = 0; i < series.size(); ++i) {
    const size_t k = static_cast<size_t>(c.classes[i]);
    const cv::Scalar color = per_class_legend ? palette_color(k) : cv::Scalar(160, 160, 160);
    chart.plot(c.conf, series[i], color, 2);
    if (per_class_legend) chart.add_legend(k < names.size() ? names[k] : std::to_string(k), color, 1);
    for (size_t g = 0; g < mean.size(); ++g) mean[g] += series[i][g] / static_cast<double>(series.size());
  }
  if (!series.empty()) {
    chart.plot(c.conf, mean, kMeanBlue, 4);
    const double at_best = mean[static_cast<size_t>(c.best_index)];
    chart.add_legend("all classes " + fmt("%.2f", at_best) + " at " + fmt("%.3f", c.best_conf), kMeanBlue, 4);
    chart.dashed_vertical(c.best_conf);  // where the table's P and R are read
  }
  chart.draw_legend();
  write_png(path, chart.image());
}

void save_confusion_matrix_png(const std::string& path, const ConfusionMatrix& cm,
                               const std::vector<std::string>& names, bool normalize) {
  const int n = cm.num_classes() + 1;
  const int cell = std::clamp(1100 / n, 12, 70);
  std::vector<std::string> labels;
  for (int k = 0; k + 1 < n; ++k) labels.push_back(static_cast<size_t>(k) < names.size() ? names[static_cast<size_t>(k)] : std::to_string(k));
  labels.push_back("background");
  const double label_scale = std::clamp(cell / 45.0, 0.35, 0.6);
  int label_w = 0;
  for (const auto& l : labels) label_w = std::max(label_w, text_size(l, label_scale).width);
  const int left = label_w + 90, top = 90, bottom = label_w + 90, right = 180;
  cv::Mat img(top + n * cell + bottom, left + n * cell + right, CV_8UC3, kWhite);

  // Column sums (per true class) for normalization, as Ultralytics normalizes.
  std::vector<double> col_sum(static_cast<size_t>(n), 0.0);
  double vmax = 0;
  for (int t = 0; t < n; ++t)
    for (int p = 0; p < n; ++p) col_sum[static_cast<size_t>(t)] += static_cast<double>(cm.at(p, t));
  auto value = [&](int p, int t) {
    const double v = static_cast<double>(cm.at(p, t));
    return normalize ? (col_sum[static_cast<size_t>(t)] > 0 ? v / col_sum[static_cast<size_t>(t)] : 0.0) : v;
  };
  for (int t = 0; t < n; ++t)
    for (int p = 0; p < n; ++p) vmax = std::max(vmax, value(p, t));
  if (vmax <= 0) vmax = 1;

  // White -> dark blue ramp (matplotlib "Blues"-like).
  auto blues = [](double f) {
    f = std::clamp(f, 0.0, 1.0);
    return cv::Scalar(255 - 148 * f, 251 - 203 * f, 247 - 239 * f);
  };
  const bool annotate = n <= 31;
  for (int p = 0; p < n; ++p)
    for (int t = 0; t < n; ++t) {
      const double v = value(p, t);
      const double f = v / vmax;
      cv::Rect r(left + t * cell, top + p * cell, cell, cell);
      cv::rectangle(img, r, blues(f), cv::FILLED);
      if (annotate && v > 0) {
        const std::string s = normalize ? fmt("%.2f", v) : fmt("%.0f", v);
        const double sc = std::clamp(cell / 80.0, 0.3, 0.55);
        const cv::Size ts = text_size(s, sc);
        put_text(img, s, {r.x + (cell - ts.width) / 2, r.y + (cell + ts.height) / 2}, sc, f > 0.5 ? kWhite : kBlack);
      }
    }
  cv::rectangle(img, cv::Rect(left, top, n * cell, n * cell), kBlack, 1);
  for (int i = 0; i < n; ++i) {
    const cv::Size ts = text_size(labels[static_cast<size_t>(i)], label_scale);
    put_text(img, labels[static_cast<size_t>(i)], {left - ts.width - 8, top + i * cell + (cell + ts.height) / 2},
             label_scale, kBlack);
    put_text_vertical(img, labels[static_cast<size_t>(i)],
                      {left + i * cell + cell / 2, top + n * cell + 10 + ts.width / 2}, label_scale);
  }
  const std::string title = normalize ? "Confusion matrix (normalized per true class)" : "Confusion matrix";
  const cv::Size tt = text_size(title, 0.9, 2);
  put_text(img, title, {left + n * cell / 2 - tt.width / 2, 50}, 0.9, kBlack, 2);
  const cv::Size xs = text_size("True", 0.8, 2);
  put_text(img, "True", {left + n * cell / 2 - xs.width / 2, img.rows - 25}, 0.8, kBlack, 2);
  put_text_vertical(img, "Predicted", {30, top + n * cell / 2}, 0.8, 2);

  // Colour bar.
  const int bx = left + n * cell + 40, bh = n * cell;
  for (int y = 0; y < bh; ++y) cv::line(img, {bx, top + y}, {bx + 30, top + y}, blues(1.0 - double(y) / bh));
  cv::rectangle(img, cv::Rect(bx, top, 30, bh), kBlack, 1);
  put_text(img, normalize ? fmt("%.2f", vmax) : fmt("%.0f", vmax), {bx + 36, top + 12}, 0.5, kBlack);
  put_text(img, "0", {bx + 36, top + bh}, 0.5, kBlack);
  write_png(path, img);
}

}  // namespace yolonas
