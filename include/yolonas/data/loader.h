// Threaded, seeded data loader over a split of any dataset format (dataset.h) (no LibTorch: batches are plain float buffers that
// the trainer wraps in tensors).
//
// Reproducibility: the epoch's sample order comes from (seed, epoch) and every sample's augmentation
// from its own RNG seeded by (seed, epoch, position in the epoch), so a batch depends only on the
// seed, the epoch and its index -- not on the number of worker threads or their timing.
// Memory: images are decoded on the fly (or kept resized in an optional RAM cache) and at most
// `prefetch` prepared batches wait in the queue.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "yolonas/core/rng.h"
#include "yolonas/data/augment.h"
#include "yolonas/data/dataset.h"
#include "yolonas/detect/preprocess.h"

namespace yolonas {

struct LoaderConfig {
  int height = 640, width = 640;  // network input (imgsz); SG recipes: 640
  int batch_size = 16;            // roboflow_yolo_nas_s: 16 train / 16 val
  int workers = 2;                // threads preparing batches; 0 = prepare on the caller's thread
  uint64_t seed = 42;             // SG recipes: seed 42
  bool train = true;              // true: shuffle + augment; false: validation transform, split order
  bool shuffle = true;            // train only
  bool drop_last = true;          // SG: true for train, false for val
  // Batches per epoch. 0: N/batch (drop_last) or ceil(N/batch). More than one pass: the order
  // continues with fresh permutations (train) or wraps (val).
  long batches_per_epoch = 0;
  AugmentConfig augment;          // train only (pad_value and min_box_edge are also used in val)

  // Channel order of the output floats. false = BGR, as cv::imread gives and as SG's fine-tuning
  // recipe trains (no channel swap anywhere); true = RGB (SG's COCO recipe validation and the
  // pretrained COCO weights). In training, augment.rgb2bgr_prob reverses it per image (SG
  // DetectionRGB2BGR; COCO recipe 0.5).
  bool rgb = false;

  // Validation transform (detect/preprocess.h): the image is fitted within val_preprocess's rescale
  // size, padded to height x width and normalized exactly as `predict` does with the same
  // parameters (the trainer passes the model's own). Unset: SG's fine-tuning validation,
  // PreprocessParams::padded_rescale (int() truncation, bottom-right padding) with `rgb` and
  // augment.pad_value. Its input size must be height x width.
  std::optional<PreprocessParams> val_preprocess;
  // SG's ignore_empty_annotations (default True in its YOLO-format and COCO dataset params): images
  // without any box are left out. false keeps them as background images.
  bool ignore_empty = true;
  // Train: the samples' ignored boxes (LabeledImage::ignored) go through the augmentation with the
  // objects and come out in Batch::crowd, for the loss's ignore regions. false = SG: dropped.
  bool ignore_regions = false;

  // Multi-process training: the epoch is cut into global batches of batch_size * shard_count
  // samples and this process loads its part, samples [shard_rank * batch_size, +batch_size) of each.
  // Augmentation is seeded by the sample's global position, so the union of the shards is exactly
  // the single-process batch of batch_size * shard_count. Train only; needs drop_last.
  int shard_rank = 0, shard_count = 1;

  bool cache_ram = false;         // keep decoded, resized images in memory (cache=ram)
  size_t cache_max_bytes = 0;     // stop adding to the cache beyond this (0 = no limit)
  int prefetch = 4;               // at most this many prepared batches wait (bounded queue)

  // true: an unreadable image (or label errors in the split) throws yolonas::Error naming the file.
  // false: label rows with errors were already dropped by the reader; an unreadable image is
  // skipped with a warning and replaced by the next readable image of the split.
  bool strict = true;
};

struct Batch {
  int batch_size = 0, height = 0, width = 0;
  int epoch = 0;
  long index = 0;                    // batch index in the epoch
  std::vector<float> images;         // batch_size * 3 * height * width, CHW per image, pixel / 255
  std::vector<float> targets;        // rows of 6: image_index, class, cx, cy, w, h (input pixels)
  // The ignored boxes (COCO crowd, VOC difficult, YOLO ignore/ rows), same rows as targets: always in
  // validation; in training with LoaderConfig::ignore_regions (after augmentation, class as given).
  std::vector<float> crowd;
  std::vector<std::string> paths;    // image file of each image (the first part of a mosaic)
  std::vector<int> sample_indices;   // index of each image in split.samples
  std::vector<uint8_t> rgb;          // per image: 1 = channels are R,G,B; 0 = B,G,R
  // Per image: original image -> network input (validation: map predictions back with
  // undo_letterbox). Identity (scale 1, no padding) in training, where nothing is mapped back.
  std::vector<Letterbox> letterboxes;

  size_t num_targets() const { return targets.size() / 6; }
};

class DataLoader {
 public:
  // Throws yolonas::Error when the split is empty, or (strict) when it has label errors, or when
  // drop_last leaves no batch.
  DataLoader(DataSplit split, LoaderConfig cfg);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  size_t num_samples() const;        // images used (after ignore_empty)
  long batches_per_epoch() const;
  const LoaderConfig& config() const;
  const std::vector<std::string>& names() const;

  // Starts preparing the batches of `epoch` on the worker threads (stops any previous epoch).
  void start_epoch(int epoch);
  // Next batch of the current epoch, in order; false when the epoch is finished. Starts epoch 0 if
  // none was started. Rethrows a worker's error (yolonas::Error naming the file).
  bool next(Batch& batch);

  // Builds batch `index` of `epoch` on the calling thread (same result as the threaded path).
  Batch make_batch(int epoch, long index);

  // Warnings gathered so far (skipped images when strict=false), each once; clears the list.
  std::vector<std::string> take_warnings();
  // Largest number of prepared batches that were waiting at once (for the bounded-queue test).
  size_t max_queued() const;
  size_t cache_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolonas
