// Threaded, seeded data loader over a YOLO split. See loader.h.
#include "yolonas/data/loader.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "yolonas/core/error.h"

namespace yolonas {

namespace {

// Domain tags so that the shuffle and the per-sample streams never share a seed.
constexpr uint64_t kShuffleTag = 0x53485546464C45ull;  // "SHUFFLE"
constexpr uint64_t kSampleTag = 0x53414D504C45ull;     // "SAMPLE"

// A decoded image, fitted to the loader's load size, and the ratio used.
struct Raw {
  cv::Mat image;
  double r = 1.0;
  int src_h = 0, src_w = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

struct DataLoader::Impl {
  DataSplit split;
  LoaderConfig cfg;
  std::vector<int> used;      // indices into split.samples, in split order
  std::vector<int> used_pos;  // split index -> position in `used` (-1 when not used)
  std::vector<int> nonempty;  // used samples with at least one box (mixup's pool)
  long nbatches = 0, npositions = 0;
  int load_h = 0, load_w = 0;  // images are fitted to this size when decoded...
  Rounding load_rounding = Rounding::Truncate;  // ...with this rounding
  PreprocessParams val_pp;  // validation: the preprocessing (val_preprocess, or padded_rescale)

  // RAM cache of fitted images (never modified once stored; callers get clones).
  std::mutex cache_m;
  std::vector<Raw> cache;
  size_t cache_bytes = 0;

  // Unreadable images (a property of the file, so the replacement rule stays deterministic).
  std::mutex bad_m;
  std::vector<uint8_t> bad;
  std::vector<std::string> warnings;

  // Sample order of the last epoch asked for.
  std::mutex order_m;
  int order_epoch = -1;
  std::shared_ptr<const std::vector<int>> order;

  // Worker threads and the bounded queue of prepared batches.
  std::mutex m;
  std::condition_variable cv_work, cv_ready;
  std::vector<std::thread> threads;
  int epoch = -1;
  std::shared_ptr<const std::vector<int>> epoch_order;
  long next_job = 0, consumed = 0;
  bool stop = false;
  std::exception_ptr error;
  std::map<long, Batch> ready;
  size_t max_queued = 0;

