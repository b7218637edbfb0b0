// Dataset readers for validation (and later training):
//   (a) Ultralytics / Roboflow YOLO format: data.yaml + images/ and labels/ parallel trees, one
//       `class cx cy w h` (normalized) row per object;
//   (b) COCO instances json (images, annotations with bbox xywh / area / iscrowd, categories).
// Problems in label files are collected as DatasetIssue records (file, line, kind, message) instead
// of stopping at the first one, so that `val` can report them all and a future `check-data` command
// can reuse the same reader. Structural problems (unreadable yaml/json, missing split, missing field)
// throw yolonas::Error naming the file and the field.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace yolonas {

// ---------------------------------------------------------------------------------------------
// Issues
// ---------------------------------------------------------------------------------------------

enum class IssueKind {
  BadRow,          // wrong number of values, or a value that is not a number
  BadClass,        // class index negative, not an integer, or >= number of names
  OutOfBounds,     // normalized coordinate outside [0, 1]
  ZeroSize,        // box width or height <= 0
  Duplicate,       // the same row twice in one file (kept once)
  MissingImage,    // a listed image file does not exist
  UnreadableImage, // the image exists but OpenCV cannot decode it
  DefaultedField,  // COCO json: a field pycocotools needs was absent and a default was used
};

const char* issue_kind_name(IssueKind kind);  // "bad_row", "bad_class", ...
// Warnings leave the data usable (the row is kept or a default applies); errors drop the row/image.
bool issue_is_error(IssueKind kind);

struct DatasetIssue {
  std::string file;  // label file, image, or json
  int line = 0;      // 1-based line in `file`; 0 when not about one line
  IssueKind kind = IssueKind::BadRow;
  std::string message;

  // "labels/val/a.txt:3: bad_class: class 7 >= 3 names"
  std::string str() const;
};

// ---------------------------------------------------------------------------------------------
// (a) YOLO format
// ---------------------------------------------------------------------------------------------

// One parsed data.yaml. Split sources are resolved to absolute paths (folders, .txt lists or images)
// but not yet expanded into image files.
struct DataYaml {
  std::string yaml_path;                                   // the file read
  std::string root;                                        // resolved `path` (default: the yaml's folder)
  std::vector<std::string> names;                          // class index -> name
  std::map<std::string, std::vector<std::string>> splits;  // "train"/"val"/"test" -> sources
};

// Reads data.yaml: `path` (relative to the yaml's folder when relative), `train`/`val`/`test` (each a
// folder, a .txt list of images, an image, or a list of those; relative to `path`; Roboflow's
// "../train/images" is retried without the leading "../" when it does not exist, as Ultralytics does),
// `names` as a list or as a {index: name} map with keys 0..N-1, optional `nc` (must equal the count).
DataYaml load_data_yaml(const std::string& path);

// Image files of one split, sorted, duplicates removed. Throws when the split is absent or one of
// its sources does not exist. Folders are searched recursively for image extensions
// (bmp dng jpeg jpg mpo png tif tiff webp pfm heic, case-insensitive). Relative lines in a .txt
// list are taken relative to the list's folder.
std::vector<std::string> list_split_images(const DataYaml& data, const std::string& split);

// Ultralytics' rule: the last "/images/" path component becomes "/labels/" and the extension ".txt".
std::string image_to_label_path(const std::string& image_path);

struct YoloLabel {
  int cls = 0;
  double cx = 0, cy = 0, w = 0, h = 0;  // normalized to the image size
};

// Parses one label file. A row is `class cx cy w h`, or `class x1 y1 x2 y2 ... xn yn` (a polygon,
// n >= 3, as in Ultralytics segment labels: its bounding box is used). Rows with problems are
// reported in `issues` and dropped (duplicates are kept once). A missing file is not an error (no
// objects); returns false in that case. num_classes <= 0 skips the class-range check.
bool read_yolo_label_file(const std::string& label_path, int num_classes, std::vector<YoloLabel>& labels,
                          std::vector<DatasetIssue>& issues);

