// Synthetic detection datasets from Debian-packaged images (`yolonas synth`).
//
// Photo-like RGBA cut-outs from the `tuxpaint-stamps-default` package are pasted onto background
// photos from other Debian packages (opencv-doc, mate-backgrounds, lomiri-wallpapers-16.04,
// plasma-workspace-wallpapers) with random scale, position, flip, rotation, brightness and mutual
// occlusion. Boxes are exact: they come from the alpha channel of each pasted (transformed)
// cut-out, minus what later cut-outs cover. The result is an Ultralytics YOLO dataset:
//   OUT/images/{train,val}/NNNNNN.jpg, OUT/labels/{train,val}/NNNNNN.txt, OUT/data.yaml
//
// Box rule (see docs/SYNTH.md):
//   * a pixel belongs to a pasted cut-out when its transformed alpha is >= 128 (kSynthAlphaOn);
//   * a cut-out's visible pixels are its pixels inside the image that no later-pasted cut-out
//     (labelled or distractor) covers; its box is the tight box of its visible pixels;
//   * a new cut-out is only pasted where every labelled cut-out (earlier ones and itself) keeps at
//     least `min_visible` of its pixels visible; otherwise other positions are tried, and after
//     kSynthPlacementTries failures it is left out. No label is ever dropped after pasting, so every
//     labelled cut-out visible in an image has its box.
//
// Determinism: image i of a split depends only on (seed, split, i), the config and the installed
// asset files, never on `workers` or timing. JPEG bytes are identical run to run.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace yolonas {

class Progress;

// Where Debian's tuxpaint-stamps-default puts the stamps.
inline constexpr const char* kTuxpaintStampsDir = "/usr/share/tuxpaint/stamps";
inline constexpr const char* kTuxpaintPackage = "tuxpaint-stamps-default";
inline constexpr int kSynthAlphaOn = 128;        // alpha >= this: the pixel belongs to the object
inline constexpr int kSynthPlacementTries = 12;  // positions tried per cut-out before leaving it out

// ---- Asset tables ------------------------------------------------------------------------------

// One photo-like tuxpaint stamp and the COCO class it shows. `file` is relative to the stamps dir.
struct SynthStampEntry {
  std::string file;        // relative to the stamps dir
  std::string coco_class;
};
// The labelled cut-outs (documented in docs/SYNTH.md). Cartoon drawings are not in it.
const std::vector<SynthStampEntry>& synth_stamp_table();

// Photo-like stamps of things that are not among the synth classes (flowers, tools, fish, lions,
// ...): pasted unlabelled as hard negatives. Relative to the stamps dir.
const std::vector<std::string>& synth_distractor_table();

// A background photo or texture, chosen to show none of the synth classes.
struct SynthBackgroundEntry {
  std::string path;     // absolute path where the Debian package installs it
  std::string package;  // Debian package
};
const std::vector<SynthBackgroundEntry>& synth_background_table();
// The packages of synth_background_table(), in table order, without repeats.
std::vector<std::string> synth_background_packages();

// The classes of synth_stamp_table() in COCO (SuperGradients) order: the default class list.
std::vector<std::string> synth_default_classes();

// ---- Configuration -----------------------------------------------------------------------------

// A user-supplied cut-out (RGBA image) and its class name; replaces the tuxpaint table.
struct SynthCutoutFile {
  std::string path;
  std::string class_name;
};

struct SynthConfig {
  std::string out_dir;        // dataset root (created)
  int n_train = 2000;
  int n_val = 300;
  int imgsz = 640;            // long side of every image; the short side is imgsz or 3/4 or 9/16 of it
  std::vector<std::string> classes;  // class names in class-id order; empty = all (see below)
  uint64_t seed = 0;
  int workers = 2;            // threads; <= 0: all cores. Output does not depend on it.
  int jpeg_quality = 90;
  bool exist_ok = false;      // replace OUT/images/{train,val}, OUT/labels/{train,val}, data.yaml