  std::shared_ptr<const std::vector<int>> order_for(int ep);
  Raw load(int idx);
  int load_readable(int idx, Raw& raw);
  Sample to_sample(int idx, const Raw& raw) const;
  Batch build(int ep, long b, const std::vector<int>& ord);
  void worker();
  void stop_workers();
};

std::shared_ptr<const std::vector<int>> DataLoader::Impl::order_for(int ep) {
  std::lock_guard<std::mutex> lk(order_m);
  if (order && order_epoch == ep) return order;
  auto ord = std::make_shared<std::vector<int>>();
  ord->reserve(static_cast<size_t>(npositions));
  for (uint64_t pass = 0; static_cast<long>(ord->size()) < npositions; ++pass) {
    std::vector<int> perm = used;
    if (cfg.train && cfg.shuffle) {
      // Fisher-Yates with our portable rand_int (std::shuffle differs between standard libraries).
      Rng rng = make_rng(mix_seed(cfg.seed ^ kShuffleTag, static_cast<uint64_t>(ep), pass));
      for (int i = static_cast<int>(perm.size()) - 1; i > 0; --i) std::swap(perm[i], perm[rand_int(rng, 0, i)]);
    }
    for (int idx : perm) {
      if (static_cast<long>(ord->size()) == npositions) break;
      ord->push_back(idx);
    }
  }
  order = ord;
  order_epoch = ep;
  return order;
}

Raw DataLoader::Impl::load(int idx) {
  if (cfg.cache_ram) {
    std::lock_guard<std::mutex> lk(cache_m);
    const Raw& c = cache[idx];
    if (!c.image.empty()) return Raw{c.image.clone(), c.r, c.src_h, c.src_w};
  }
  Raw raw;
  // cv::imread applies the EXIF orientation, as cv2.imread in SG and as Ultralytics' labels assume.
  const cv::Mat img = read_image(split.samples[idx].image, Orientation::ApplyExif);
  if (img.empty()) return raw;
  raw.src_h = img.rows, raw.src_w = img.cols;
  const ResizePlan plan = fit_within(img.rows, img.cols, load_h, load_w, load_rounding);
  raw.r = plan.scale;
  raw.image = resize_image(img, plan.new_h, plan.new_w);
  if (cfg.cache_ram) {
    std::lock_guard<std::mutex> lk(cache_m);
    const size_t bytes = raw.image.total() * raw.image.elemSize();
    if (cache[idx].image.empty() && (cfg.cache_max_bytes == 0 || cache_bytes + bytes <= cfg.cache_max_bytes)) {
      cache[idx] = Raw{raw.image.clone(), raw.r, raw.src_h, raw.src_w};
      cache_bytes += bytes;
    }
  }
  return raw;
}

// Loads `idx`, or with strict=false the next readable image of the split after it. Returns the
// index actually loaded.
int DataLoader::Impl::load_readable(int idx, Raw& raw) {
  int pos = used_pos[idx];
  for (size_t tries = 0; tries < used.size(); ++tries) {
    const int j = used[static_cast<size_t>(pos)];
    bool known_bad;
    {
      std::lock_guard<std::mutex> lk(bad_m);
      known_bad = bad[j] != 0;
    }
    if (!known_bad) {
      raw = load(j);
      if (!raw.image.empty()) return j;
      const std::string& path = split.samples[j].image;
      if (cfg.strict)
        throw Error("cannot read image '" + path + "' (missing or corrupt; run `yolonas check-data` or set strict=false to skip it)");
      std::lock_guard<std::mutex> lk(bad_m);
      if (!bad[j]) warnings.push_back("skipping unreadable image '" + path + "'");
      bad[j] = 1;
    }
    pos = (pos + 1) % static_cast<int>(used.size());
  }
  throw Error("no readable image in the split");
}

Sample DataLoader::Impl::to_sample(int idx, const Raw& raw) const {
  Sample s;
  s.image = raw.image;
  const auto add = [&](const BoxLabel& l, int cls) {
    double xywh[4];
    yolo_to_pixel_xywh(l, ImageSize{raw.src_w, raw.src_h}, xywh);
    s.boxes.push_back({static_cast<float>(xywh[0] * raw.r), static_cast<float>(xywh[1] * raw.r),
                       static_cast<float>((xywh[0] + xywh[2]) * raw.r), static_cast<float>((xywh[1] + xywh[3]) * raw.r),
                       cls});
  };
  for (const BoxLabel& l : split.samples[idx].labels) add(l, l.cls);
  // Ignore regions ride through the augmentation as boxes of class -1 - cls (told apart in build()).
  if (cfg.train && cfg.ignore_regions)
    for (const BoxLabel& l : split.samples[idx].ignored) add(l, -1 - l.cls);
  clip_and_filter_boxes(s, 0.0f);  // SG's DetectionSample: clip to the image, drop zero-area boxes
  return s;
}

Batch DataLoader::Impl::build(int ep, long b, const std::vector<int>& ord) {
  const int H = cfg.height, W = cfg.width, B = cfg.batch_size;
  const long first = b * B * cfg.shard_count + static_cast<long>(cfg.shard_rank) * B;
  const long last = std::min(npositions, first + B);
  Batch batch;
  batch.epoch = ep;
  batch.index = b;
  batch.height = H;
  batch.width = W;
  batch.batch_size = static_cast<int>(last - first);
  batch.images.resize(static_cast<size_t>(batch.batch_size) * 3 * H * W);
  const size_t plane = static_cast<size_t>(H) * W;

  for (long k = first; k < last; ++k) {
    const int slot = static_cast<int>(k - first);
    Rng rng = make_rng(mix_seed(cfg.seed ^ kSampleTag, static_cast<uint64_t>(ep), static_cast<uint64_t>(k)));
    Raw raw;
    const int idx = load_readable(ord[static_cast<size_t>(k)], raw);
    Sample s = to_sample(idx, raw);
    Letterbox lb;
    bool reverse = false;
    if (cfg.train) {
      const SampleSource source = [this](Rng& r, bool non_empty) {
        const std::vector<int>& pool = (non_empty && !nonempty.empty()) ? nonempty : used;
        Raw extra;
        const int j = load_readable(pool[static_cast<size_t>(rand_int(r, 0, static_cast<int>(pool.size()) - 1))], extra);
        return to_sample(j, extra);
      };
      s = augment_train(std::move(s), cfg.augment, H, W, source, rng);
      reverse = rand_chance(rng, cfg.augment.rgb2bgr_prob);
      lb.src_h = lb.new_h = H, lb.src_w = lb.new_w = W;  // identity: training images are not mapped back
    } else {
      // The image was loaded fitted within val_pp's rescale size (load()); only the padding is left.
      lb = compute_letterbox(raw.src_h, raw.src_w, val_pp);
      if (lb.new_h != s.image.rows || lb.new_w != s.image.cols)
        throw Error("loader: internal: validation image resized to " + std::to_string(s.image.rows) + "x" +
                    std::to_string(s.image.cols) + ", planned " + std::to_string(lb.new_h) + "x" + std::to_string(lb.new_w));
      s.image = pad_image(s.image, lb, val_pp.pad_value);
      for (Box& bx : s.boxes) {
        bx.x1 += static_cast<float>(lb.pad_left), bx.x2 += static_cast<float>(lb.pad_left);
        bx.y1 += static_cast<float>(lb.pad_top), bx.y2 += static_cast<float>(lb.pad_top);
      }
      clip_and_filter_boxes(s, cfg.augment.min_box_edge);
      // Crowd / difficult boxes: not targets, but SG's metric ignores detections on them.
      for (const BoxLabel& l : split.samples[idx].ignored) {
        double xywh[4];
        yolo_to_pixel_xywh(l, ImageSize{raw.src_w, raw.src_h}, xywh);
        const float x1 = static_cast<float>(xywh[0] * lb.scale + lb.pad_left);
        const float y1 = static_cast<float>(xywh[1] * lb.scale + lb.pad_top);
        const float w = static_cast<float>(xywh[2] * lb.scale), h = static_cast<float>(xywh[3] * lb.scale);
        const float row[6] = {static_cast<float>(slot), static_cast<float>(l.cls), x1 + w / 2, y1 + h / 2, w, h};
        batch.crowd.insert(batch.crowd.end(), row, row + 6);
      }
    }

    // HWC uint8 -> CHW float / 255 in the requested channel order.
    const bool rgb = cfg.train ? cfg.rgb != reverse : val_pp.rgb;
    write_chw(s.image, rgb, cfg.train ? 1.0 / 255.0 : val_pp.scale, batch.images.data() + static_cast<size_t>(slot) * 3 * plane);
    for (const Box& bx : s.boxes) {
      const bool ignored = bx.cls < 0;  // an ignore region (to_sample)
      const float row[6] = {static_cast<float>(slot), static_cast<float>(ignored ? -1 - bx.cls : bx.cls),
                            (bx.x1 + bx.x2) / 2, (bx.y1 + bx.y2) / 2, bx.width(), bx.height()};
      std::vector<float>& rows = ignored ? batch.crowd : batch.targets;
      rows.insert(rows.end(), row, row + 6);
    }
    batch.paths.push_back(split.samples[idx].image);
    batch.sample_indices.push_back(idx);
    batch.rgb.push_back(rgb ? 1 : 0);
    batch.letterboxes.push_back(lb);
  }
  return batch;
}

void DataLoader::Impl::worker() {
  for (;;) {
    long b;
    std::shared_ptr<const std::vector<int>> ord;
    int ep;
    {
      std::unique_lock<std::mutex> lk(m);
      cv_work.wait(lk, [&] {
        return stop || error || next_job >= nbatches || next_job < consumed + cfg.prefetch;
      });
      if (stop || error || next_job >= nbatches) return;
      b = next_job++;
      ord = epoch_order;
      ep = epoch;
    }
    Batch batch;
    std::exception_ptr err;
    try {
      batch = build(ep, b, *ord);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lk(m);
      if (err) {
        if (!error) error = err;
      } else {
        ready.emplace(b, std::move(batch));
        max_queued = std::max(max_queued, ready.size());
      }
    }
    cv_ready.notify_all();
  }
}

void DataLoader::Impl::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(m);
    stop = true;
  }
  cv_work.notify_all();
  for (std::thread& t : threads) t.join();
  threads.clear();
}

// ---------------------------------------------------------------------------------------------
// DataLoader
// ---------------------------------------------------------------------------------------------

DataLoader::DataLoader(DataSplit split, LoaderConfig cfg) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  if (cfg.batch_size < 1) throw Error("loader: batch size must be >= 1");
  if (cfg.height < 32 || cfg.width < 32) throw Error("loader: input size must be at least 32x32");
  if (cfg.workers < 0) throw Error("loader: workers must be >= 0");
  cfg.prefetch = std::max(1, cfg.prefetch);

  // Label rows with errors were dropped by the reader; strict refuses such a split.
  std::vector<const DatasetIssue*> errors;
  for (const DatasetIssue& issue : split.issues)
    if (issue_is_error(issue.kind)) errors.push_back(&issue);
  if (!errors.empty()) {
    if (cfg.strict) {
      std::string msg = std::to_string(errors.size()) + " label error(s) in the dataset, e.g.:";
      for (size_t i = 0; i < errors.size() && i < 5; ++i) msg += "\n  " + errors[i]->str();
      throw Error(msg + "\nrun `yolonas check-data data=...` for the full report, or set strict=false to skip these rows");
    }
    s.warnings.push_back(std::to_string(errors.size()) + " label row(s) with errors skipped (run `yolonas check-data`)");
  }

  s.used_pos.assign(split.samples.size(), -1);
  for (size_t i = 0; i < split.samples.size(); ++i) {
    const bool empty = split.samples[i].labels.empty();
    if (empty && cfg.ignore_empty) continue;
    s.used_pos[i] = static_cast<int>(s.used.size());
    s.used.push_back(static_cast<int>(i));
    if (!empty) s.nonempty.push_back(static_cast<int>(i));
  }
  if (s.used.empty())
    throw Error(split.samples.empty() ? "loader: the split has no images"
                                      : "loader: no image of the split has a box (ignore_empty=true)");
  if (cfg.shard_count < 1 || cfg.shard_rank < 0 || cfg.shard_rank >= cfg.shard_count)
    throw Error("loader: shard " + std::to_string(cfg.shard_rank) + " of " + std::to_string(cfg.shard_count) +
                " does not exist");
  if (cfg.shard_count > 1 && (!cfg.train || !cfg.drop_last))
    throw Error("loader: sharding is for training batches with drop_last");
  // Positions are counted in global batches (batch_size * shard_count samples).
  const long U = static_cast<long>(s.used.size()), B = static_cast<long>(cfg.batch_size) * cfg.shard_count;
  if (cfg.batches_per_epoch > 0) {
    s.nbatches = cfg.batches_per_epoch;
    s.npositions = s.nbatches * B;
  } else if (cfg.drop_last) {
    s.nbatches = U / B;
    s.npositions = s.nbatches * B;
    if (s.nbatches == 0)
      throw Error("loader: " + std::to_string(U) + " images but batch=" + std::to_string(B) +
                  (cfg.shard_count > 1 ? " (" + std::to_string(cfg.batch_size) + " per process x " +
                                             std::to_string(cfg.shard_count) + " processes)"
                                       : std::string()) +
                  " with drop_last: no full batch (lower the batch size)");
  } else {
    s.nbatches = (U + B - 1) / B;
    s.npositions = U;
  }
  s.load_h = cfg.height, s.load_w = cfg.width;
  if (!cfg.train) {
    if (cfg.val_preprocess) {
      s.val_pp = *cfg.val_preprocess;
      if (s.val_pp.input_h != cfg.height || s.val_pp.input_w != cfg.width)
        throw Error("loader: val_preprocess is for a " + std::to_string(s.val_pp.input_h) + "x" +
                    std::to_string(s.val_pp.input_w) + " input, the loader makes " + std::to_string(cfg.height) + "x" +
                    std::to_string(cfg.width));
    } else {
      s.val_pp = PreprocessParams::padded_rescale(cfg.height, cfg.width);
      s.val_pp.rgb = cfg.rgb;
      s.val_pp.pad_value = cfg.augment.pad_value;
    }
    s.load_h = s.val_pp.rescale_h, s.load_w = s.val_pp.rescale_w;
    s.load_rounding = s.val_pp.rounding;
  }
  s.cache.resize(split.samples.size());
  s.bad.assign(split.samples.size(), 0);
  s.split = std::move(split);
  s.cfg = cfg;
}

