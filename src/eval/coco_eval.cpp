// pycocotools-exact bbox COCOeval. See coco_eval.h.
//
// Layout of the pycocotools part:
//   index_buckets()      groups gt and detections per (category, image), keeping file order;
//   evaluate_bucket()    = COCOeval.computeIoU + evaluateImg for every area range of one bucket;
//   accumulate_class()   = COCOeval.accumulate for one category;
//   summarize_stats()    = COCOeval.summarize (the 12 stats).
// Arithmetic follows the Python/C originals operation by operation (same order of additions, same
// comparisons), because "the same numbers pycocotools prints" includes the last digit.
#include "yolonas/eval/coco_eval.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "yolonas/core/error.h"

using nlohmann::json;

namespace yolonas {

// ---------------------------------------------------------------------------------------------
// numpy helpers
// ---------------------------------------------------------------------------------------------

std::vector<double> numpy_linspace(double start, double stop, int num) {
  // numpy: step = (stop - start) / (num - 1); y = arange(num) * step + start; y[-1] = stop.
  std::vector<double> y(static_cast<size_t>(std::max(num, 0)));
  if (num == 1) {
    y[0] = start;
    return y;
  }
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) y[static_cast<size_t>(i)] = static_cast<double>(i) * step + start;
  if (num > 1) y.back() = stop;
  return y;
}

namespace {

// numpy's pairwise_sum for float64 (the inner loop of np.add.reduce on a contiguous array):
// below 8 elements a plain loop, up to 128 eight interleaved accumulators, above that split in two
// halves (the first a multiple of 8 long).
double numpy_pairwise_sum(const double* a, size_t n) {
  if (n < 8) {
    double res = 0.;
    for (size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + static_cast<size_t>(j)];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return numpy_pairwise_sum(a, n2) + numpy_pairwise_sum(a + n2, n - n2);
}

}  // namespace

double numpy_mean(const std::vector<double>& values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  // np.add.reduce starts from the identity 0.0 and adds the pairwise sum of the whole array.
  return (0.0 + numpy_pairwise_sum(values.data(), values.size())) / static_cast<double>(values.size());
}

CocoEvalParams CocoEvalParams::bbox() {
  CocoEvalParams p;
  // pycocotools: np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1) and
  // np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1).
  p.iou_thrs = numpy_linspace(0.5, 0.95, 10);
  p.rec_thrs = numpy_linspace(0.0, 1.0, 101);
  p.area_rngs = {{"all", 0.0, 1e10}, {"small", 0.0, 1024.0}, {"medium", 1024.0, 9216.0}, {"large", 9216.0, 1e10}};
  p.max_dets = {1, 10, 100};
  return p;
}

// ---------------------------------------------------------------------------------------------
// Results files
// ---------------------------------------------------------------------------------------------

namespace {

std::string read_file_or_throw(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(std::string("cannot open ") + what + " '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const json& results_field(const json& entry, const char* field, const std::string& where) {
  auto it = entry.find(field);
  if (it == entry.end()) throw Error(where + ": missing field '" + field + "'");
  return *it;
}

}  // namespace

std::vector<CocoDetection> parse_coco_results(const std::string& text, const std::string& source,
                                              const CocoDataset& gt) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(source + ": invalid JSON: " + e.what());
  }
  if (!root.is_array()) throw Error(source + ": a COCO results file must be a JSON array of detections");
  std::vector<CocoDetection> dets;
  dets.reserve(root.size());
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string where = source + ": entry " + std::to_string(i);
    const json& e = root[i];
    if (!e.is_object()) throw Error(where + ": not an object");
    CocoDetection d;
    const json& image_id = results_field(e, "image_id", where);
    const json& category_id = results_field(e, "category_id", where);
    const json& bbox = results_field(e, "bbox", where);
    const json& score = results_field(e, "score", where);
    if (!image_id.is_number_integer()) throw Error(where + ": field 'image_id' must be an integer");
    if (!category_id.is_number_integer()) throw Error(where + ": field 'category_id' must be an integer");
    if (!bbox.is_array() || bbox.size() != 4) throw Error(where + ": field 'bbox' must be [x, y, w, h]");
    for (int j = 0; j < 4; ++j) {
      if (!bbox[static_cast<size_t>(j)].is_number()) throw Error(where + ": field 'bbox' must hold 4 numbers");
      d.bbox[j] = bbox[static_cast<size_t>(j)].get<double>();
    }
    if (!score.is_number()) throw Error(where + ": field 'score' must be a number");
    d.image_id = image_id.get<int64_t>();
    d.category_id = category_id.get<int64_t>();
    d.score = score.get<double>();
    if (!std::isfinite(d.score)) throw Error(where + ": field 'score' is not finite");
    // pycocotools asserts that results refer to ground-truth images; detections of unknown
    // categories it would silently skip, which hides a class-mapping mistake: reject both.
    if (gt.image_index(d.image_id) < 0)
      throw Error(where + ": field 'image_id': " + std::to_string(d.image_id) + " is not an image of " + gt.source);
    if (gt.class_index(d.category_id) < 0)
      throw Error(where + ": field 'category_id': " + std::to_string(d.category_id) + " is not a category of " +
                  gt.source);
    dets.push_back(d);
  }
  return dets;
}