  int max_objects = 6;        // labelled cut-outs per image: uniform 1..max_objects
  double empty_prob = 0.05;   // probability of an image with no labelled cut-out
  int max_distractors = 2;    // unlabelled distractor cut-outs per image: uniform 0..max
  double min_size = 0.08;     // object long side, as a fraction of the image's short side (log-uniform)
  double max_size = 0.65;
  double max_upscale = 3.0;   // never enlarge a cut-out more than this (small stamps stay sharp)
  double max_rotation = 15.0; // degrees; half of the cut-outs are not rotated
  double min_visible = 0.35;  // occlusion/border rule, see the file comment
  double procedural_prob = 0.08;  // probability of a generated (gradient + blobs) background
  // Photo-like compositing: how strongly a cut-out's mean colour is pulled toward the background's
  // (uniform 0..colour_match), and the probabilities of a feathered edge, of blurring a cut-out, of
  // sensor noise and of JPEG artefacts over the whole image (quality 35..90). 0 turns each off.
  double colour_match = 0.5;
  double feather_prob = 0.7;
  double object_blur_prob = 0.25;
  double noise_prob = 0.3;
  double jpeg_artefact_prob = 0.4;

  // Asset overrides. Empty = the Debian tables above.
  std::string stamps_dir = kTuxpaintStampsDir;
  std::vector<SynthCutoutFile> cutout_files;    // replaces the stamp table (and its distractors)
  std::vector<std::string> distractor_files;    // distractors used with cutout_files
  std::vector<std::string> background_files;    // replace the background table
  std::vector<std::string> background_dirs;     // images found here (recursively) replace it too
};

// ---- Assets ------------------------------------------------------------------------------------

// A cut-out ready to paste: premultiplied BGRA (colour channels already multiplied by alpha),
// cropped to its alpha > 0 box.
struct SynthCutout {
  int class_id = -1;          // -1: distractor (never labelled)
  std::string source;         // file it came from
  cv::Mat bgra;               // CV_8UC4, premultiplied
  bool mirror = true;         // may be flipped (false for stamps whose tuxpaint .dat says "nomirror":
                              // clock faces, text)
};

// Loads an RGBA image file as a SynthCutout (premultiplied, cropped; long side reduced to at most
// max_side when max_side > 0). Throws yolonas::Error when the file cannot be read or has no alpha.
SynthCutout load_synth_cutout(const std::string& path, int class_id, int max_side = 0);
// The same from an in-memory 8-bit BGRA image (straight, not premultiplied, alpha).
SynthCutout make_synth_cutout(const cv::Mat& bgra_straight, int class_id, const std::string& source = "");

// Everything generation needs: class names, cut-outs, background files (decoded lazily, cached).
class SynthAssets {
 public:
  SynthAssets();
  ~SynthAssets();
  SynthAssets(SynthAssets&&) noexcept;
  SynthAssets& operator=(SynthAssets&&) noexcept;

  std::vector<std::string> class_names;          // class id -> name
  std::vector<SynthCutout> cutouts;              // labelled cut-outs
  std::vector<std::vector<int>> cutouts_of_class;  // class id -> indices into cutouts
  std::vector<SynthCutout> distractors;
  std::vector<std::string> background_files;
  std::vector<std::string> notes;                // skipped files, missing optional packages

  // Background `i` decoded (BGR) with its long side reduced to at most max_side; thread-safe,
  // decoded once. Throws yolonas::Error when the file cannot be decoded.
  const cv::Mat& background(size_t i) const;
  void set_background_max_side(int max_side) { bg_max_side_ = max_side; }
  void reset_background_cache();  // call after changing background_files

 private:
  struct Slot;
  std::vector<std::unique_ptr<Slot>> slots_;
  int bg_max_side_ = 1280;
};

// Resolves the classes and loads the cut-outs and the background list for `config`. Throws
// yolonas::Error naming the Debian package to install when the tuxpaint stamps or every background
// are missing, and naming the known classes when `config.classes` has an unknown one.
SynthAssets load_synth_assets(const SynthConfig& config);

// ---- Rendering ---------------------------------------------------------------------------------

// How one cut-out is pasted: resized so that its long side is `long_side` pixels (<= 0: as is),
// mirrored horizontally when `flip`, rotated by `angle_deg` (counter-clockwise, about its centre,
// into the smallest patch that holds it; 0 = no resampling), brightness-adjusted
// (colour * gain + bias), and put with the patch's top-left corner at (x, y) (may be outside).
struct SynthPlacement {
  int cutout = 0;             // index into the cut-out list given to render_synth_image
  int long_side = 0;
  bool flip = false;
  double angle_deg = 0.0;
  double gain = 1.0, bias = 0.0;
  // Photo-like compositing (0 / 1 = off): per-channel colour gains (B, G, R) that pull the cut-out
  // toward the background's colour cast, a Gaussian blur of the cut-out (its sharpness matched to a
  // soft background), and a feathered edge (alpha blurred after the box mask is taken: boxes do not
  // change).
  double colour[3] = {1.0, 1.0, 1.0};
  double blur_sigma = 0.0;
  double feather_sigma = 0.0;
  int x = 0, y = 0;
};

struct SynthObject {
  int class_id = -1;          // -1: distractor
  int cutout = 0;
  cv::Rect patch;             // the transformed patch in image coordinates (may extend outside)
  int total_pixels = 0;       // pixels of the patch with alpha >= kSynthAlphaOn
  int visible_pixels = 0;     // of those, inside the image and not covered by later objects
  cv::Rect box;               // tight box of the visible pixels (empty when none)
  double visible_fraction() const { return total_pixels > 0 ? double(visible_pixels) / total_pixels : 0.0; }
};

struct SynthImage {
  cv::Mat image;                     // BGR
  std::vector<SynthObject> objects;  // in paste order, distractors included
};

// Pastes the cut-outs onto a copy of `background` (BGR) in order, with no acceptance rule and no
// global augmentation: exactly the given transforms. Used by tests and by synth_random_image.
SynthImage render_synth_image(const cv::Mat& background, const std::vector<SynthCutout>& cutouts,
                              const std::vector<SynthPlacement>& placements);

// The seed of image `index` of split `split` (0 = train, 1 = val) for a dataset seed.
uint64_t synth_image_seed(uint64_t seed, int split, int64_t index);

// One random image (background crop, cut-outs, distractors, photometric jitter) for an image seed.
SynthImage synth_random_image(const SynthAssets& assets, const SynthConfig& config, uint64_t image_seed);

// YOLO label rows for the labelled objects of an image: "cls cx cy w h\n", 6 decimals.
std::string synth_label_text(const SynthImage& img);

// ---- Dataset -----------------------------------------------------------------------------------

struct SynthSummary {
  std::string data_yaml;                 // OUT/data.yaml
  std::vector<std::string> class_names;  // class id -> name
  int64_t images = 0, boxes = 0, empty_images = 0;
  std::vector<int64_t> boxes_per_class;  // class id -> count (both splits)
  int backgrounds = 0, cutouts = 0, distractors = 0;
  double seconds = 0.0;
  std::vector<std::string> notes;        // from load_synth_assets
};

// Writes the whole dataset. `progress` may be null. Throws yolonas::Error on bad config, missing
// packages, or when OUT already holds a dataset and exist_ok is false.
SynthSummary generate_synthetic_dataset(const SynthConfig& config, Progress* progress = nullptr);

// The data.yaml text for a dataset root and class list (absolute `path`, images/train, images/val).
std::string synth_data_yaml(const std::string& root_abs, const std::vector<std::string>& names,
                            const std::string& comment = "");

}  // namespace yolonas