DataLoader::~DataLoader() { impl_->stop_workers(); }

size_t DataLoader::num_samples() const { return impl_->used.size(); }
long DataLoader::batches_per_epoch() const { return impl_->nbatches; }
const LoaderConfig& DataLoader::config() const { return impl_->cfg; }
const std::vector<std::string>& DataLoader::names() const { return impl_->split.names; }

void DataLoader::start_epoch(int epoch) {
  Impl& s = *impl_;
  s.stop_workers();
  auto ord = s.order_for(epoch);
  {
    std::lock_guard<std::mutex> lk(s.m);
    s.stop = false;
    s.error = nullptr;
    s.ready.clear();
    s.next_job = 0;
    s.consumed = 0;
    s.epoch = epoch;
    s.epoch_order = ord;
  }
  for (int i = 0; i < s.cfg.workers; ++i) s.threads.emplace_back([&s] { s.worker(); });
}

bool DataLoader::next(Batch& batch) {
  Impl& s = *impl_;
  if (s.epoch < 0) start_epoch(0);
  if (s.cfg.workers == 0) {
    if (s.consumed >= s.nbatches) return false;
    batch = s.build(s.epoch, s.consumed, *s.epoch_order);
    ++s.consumed;
    return true;
  }
  std::unique_lock<std::mutex> lk(s.m);
  if (s.consumed >= s.nbatches) return false;
  s.cv_ready.wait(lk, [&] { return s.ready.count(s.consumed) > 0 || s.error; });
  auto it = s.ready.find(s.consumed);
  if (it == s.ready.end()) std::rethrow_exception(s.error);
  batch = std::move(it->second);
  s.ready.erase(it);
  ++s.consumed;
  lk.unlock();
  s.cv_work.notify_all();
  return true;
}

Batch DataLoader::make_batch(int epoch, long index) {
  if (index < 0 || index >= impl_->nbatches)
    throw Error("loader: batch " + std::to_string(index) + " out of range (epoch has " +
                std::to_string(impl_->nbatches) + ")");
  auto ord = impl_->order_for(epoch);
  return impl_->build(epoch, index, *ord);
}

std::vector<std::string> DataLoader::take_warnings() {
  std::lock_guard<std::mutex> lk(impl_->bad_m);
  std::vector<std::string> out;
  out.swap(impl_->warnings);
  return out;
}

size_t DataLoader::max_queued() const {
  std::lock_guard<std::mutex> lk(impl_->m);
  return impl_->max_queued;
}

size_t DataLoader::cache_bytes() const {
  std::lock_guard<std::mutex> lk(impl_->cache_m);
  return impl_->cache_bytes;
}

}  // namespace yolonas