std::vector<CocoDetection> load_coco_results(const std::string& path, const CocoDataset& gt) {
  return parse_coco_results(read_file_or_throw(path, "results file"), std::filesystem::path(path).filename().string(),
                            gt);
}

namespace {

// Shortest decimal form that reads back as the same double (what json.dump / Python repr write).
void append_double(std::string& out, double v) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

}  // namespace

std::string coco_results_to_json(const std::vector<CocoDetection>& dets) {
  std::string out = "[";
  out.reserve(dets.size() * 110 + 4);
  for (size_t i = 0; i < dets.size(); ++i) {
    const CocoDetection& d = dets[i];
    out += i ? ",\n{\"image_id\": " : "\n{\"image_id\": ";
    out += std::to_string(d.image_id);
    out += ", \"category_id\": ";
    out += std::to_string(d.category_id);
    out += ", \"bbox\": [";
    for (int j = 0; j < 4; ++j) {
      if (j) out += ", ";
      append_double(out, d.bbox[j]);
    }
    out += "], \"score\": ";
    append_double(out, d.score);
    out += "}";
  }
  out += dets.empty() ? "]\n" : "\n]\n";
  return out;
}

// ---------------------------------------------------------------------------------------------
// pycocotools COCOeval
// ---------------------------------------------------------------------------------------------