struct YoloSample {
  std::string image;          // image path
  std::string label;          // expected label path (may not exist)
  bool has_label_file = false;
  std::vector<YoloLabel> labels;
};

struct YoloSplit {
  std::vector<std::string> names;
  std::vector<YoloSample> samples;     // sorted by image path
  std::vector<DatasetIssue> issues;    // label problems, in file order
  int missing_label_files = 0;         // images without a label file (= background images)
};

// Lists the split's images and reads every label file. Images are not opened here: labels are
// normalized, and the pixel size is known once the caller loads the image.
YoloSplit load_yolo_split(const DataYaml& data, const std::string& split);

struct ImageSize {
  int width = 0, height = 0;
};

// Normalized cx,cy,w,h -> pixel x,y,w,h (top-left corner) for a width x height image.
void yolo_to_pixel_xywh(const YoloLabel& label, ImageSize size, double xywh[4]);

// ---------------------------------------------------------------------------------------------
// (b) COCO instances json
// ---------------------------------------------------------------------------------------------

struct CocoImage {
  int64_t id = 0;
  std::string file_name;
  int width = 0, height = 0;  // 0 when the json has none
};

struct CocoCategory {
  int64_t id = 0;
  std::string name;
};

struct CocoAnnotation {
  int64_t id = 0;
  int64_t image_id = 0;
  int64_t category_id = 0;
  double bbox[4] = {0, 0, 0, 0};  // x, y, w, h in pixels
  double area = 0;                // the annotation's `area` (segment area in COCO, not w*h)
  bool iscrowd = false;
};

// A COCO ground-truth set. Categories are kept sorted by id: the position in `categories` is the
// contiguous class index 0..K-1 that models use, and category_id() maps it back for results files.
class CocoDataset {
 public:
  std::string source;                       // file name, for messages
  std::vector<CocoImage> images;            // in file order
  std::vector<CocoCategory> categories;     // sorted by id
  std::vector<CocoAnnotation> annotations;  // in file order (pycocotools keeps this order per image)
  std::vector<DatasetIssue> notes;          // defaults applied while reading

  // Rebuilds the id -> position maps; call after editing images/categories by hand.
  // Throws on duplicate ids. Sorts categories by id.
  void build_index();

  int class_index(int64_t category_id) const;  // -1 when unknown
  int64_t category_id(int class_index) const;
  long image_index(int64_t image_id) const;    // position in `images`, -1 when unknown
  std::vector<std::string> names() const;      // category names in class-index order
  int num_classes() const { return static_cast<int>(categories.size()); }

 private:
  std::unordered_map<int64_t, int> class_of_category_;
  std::unordered_map<int64_t, long> index_of_image_;
};

// Reads an instances json. Required: images[].id; annotations[].id/image_id/category_id/bbox(4
// numbers); categories[].id. Annotations must refer to listed images and categories. `area` and
// `iscrowd` default to bbox w*h and 0 when absent (pycocotools itself would fail on such a file; a
// DefaultedField note records it). Errors name the file, the entry and the field:
// "instances.json: annotations[17]: missing field 'bbox'".
CocoDataset load_coco_json(const std::string& path);
CocoDataset parse_coco_json(const std::string& text, const std::string& source);

// COCO ground truth for a YOLO split whose image sizes are known: image ids 0..N-1 in sample
// order, category id = class index, annotation ids from 1 (pycocotools treats a ground-truth id of 0
// as "no match", so 0 is never used), area = w*h in pixels, iscrowd 0.
CocoDataset coco_from_yolo(const YoloSplit& split, const std::vector<ImageSize>& sizes);

// Folder that COCO `file_name`s are relative to: `images_dir` when given, else the first of
// <json folder>, <json folder>/images, <json folder>/../images/<json stem without "instances_">,
// <json folder>/../<same stem> that holds the first image. Throws when none does.
std::string resolve_coco_image_root(const CocoDataset& data, const std::string& json_path,
                                    const std::string& images_dir = "");

}  // namespace yolonas
