// Training augmentations with SuperGradients' semantics (YOLO_NAS_SPEC.md §6.3-6.4), as small units
// on a Sample (BGR uint8 image + pixel xyxy boxes). Every random unit takes an explicit Rng, so a run
// is reproducible from its seed; every unit also has a deterministic form (explicit centre, matrix or
// gains) that the tests use to check boxes exactly. No unit writes into the pixels of its input
// image (cv::Mat copies share pixels, e.g. with the loader's RAM cache): results go to new buffers.
//
// The training pipeline (augment_train) applies, in SG's order for the YOLO-format / Roboflow recipes:
//   mosaic -> random affine -> mixup -> HSV -> horizontal flip -> rescale + pad -> final box filter,
// clipping boxes to the image and dropping degenerate ones after every geometric step (SG rebuilds a
// DetectionSample after each transform, which clips and drops zero-area boxes).
//
// Random numbers come from our own draws on std::mt19937 (rand_uniform / rand_int), not from
// std::uniform_*_distribution, whose output differs between standard libraries: a seed gives the same
// augmentations with GCC, Clang and MSVC. The numbers differ from Python's (SG uses `random` and
// numpy), so runs are reproducible, not identical to SG's.
#pragma once
#include <array>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "yolonas/core/rng.h"
#include "yolonas/detect/preprocess.h"  // Letterbox

namespace yolonas {

// One object: corners in pixels of the sample's current image, class index.
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int cls = 0;
  float width() const { return x2 - x1; }
  float height() const { return y2 - y1; }
};

struct Sample {
  cv::Mat image;            // 8-bit, 3 channels, BGR (cv::imread order)
  std::vector<Box> boxes;
};


// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

// Defaults = SG's fine-tuning recipe `roboflow_yolo_nas_s.yaml` (train transforms of
// roboflow_detection_dataset_params.yaml, YOLO_NAS_SPEC.md §6.3). coco_recipe() gives
// coco_detection_yolo_nas_dataset_params.yaml (§6.4). Every unit can be switched off.
struct AugmentConfig {
  // DetectionMosaic(input_dim=imgsz, prob=1): 4 images on a 2x canvas, centre U(0.5,1.5)*size.
  bool mosaic = true;
  double mosaic_prob = 1.0;
  int mosaic_border_value = 114;  // SG default (the recipe does not set it)

  // DetectionRandomAffine(degrees=0, translate=0.1, scales=[0.5,1.5], shear=0, target_size=imgsz,
  // filter_box_candidates=False, border_value=128). 128 (not 114) is what the Roboflow recipe and the
  // in-repo QAT notebook set, so the affine border is mid-grey while mosaic/pad borders are 114.
  bool affine = true;
  double degrees = 0.0;          // rotation U(-degrees, degrees)
  double translate = 0.1;        // output centre at U(0.5-t, 0.5+t) * output size
  double scale_min = 0.5, scale_max = 1.5;
  double shear = 0.0;            // degrees, U(-shear, shear), x and y drawn separately
  int affine_border_value = 128;
  bool affine_keep_size = false; // true: output = input image size (SG target_size None, COCO recipe)
  bool filter_candidates = false;  // SG's box-candidate filter (COCO recipe: on)
  double wh_thr = 2.0;           // keep boxes wider and taller than this (px) after the warp
  double area_thr = 0.1;         // keep boxes whose area ratio (after / before warp) is above this
  double ar_thr = 20.0;          // keep boxes whose aspect ratio is below this

  // DetectionMixup: off in the fine-tuning recipe; COCO recipe p=0.5, scale [0.5,1.5], flip 0.5, 114.
  bool mixup = false;
  double mixup_prob = 1.0;
  double mixup_scale_min = 0.5, mixup_scale_max = 1.5;
  double mixup_flip_prob = 0.5;
  int mixup_border_value = 114;

  // DetectionHSV(prob=1, hgain=5, sgain=30, vgain=30); gains U(-1,1)*g, each zeroed with p=0.5.
  bool hsv = true;
  double hsv_prob = 1.0;
  double hgain = 5.0, sgain = 30.0, vgain = 30.0;

  // DetectionHorizontalFlip(0.5).
  bool flip = true;
  double flip_prob = 0.5;

  // DetectionRGB2BGR: probability to reverse the channel order of a training image. Not in the
  // fine-tuning recipe (0: the model trains on BGR); COCO recipe 0.5 (both orders). Applied by the
  // loader when it writes the CHW floats; SG applies it before HSV, we after, so HSV always sees BGR.
  double rgb2bgr_prob = 0.0;

  // DetectionPaddedRescale(imgsz, pad_value=114): longest side to imgsz (int truncation), pad
  // bottom-right.
  int pad_value = 114;

  // Box filtering. After each geometric step boxes are clipped to the image and those with
  // min(w, h) <= step_min_box_edge dropped (0 = SG: only zero-area boxes go). At the end
  // DetectionTargetsFormatTransform drops min(w, h) <= min_box_edge (1 px).
  float step_min_box_edge = 0.0f;
  float min_box_edge = 1.0f;

  static AugmentConfig finetune_recipe() { return {}; }  // = the defaults
  static AugmentConfig coco_recipe();
  static AugmentConfig none();  // every random unit off: rescale + pad only
  std::string describe() const; // one line per enabled unit, for logs / args.yaml
};