namespace {

// Per detection and IoU threshold after evaluateImg: the two flags accumulate() reads.
enum DtCode : uint8_t { kFalsePositive = 0, kTruePositive = 1, kIgnored = 2 };

// Indices of gt annotations and detections grouped per (category k, image i), bucket = k*I + i, in
// the order pycocotools sees them (file order within a bucket). CSR layout: one offsets array.
struct Buckets {
  std::vector<size_t> gt_offsets, gt_items;
  std::vector<size_t> dt_offsets, dt_items;
};

template <typename KeyFn>
void fill_csr(size_t num_buckets, size_t num_items, KeyFn bucket_of, std::vector<size_t>& offsets,
              std::vector<size_t>& items) {
  offsets.assign(num_buckets + 1, 0);
  std::vector<size_t> key(num_items);
  for (size_t j = 0; j < num_items; ++j) {
    key[j] = bucket_of(j);
    ++offsets[key[j] + 1];
  }
  for (size_t b = 0; b < num_buckets; ++b) offsets[b + 1] += offsets[b];
  items.resize(num_items);
  std::vector<size_t> cursor(offsets.begin(), offsets.end() - 1);
  for (size_t j = 0; j < num_items; ++j) items[cursor[key[j]]++] = j;  // stable: file order kept
}

// maskApi.c bbIou for one pair; `crowd` makes the union the detection's area.
inline double bbox_iou(const double* d, const double* g, bool crowd) {
  const double w = std::fmin(d[2] + d[0], g[2] + g[0]) - std::fmax(d[0], g[0]);
  if (w <= 0) return 0;
  const double h = std::fmin(d[3] + d[1], g[3] + g[1]) - std::fmax(d[1], g[1]);
  if (h <= 0) return 0;
  const double i = w * h;
  const double da = d[2] * d[3];
  const double u = crowd ? da : da + g[2] * g[3] - i;
  return i / u;
}

// Evaluation output for the (category, image) buckets that pycocotools does not skip (those with
// any gt or detection), in category-major, image-ascending order.
struct EvalStore {
  struct Entry {
    size_t bucket = 0;
    size_t dt_begin = 0;   // into scores
    int num_dt = 0;        // after the maxDets[-1] cut
    size_t code_begin = 0; // into codes: [A][T][num_dt]
  };
  std::vector<Entry> entries;
  std::vector<size_t> class_begin;  // entries of category k: [class_begin[k], class_begin[k+1])
  std::vector<double> scores;
  std::vector<uint8_t> codes;
  std::vector<int> npig;            // [entry][A]: non-ignored gt count
};

// COCOeval.computeIoU + evaluateImg(imgId, catId, aRng, maxDets[-1]) for every area range.
void evaluate_bucket(const CocoDataset& gt, const std::vector<CocoDetection>& dets, const Buckets& bk, size_t bucket,
                     const CocoEvalParams& p, EvalStore& store) {
  const size_t* g_idx = bk.gt_items.data() + bk.gt_offsets[bucket];
  const size_t G = bk.gt_offsets[bucket + 1] - bk.gt_offsets[bucket];
  const size_t* d_all = bk.dt_items.data() + bk.dt_offsets[bucket];
  const size_t D_all = bk.dt_offsets[bucket + 1] - bk.dt_offsets[bucket];
  if (G == 0 && D_all == 0) return;  // pycocotools: evaluateImg returns None

  // Detections by descending score, stable (np.argsort(-score, kind='mergesort')), top maxDets[-1].
  std::vector<size_t> dt(d_all, d_all + D_all);
  std::stable_sort(dt.begin(), dt.end(), [&](size_t a, size_t b) { return dets[a].score > dets[b].score; });
  const size_t D = std::min(dt.size(), static_cast<size_t>(p.max_dets.back()));
  dt.resize(D);

  // IoU matrix [d][g] in the gt order of the file.
  std::vector<double> ious(D * G);
  for (size_t d = 0; d < D; ++d)
    for (size_t g = 0; g < G; ++g) {
      const CocoAnnotation& a = gt.annotations[g_idx[g]];
      ious[d * G + g] = bbox_iou(dets[dt[d]].bbox, a.bbox, a.iscrowd);
    }

  const size_t T = p.iou_thrs.size(), A = p.area_rngs.size();
  EvalStore::Entry entry;
  entry.bucket = bucket;
  entry.dt_begin = store.scores.size();
  entry.num_dt = static_cast<int>(D);
  entry.code_begin = store.codes.size();
  for (size_t d = 0; d < D; ++d) store.scores.push_back(dets[dt[d]].score);
  store.codes.resize(store.codes.size() + A * T * D, kFalsePositive);

  std::vector<size_t> order(G);       // gt positions, ignored last (stable)
  std::vector<uint8_t> gt_ig(G), crowd(G), gt_matched(G);
  std::vector<int64_t> gt_id(G);
  std::vector<uint8_t> dt_ig(D), dt_match_counts(D);
  for (size_t a = 0; a < A; ++a) {
    const AreaRange& rng = p.area_rngs[a];
    // gt['ignore'] is iscrowd in pycocotools; '_ignore' adds the area range (inclusive bounds).
    std::vector<uint8_t> ignore_by_pos(G);
    for (size_t g = 0; g < G; ++g) {
      const CocoAnnotation& ann = gt.annotations[g_idx[g]];
      ignore_by_pos[g] = ann.iscrowd || ann.area < rng.lo || ann.area > rng.hi;
    }
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return ignore_by_pos[x] < ignore_by_pos[y]; });
    int npig = 0;
    for (size_t j = 0; j < G; ++j) {
      const CocoAnnotation& ann = gt.annotations[g_idx[order[j]]];
      gt_ig[j] = ignore_by_pos[order[j]];
      crowd[j] = ann.iscrowd;
      gt_id[j] = ann.id;
      npig += gt_ig[j] == 0;
    }
    store.npig.push_back(npig);

    for (size_t t = 0; t < T; ++t) {
      std::fill(gt_matched.begin(), gt_matched.end(), 0);
      uint8_t* codes = store.codes.data() + entry.code_begin + (a * T + t) * D;
      for (size_t d = 0; d < D; ++d) {
        double best = std::min(p.iou_thrs[t], 1 - 1e-10);
        long m = -1;
        for (size_t j = 0; j < G; ++j) {
          if (gt_matched[j] && !crowd[j]) continue;                  // taken, and not a crowd
          if (m > -1 && gt_ig[static_cast<size_t>(m)] == 0 && gt_ig[j] == 1) break;  // regular match beats ignored gts
          const double iou = ious[d * G + order[j]];
          if (iou < best) continue;
          best = iou;
          m = static_cast<long>(j);
        }
        dt_ig[d] = 0;
        dt_match_counts[d] = 0;
        if (m == -1) continue;
        const size_t mj = static_cast<size_t>(m);
        dt_ig[d] = gt_ig[mj];
        // dtMatches stores the gt id; accumulate() tests it for truthiness.
        dt_match_counts[d] = p.zero_gt_id_quirk ? gt_id[mj] != 0 : 1;
        gt_matched[mj] = 1;  // gtMatches stores the detection id, always >= 1
      }
      for (size_t d = 0; d < D; ++d) {
        const double* bb = dets[dt[d]].bbox;
        const double area = bb[2] * bb[3];
        // Unmatched (dtMatches == 0) detections outside the area range are ignored.
        const bool out_of_range = area < rng.lo || area > rng.hi;
        const bool ignored = dt_ig[d] || (!dt_match_counts[d] && out_of_range);
        codes[d] = ignored ? kIgnored : (dt_match_counts[d] ? kTruePositive : kFalsePositive);
      }
    }
  }
  store.entries.push_back(entry);
}

// One (category, area, maxDet) cell of accumulate(): writes precision[:, :, k, a, m] and
// recall[:, k, a, m]; returns the per-threshold tp flags of non-ignored detections when asked.
struct ClassAccumulator {
  const CocoEvalParams& p;
  const EvalStore& store;
  size_t K, A, M, T, R;
  std::vector<double>& precision;
  std::vector<double>& recall;

  size_t pidx(size_t t, size_t r, size_t k, size_t a, size_t m) const {
    return (((t * R + r) * K + k) * A + a) * M + m;
  }
  size_t ridx(size_t t, size_t k, size_t a, size_t m) const { return ((t * K + k) * A + a) * M + m; }

  // `merged` lists (entry, detection) pairs in accumulate()'s order for this maxDet.
  void run_cell(size_t k, size_t a, size_t m, const std::vector<std::pair<size_t, int>>& merged, int npig,
                ClassMatches* matches_out, size_t matches_t) {
    const size_t nd = merged.size();
    std::vector<double> rc(nd), pr(nd);
    for (size_t t = 0; t < T; ++t) {
      double tp = 0, fp = 0;
      for (size_t i = 0; i < nd; ++i) {
        const EvalStore::Entry& e = store.entries[merged[i].first];
        const uint8_t code = store.codes[e.code_begin + (a * T + t) * static_cast<size_t>(e.num_dt) +
                                         static_cast<size_t>(merged[i].second)];
        if (code == kTruePositive) tp += 1;
        if (code == kFalsePositive) fp += 1;
        rc[i] = tp / npig;
        pr[i] = tp / (fp + tp + std::numeric_limits<double>::epsilon());  // np.spacing(1) == 2^-52
        if (matches_out && t == matches_t && code != kIgnored) {
          matches_out->scores.push_back(store.scores[e.dt_begin + static_cast<size_t>(merged[i].second)]);
          matches_out->tp.push_back(code == kTruePositive);
        }
      }
      recall[ridx(t, k, a, m)] = nd ? rc[nd - 1] : 0;
      for (size_t i = nd - (nd ? 1 : 0); i > 0; --i)  // precision envelope, right to left
        if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
      // q[r] = pr[searchsorted(rc, recThr[r], 'left')], 0 once the index runs past the end.
      size_t idx = 0;
      for (size_t r = 0; r < R; ++r) {
        while (idx < nd && rc[idx] < p.rec_thrs[r]) ++idx;
        precision[pidx(t, r, k, a, m)] = idx < nd ? pr[idx] : 0.0;
      }
    }
  }
};