// ---------------------------------------------------------------------------------------------
// Units
// ---------------------------------------------------------------------------------------------

// Clips boxes to [0, W] x [0, H] and drops those with min(w, h) <= min_edge (a negative min_edge
// keeps every box, clipped).
void clip_and_filter_boxes(Sample& s, float min_edge);

// Longest side to fit max_h x max_w: r = min(max_h/h, max_w/w), size (int(w*r), int(h*r)),
// INTER_LINEAR (SG DetectionDataset._load_resized_img; also upsamples). Boxes x r. Returns r.
double rescale_to_fit(Sample& s, int max_h, int max_w);

// Mosaic of 4 samples on a (2*out_h) x (2*out_w) canvas filled with border_value. Each part is first
// rescaled to fit out_h x out_w, then placed with a corner on the centre (xc, yc): part 0 top-left,
// 1 top-right, 2 bottom-left, 3 bottom-right, cropped where it overflows.
Sample mosaic4_at(const std::array<Sample, 4>& parts, int out_h, int out_w, int xc, int yc, int border_value);
// Centre yc = int(U(0.5, 1.5) * out_h), then xc likewise (SG's draw order).
Sample mosaic4(const std::array<Sample, 4>& parts, int out_h, int out_w, int border_value, Rng& rng);

// SG's matrix M = T * Sh * R * C for an in_h x in_w image warped into out_h x out_w:
// C moves (in_w//2, in_h//2) to the origin; R rotates by U(-deg, deg) and scales by U(smin, smax)
// (cv::getRotationMatrix2D convention); Sh = [[1, tan(shx)], [tan(shy), 1]]; T moves the origin to
// (U(0.5-t, 0.5+t) * out_w, U(0.5-t, 0.5+t) * out_h). SG multiplies the x offset by the output
// *height* (a mirror-image bug, harmless for square outputs); we use the width.
cv::Matx23d random_affine_matrix(int in_h, int in_w, int out_h, int out_w, const AugmentConfig& cfg, Rng& rng);

// Warps image and boxes with M: each box's 4 corners are transformed, the new box is their min/max,
// clipped to the output. With cfg.filter_candidates, SG's candidate filter (wh_thr, area_thr, ar_thr
// against the box before the warp) drops boxes. Border filled with cfg.affine_border_value.
void warp_affine(Sample& s, const cv::Matx23d& M, int out_h, int out_w, const AugmentConfig& cfg);

// random_affine_matrix + warp_affine.
void random_affine(Sample& s, int out_h, int out_w, const AugmentConfig& cfg, Rng& rng);

// SG DetectionMixup on `base` (the current image, size H x W) with `other` (a raw dataset sample):
// other is h-flipped with cfg.mixup_flip_prob, fitted into an H x W canvas (top-left, rest
// mixup_border_value), scaled by jit = U(mixup_scale_min, max), pasted top-left on a zero canvas of
// max(size, H x W), cropped back to H x W at a random offset; image = trunc(0.5*base + 0.5*other);
// other's boxes are scaled, clipped, shifted, clipped and appended.
void mixup(Sample& base, Sample other, const AugmentConfig& cfg, Rng& rng);

// SG augment_hsv: gains U(-1,1)*[hgain,sgain,vgain], each kept with p=0.5 (randint(0,2)), truncated
// to int; then apply_hsv_shift. Boxes are unchanged. Returns the shifts used {dh, ds, dv}.
std::array<int, 3> augment_hsv(cv::Mat& bgr, double hgain, double sgain, double vgain, Rng& rng);
// BGR -> HSV (OpenCV 8-bit: H in [0,180)), H = (H + dh) mod 180, S and V + ds/dv clipped to
// [0, 255], back to BGR. Always converts (even with zero shifts) because SG does: the uint8 round
// trip is not exactly the identity.
void apply_hsv_shift(cv::Mat& bgr, int dh, int ds, int dv);

// Mirrors the image left-right; x1' = W - x2, x2' = W - x1.
void hflip(Sample& s);

// DetectionPaddedRescale (center=false: bottom-right padding, SG training and fine-tuning val) or
// longest-side rescale + DetectionPadToSize (center=true): r = min(out_h/h, out_w/w), resize to
// (int(w*r), int(h*r)) INTER_LINEAR, pad to out_h x out_w with pad_value (centre: top = pad//2).
// Boxes are scaled by r and shifted by the padding. Returns the geometry (src = the input image).
Letterbox rescale_and_pad(Sample& s, int out_h, int out_w, int pad_value, bool center);

// DetectionPadIfNeeded / DetectionPadToSize: pads (never resizes) to at least out_h x out_w with
// pad_value, bottom-right or centred (top = pad//2); boxes shifted. Returns the geometry (scale 1).
Letterbox pad_to_size(Sample& s, int out_h, int out_w, int pad_value, bool center);

// ---------------------------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------------------------

// Returns a random raw dataset sample (decoded, rescaled to fit the training size) for mosaic and
// mixup; non_empty asks for one with at least one box (SG's mixup requires it).
using SampleSource = std::function<Sample(Rng& rng, bool non_empty)>;

// The training transforms on one raw sample, giving an out_h x out_w image with its boxes
// (clipped, min edge > min_box_edge). Draws only from `rng`.
Sample augment_train(Sample s, const AugmentConfig& cfg, int out_h, int out_w, const SampleSource& random_sample,
                     Rng& rng);

}  // namespace yolonas