// The mean pycocotools' _summarize() takes: over the cells > -1 of precision[t?, :, :, a, m] (or
// recall[t?, :, a, m]), in C order.
double summarize_cell(const CocoEvalResult& res, bool ap, long t_only, size_t a, size_t m) {
  const CocoEvalParams& p = res.params;
  const size_t T = p.iou_thrs.size(), R = p.rec_thrs.size(), K = res.cat_ids.size();
  std::vector<double> values;
  for (size_t t = 0; t < T; ++t) {
    if (t_only >= 0 && t != static_cast<size_t>(t_only)) continue;
    if (ap) {
      for (size_t r = 0; r < R; ++r)
        for (size_t k = 0; k < K; ++k) {
          const double v = res.precision_at(static_cast<int>(t), static_cast<int>(r), static_cast<int>(k),
                                            static_cast<int>(a), static_cast<int>(m));
          if (v > -1) values.push_back(v);
        }
    } else {
      for (size_t k = 0; k < K; ++k) {
        const double v = res.recall_at(static_cast<int>(t), static_cast<int>(k), static_cast<int>(a), static_cast<int>(m));
        if (v > -1) values.push_back(v);
      }
    }
  }
  return values.empty() ? -1.0 : numpy_mean(values);
}

long find_iou_index(const CocoEvalParams& p, double iou) {
  for (size_t t = 0; t < p.iou_thrs.size(); ++t)
    if (p.iou_thrs[t] == iou) return static_cast<long>(t);
  return -2;  // np.where finds nothing: pycocotools then averages an empty selection (-1)
}

long find_index(const std::vector<int>& v, int x) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == x) return static_cast<long>(i);
  return -1;
}

double summarize_stat(const CocoEvalResult& res, bool ap, double iou, const std::string& area, int max_det) {
  const CocoEvalParams& p = res.params;
  long a = -1;
  for (size_t i = 0; i < p.area_rngs.size(); ++i)
    if (p.area_rngs[i].label == area) a = static_cast<long>(i);
  const long m = find_index(p.max_dets, max_det);
  const long t = std::isnan(iou) ? -1 : find_iou_index(p, iou);
  if (a < 0 || m < 0 || t == -2) return -1.0;
  return summarize_cell(res, ap, t, static_cast<size_t>(a), static_cast<size_t>(m));
}

}  // namespace

double CocoEvalResult::precision_at(int t, int r, int k, int a, int m) const {
  const size_t R = params.rec_thrs.size(), K = cat_ids.size(), A = params.area_rngs.size(), M = params.max_dets.size();
  return precision[((((size_t)t * R + (size_t)r) * K + (size_t)k) * A + (size_t)a) * M + (size_t)m];
}

double CocoEvalResult::recall_at(int t, int k, int a, int m) const {
  const size_t K = cat_ids.size(), A = params.area_rngs.size(), M = params.max_dets.size();
  return recall[(((size_t)t * K + (size_t)k) * A + (size_t)a) * M + (size_t)m];
}

const std::array<const char*, 12>& coco_stat_names() {
  static const std::array<const char*, 12> kNames = {"AP",   "AP50", "AP75", "APs",  "APm",  "APl",
                                                     "AR1",  "AR10", "AR100", "ARs", "ARm", "ARl"};
  return kNames;
}

std::string format_coco_summary(const std::array<double, 12>& stats, const std::vector<int>& max_dets) {
  // pycocotools: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
  struct Line {
    bool ap;
    const char* iou;
    const char* area;
    int max_det_index;
  };
  static const Line kLines[12] = {{true, "0.50:0.95", "all", 2},    {true, "0.50", "all", 2},
                                  {true, "0.75", "all", 2},         {true, "0.50:0.95", "small", 2},
                                  {true, "0.50:0.95", "medium", 2}, {true, "0.50:0.95", "large", 2},
                                  {false, "0.50:0.95", "all", 0},   {false, "0.50:0.95", "all", 1},
                                  {false, "0.50:0.95", "all", 2},   {false, "0.50:0.95", "small", 2},
                                  {false, "0.50:0.95", "medium", 2}, {false, "0.50:0.95", "large", 2}};
  std::string out;
  char buf[160];
  for (int i = 0; i < 12; ++i) {
    const Line& l = kLines[i];
    std::snprintf(buf, sizeof buf, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                  l.ap ? "Average Precision" : "Average Recall", l.ap ? "(AP)" : "(AR)", l.iou, l.area,
                  max_dets[static_cast<size_t>(l.max_det_index)], stats[static_cast<size_t>(i)]);
    out += buf;
  }
  return out;
}

std::string CocoEvalResult::summary() const { return format_coco_summary(stats, params.max_dets); }

CocoEvalResult evaluate_coco(const CocoDataset& gt, const std::vector<CocoDetection>& dets,
                             const CocoEvalParams& params) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  CocoEvalResult res;
  res.params = params;
  const CocoEvalParams& p = res.params;
  if (p.max_dets.empty() || p.iou_thrs.empty() || p.rec_thrs.empty() || p.area_rngs.empty())
    throw Error("evaluate_coco: empty evaluation parameters");
  // pycocotools sorts maxDets in evaluate(); so do we.
  std::sort(res.params.max_dets.begin(), res.params.max_dets.end());

  // params.imgIds = sorted(unique(gt image ids)), params.catIds = sorted(unique(gt category ids)).
  std::vector<int64_t> img_ids;
  for (const auto& im : gt.images) img_ids.push_back(im.id);
  std::sort(img_ids.begin(), img_ids.end());
  img_ids.erase(std::unique(img_ids.begin(), img_ids.end()), img_ids.end());
  for (const auto& c : gt.categories) res.cat_ids.push_back(c.id);
  std::sort(res.cat_ids.begin(), res.cat_ids.end());
  res.cat_ids.erase(std::unique(res.cat_ids.begin(), res.cat_ids.end()), res.cat_ids.end());
  for (int64_t id : res.cat_ids) res.names.push_back(gt.categories[static_cast<size_t>(gt.class_index(id))].name);

  const size_t I = img_ids.size(), K = res.cat_ids.size();
  const size_t T = p.iou_thrs.size(), R = p.rec_thrs.size(), A = p.area_rngs.size(), M = p.max_dets.size();
  auto image_pos = [&](int64_t id) -> size_t {
    return static_cast<size_t>(std::lower_bound(img_ids.begin(), img_ids.end(), id) - img_ids.begin());
  };
  auto class_pos = [&](int64_t id) -> size_t {
    return static_cast<size_t>(std::lower_bound(res.cat_ids.begin(), res.cat_ids.end(), id) - res.cat_ids.begin());
  };
  for (const auto& d : dets)
    if (gt.image_index(d.image_id) < 0 || gt.class_index(d.category_id) < 0)
      throw Error("evaluate_coco: detection of image " + std::to_string(d.image_id) + ", category " +
                  std::to_string(d.category_id) + " is not in the ground truth");

  Buckets bk;
  fill_csr(K * I, gt.annotations.size(),
           [&](size_t j) { return class_pos(gt.annotations[j].category_id) * I + image_pos(gt.annotations[j].image_id); },
           bk.gt_offsets, bk.gt_items);
  fill_csr(K * I, dets.size(), [&](size_t j) { return class_pos(dets[j].category_id) * I + image_pos(dets[j].image_id); },
           bk.dt_offsets, bk.dt_items);

  // evaluate(): category-major, image-ascending (the area loop is inside each bucket here).
  EvalStore store;
  store.class_begin.assign(K + 1, 0);
  for (size_t k = 0; k < K; ++k) {
    store.class_begin[k] = store.entries.size();
    for (size_t i = 0; i < I; ++i) evaluate_bucket(gt, dets, bk, k * I + i, p, store);
  }
  store.class_begin[K] = store.entries.size();
  const auto t1 = clock::now();

  // accumulate()
  res.precision.assign(T * R * K * A * M, -1.0);
  res.recall.assign(T * K * A * M, -1.0);
  res.matches50.assign(K, ClassMatches{});
  const long t50 = find_iou_index(p, 0.5);
  ClassAccumulator acc{p, store, K, A, M, T, R, res.precision, res.recall};
  for (size_t k = 0; k < K; ++k) {
    const size_t e0 = store.class_begin[k], e1 = store.class_begin[k + 1];
    if (e0 == e1) continue;  // no evaluated image: pycocotools leaves -1
    for (size_t m = 0; m < M; ++m) {
      // dtScores of every image cut to maxDet, concatenated in image order, then a stable sort.
      std::vector<std::pair<size_t, int>> merged;
      for (size_t e = e0; e < e1; ++e) {
        const int n = std::min(store.entries[e].num_dt, p.max_dets[m]);
        for (int d = 0; d < n; ++d) merged.emplace_back(e, d);
      }
      auto score_of = [&](const std::pair<size_t, int>& x) {
        return store.scores[store.entries[x.first].dt_begin + static_cast<size_t>(x.second)];
      };
      std::stable_sort(merged.begin(), merged.end(),
                       [&](const auto& x, const auto& y) { return score_of(x) > score_of(y); });
      for (size_t a = 0; a < A; ++a) {
        int npig = 0;
        for (size_t e = e0; e < e1; ++e) npig += store.npig[e * A + a];
        if (npig == 0) continue;
        const bool want_matches = a == 0 && m == M - 1 && t50 >= 0;
        ClassMatches* out = want_matches ? &res.matches50[k] : nullptr;
        if (out) out->num_gt = npig;
        acc.run_cell(k, a, m, merged, npig, out, want_matches ? static_cast<size_t>(t50) : 0);
      }
    }
  }
  const auto t2 = clock::now();

  // summarize()
  const double kAll = std::numeric_limits<double>::quiet_NaN();
  const int md0 = p.max_dets[0], md1 = M > 1 ? p.max_dets[1] : p.max_dets[0], md2 = M > 2 ? p.max_dets[2] : p.max_dets.back();
  res.stats[0] = summarize_stat(res, true, kAll, "all", 100);
  res.stats[1] = summarize_stat(res, true, .5, "all", md2);
  res.stats[2] = summarize_stat(res, true, .75, "all", md2);
  res.stats[3] = summarize_stat(res, true, kAll, "small", md2);
  res.stats[4] = summarize_stat(res, true, kAll, "medium", md2);
  res.stats[5] = summarize_stat(res, true, kAll, "large", md2);
  res.stats[6] = summarize_stat(res, false, kAll, "all", md0);
  res.stats[7] = summarize_stat(res, false, kAll, "all", md1);
  res.stats[8] = summarize_stat(res, false, kAll, "all", md2);
  res.stats[9] = summarize_stat(res, false, kAll, "small", md2);
  res.stats[10] = summarize_stat(res, false, kAll, "medium", md2);
  res.stats[11] = summarize_stat(res, false, kAll, "large", md2);

  // Per-category AP (area all, last maxDets), as detectron2's COCOEvaluator derives it.
  res.class_ap.assign(K, -1.0);
  res.class_ap50.assign(K, -1.0);
  for (size_t k = 0; k < K; ++k) {
    std::vector<double> all, at50;
    for (size_t t = 0; t < T; ++t)
      for (size_t r = 0; r < R; ++r) {
        const double v = res.precision_at((int)t, (int)r, (int)k, 0, (int)(M - 1));
        if (v > -1) {
          all.push_back(v);
          if ((long)t == t50) at50.push_back(v);
        }
      }
    if (!all.empty()) res.class_ap[k] = numpy_mean(all);
    if (!at50.empty()) res.class_ap50[k] = numpy_mean(at50);
  }
  res.class_num_gt.assign(K, 0);
  res.class_num_images.assign(K, 0);
  for (size_t k = 0; k < K; ++k)
    for (size_t i = 0; i < I; ++i) {
      int n = 0;
      for (size_t j = bk.gt_offsets[k * I + i]; j < bk.gt_offsets[k * I + i + 1]; ++j)
        n += !gt.annotations[bk.gt_items[j]].iscrowd;
      res.class_num_gt[k] += n;
      res.class_num_images[k] += n > 0;
    }
  res.seconds_evaluate = std::chrono::duration<double>(t1 - t0).count();
  res.seconds_accumulate = std::chrono::duration<double>(t2 - t1).count();
  return res;
}

}  // namespace yolonas
