// Dataset readers for training, validation and check-data:
//   (a) Ultralytics / Roboflow YOLO format: data.yaml + images/ and labels/ parallel trees, one
//       `class cx cy w h` (normalized) row per object;
//   (b) COCO instances json (images, annotations with bbox xywh / area / iscrowd, categories);
//   (c) Pascal VOC xml (one file per image, see voc.h).
// Every format is read into the same DataSplit (normalized boxes per image), which the loader, the
// trainer and check-data use; open_dataset() accepts a data.yaml of any format, a COCO or VOC
// dataset folder, or one COCO json.
// Problems in label files are collected as DatasetIssue records (file, line, kind, message) instead
// of stopping at the first one, so that `val` and `check-data` can report them all. Structural
// problems (unreadable yaml/json, missing split, missing field) throw yolonas::Error naming the file
// and the field.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"

namespace yolonas {

// ---------------------------------------------------------------------------------------------
// Limits and file checks shared by the dataset readers
// ---------------------------------------------------------------------------------------------

// What a dataset file may cost: a broken or hostile file gets a clear error instead of minutes of
// work, gigabytes of memory or millions of printed lines.
constexpr uintmax_t kMaxLabelFileBytes = 16u << 20;  // one YOLO label file or VOC xml (one image)
constexpr uintmax_t kMaxYamlFileBytes = 16u << 20;   // data.yaml
constexpr int kMaxLabelRows = 10000;                 // objects (non-blank rows) in one YOLO label file
constexpr size_t kMaxRowValues = 100001;             // values in one label row: a 50,000-point polygon
constexpr int kMaxIssuesPerKind = 20;                // problems of one kind listed per file, then "... and N more"

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
  BoxOutsideImage, // COCO / VOC: a box reaching past the image (clipped to it)
  MissingLabel,    // VOC: an image without its xml (used as a background image)
  // Found by check-data (check_data.h), which sees whole splits and decodes the images.
  TruncatedJpeg,     // JPEG without its end marker: decodes, but the bottom rows may be grey
  LabelWithoutImage, // a label file that no image of the split uses (image/label mismatch)
  SplitOverlap,      // images in two checked splits (one report per pair of splits)
  EmptySplit,        // a split with no image
};

const char* issue_kind_name(IssueKind kind);  // "bad_row", "bad_class", ...
// Warnings leave the data usable (the row is kept or a default applies); errors drop the row/image.
bool issue_is_error(IssueKind kind);

struct DatasetIssue {
  std::string file;  // label file, image, or json
  int line = 0;      // 1-based line in `file`; 0 when not about one line
  IssueKind kind = IssueKind::BadRow;
  std::string message;
  std::string split;  // check-data: the split it was found in ("" when not about one split)
  // How many problems this entry stands for: 1, or for a summary that replaces the problems of one
  // kind past kMaxIssuesPerKind in one file ("... and 980 more rows with this problem"), their count.
  int count = 1;

  // "labels/val/a.txt:3: bad_class: class 7 >= 3 names" (a very long path is clipped)
  std::string str() const;
};

// ---------------------------------------------------------------------------------------------
// (a) YOLO format
// ---------------------------------------------------------------------------------------------

class CocoDataset;

enum class DataFormat { Yolo, Coco, Voc };
const char* data_format_name(DataFormat format);  // "yolo", "coco", "voc"

// One parsed data.yaml (or a dataset folder / COCO json seen as one, see open_dataset). Split sources
// are resolved to absolute paths but not yet expanded into image files:
//   yolo: folders of images, .txt lists of images, images;
//   coco: one instances json per split (images folder: image_dirs[split], or found beside the json);
//   voc:  ImageSets-style id lists (<root>/ImageSets/Main/train.txt: images in <root>/JPEGImages, xml
//         in <root>/Annotations), or folders / .txt lists of images with the xml found by voc_xml_path().
struct DataYaml {
  std::string yaml_path;                                   // the file (or folder) read, for messages
  std::string root;                                        // resolved `path` (default: the yaml's folder)
  DataFormat format = DataFormat::Yolo;
  std::vector<std::string> names;                          // class index -> name
  std::map<std::string, std::vector<std::string>> splits;  // "train"/"val"/"test" -> sources
  std::map<std::string, std::string> image_dirs;           // coco: split -> images folder when given
  // coco: the parsed json of each split (read once, shared by the copies of this struct).
  std::map<std::string, std::shared_ptr<const CocoDataset>> coco;
};

// Reads data.yaml: `path` (relative to the yaml's folder when relative), `train`/`val`/`test` (each a
// folder, a .txt list of images, an image, or a list of those; relative to `path`; Roboflow's
// "../train/images" is retried without the leading "../" when it does not exist, as Ultralytics does),
// `names` as a list or as a {index: name} map with keys 0..N-1, optional `nc` (must equal the count).
// `format: yolo|coco|voc` (optional): a split given as a .json is COCO, one inside an ImageSets folder
// is VOC. COCO splits may be written `train: {json: annotations/instances_train.json, images: images/train}`;
// COCO names come from the json categories (a `names` list, if given, must agree); VOC names default to
// the 20 VOC classes, or to the sorted names found in the xml files when those are not all VOC classes.
// A key written twice in one mapping (and a class index given twice in `names`) is an error naming
// the file and line.
DataYaml load_data_yaml(const std::string& path);

// COCO / VOC: fills `names` the way load_data_yaml documents (reads the COCO jsons into `coco`), or
// checks the given names against the jsons. Throws naming the files when train and val disagree.
void resolve_dataset_names(DataYaml& data);

// VOC: the xml of an image outside the ImageSets layout: the first that exists of <image>.xml with
// the extension replaced, and the image path with its last /JPEGImages/ or /images/ folder replaced
// by /Annotations/ (then /annotations/, /labels/). "" when none exists.
std::string voc_xml_path(const std::string& image_path);

// Image files of one split, sorted, duplicates removed. Throws when the split is absent or one of
// its sources does not exist. Folders are searched recursively for image extensions
// (bmp dng jpeg jpg mpo png tif tiff webp pfm heic, case-insensitive), following symlinked folders;
// a symlink that leads back into a folder above it (a loop) is an error naming the link. Relative
// lines in a .txt list are taken relative to the list's folder.
std::vector<std::string> list_split_images(const DataYaml& data, const std::string& split);

// Ultralytics' rule: the last "/images/" path component becomes "/labels/" and the extension ".txt".
std::string image_to_label_path(const std::string& image_path);

// Ignore regions of a YOLO dataset (our extension; other tools do not read it): the last "/images/"
// component becomes "/ignore/", the extension ".txt"; rows as in a label file. "" when the image path
// has no "/images/" component (its label file sits beside it, and so would this one). `autolabel
// ignore_conf=` writes them for the teacher's uncertain boxes; they load as LabeledImage::ignored.
std::string image_to_ignore_path(const std::string& image_path);

// One object of an image, in any format: class index and normalized centre box.
struct BoxLabel {
  int cls = 0;
  double cx = 0, cy = 0, w = 0, h = 0;  // normalized to the image size
  int line = 0;  // 1-based line of the row / object / annotation in its label file, xml or json; 0 = unknown
};

// Parses one label file. A row is `class cx cy w h`, or `class x1 y1 x2 y2 ... xn yn` (a polygon,
// n >= 3, as in Ultralytics segment labels: its bounding box is used); the class is an integer in
// [0, num_classes). Rows with problems are reported in `issues` and dropped (duplicates are kept
// once); past kMaxIssuesPerKind problems of one kind, one summary entry counts the rest. A missing
// file is not an error (no objects); returns false in that case. A label path that cannot be read as
// a label file -- a folder, a FIFO or device, a file over kMaxLabelFileBytes or with more than
// kMaxLabelRows rows -- is one bad_row issue (line 0) and gives no labels; load_yolo_split() leaves
// its image out (its objects are unknown). A leading UTF-8 BOM is skipped. num_classes <= 0 skips the
// class-range check (the class must still fit an int).
bool read_yolo_label_file(const std::string& label_path, int num_classes, std::vector<BoxLabel>& labels,
                          std::vector<DatasetIssue>& issues);

struct ImageSize {
  int width = 0, height = 0;
};

// One image of a split with its objects (YOLO label file, COCO annotations or VOC xml).
struct LabeledImage {
  std::string image;          // image path
  std::string label;          // expected label path (may not exist); COCO: the json; VOC: the xml
  bool has_label_file = false;
  std::vector<BoxLabel> labels;
  // COCO iscrowd / VOC difficult / YOLO ignore/ rows: no training targets (train ignore_regions=true
  // exempts the anchors inside them from the classification loss), ignored when evaluating.
  std::vector<BoxLabel> ignored;
  ImageSize size;             // from the json / xml (0 x 0 when the format does not record it)
  int64_t image_id = -1;      // COCO: the image's id in the json
};

// One split of a dataset of any format, as the loader, the trainer, check-data and val use it.
struct DataSplit {
  DataFormat format = DataFormat::Yolo;
  std::vector<std::string> names;
  std::vector<LabeledImage> samples;     // sorted by image path (COCO: in json order)
  std::vector<DatasetIssue> issues;    // label problems, in file order
  int missing_label_files = 0;         // images without a label file (= background images)
};

// Lists the split's images and reads every label file (and ignore file, image_to_ignore_path). Images
// are not opened here: labels are normalized, and the pixel size is known once the caller loads the
// image. An image whose label or ignore file cannot be read (see read_yolo_label_file) is left out,
// with the issue in `issues`.
DataSplit load_yolo_split(const DataYaml& data, const std::string& split);

// data= as the user gives it: a data.yaml; a folder holding data.yaml; a COCO folder
// (annotations/instances_<split>*.json, images beside them as resolve_coco_image_root() finds);
// a VOC folder (<root>/ImageSets/Main/{train,val,trainval,test}.txt + Annotations + JPEGImages; a
// VOCdevkit folder with VOC2007/VOC2012 inside gives the usual 07+12 split: train = every trainval
// list, val = VOC2007 test); or one COCO json (a single split named after the file: train, val or
// test when its name says so, else val). Throws naming the path and what was expected.
DataYaml open_dataset(const std::string& data);

// Reads one split of any format into normalized boxes (YOLO rows, COCO annotations, VOC objects).
// COCO crowd boxes and VOC difficult objects go to LabeledImage::ignored (not trained on, ignored in
// evaluation). Problems are reported in the split's issues with file and line.
DataSplit load_split(const DataYaml& data, const std::string& split);

// Normalized cx,cy,w,h -> pixel x,y,w,h (top-left corner) for a width x height image.
void yolo_to_pixel_xywh(const BoxLabel& label, ImageSize size, double xywh[4]);

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
  int line = 0;                   // line of the entry in the json (tolerant reads), 0 when unknown
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
// "instances.json: annotations[17]: missing field 'bbox'". Numbers are checked before they are
// converted (an id past int64, a width that is no integer in 0..2^31-1, a non-finite bbox value),
// and those errors also name the entry's line: "instances.json:30: images[3]: field 'width' must be
// an integer in 0..2147483647, got 4294967360". The file must be a regular file (not a FIFO).
//
// With `issues` (check-data, training), an annotation with a problem is reported there -- with its
// line in the file and its index -- and dropped instead of throwing: a missing or mistyped field
// (bad_row), an unknown image (bad_row) or category (bad_class), a repeated id (duplicate).
CocoDataset load_coco_json(const std::string& path, std::vector<DatasetIssue>* issues = nullptr);
CocoDataset parse_coco_json(const std::string& text, const std::string& source,
                            std::vector<DatasetIssue>* issues = nullptr);

// 1-based line of each element of the top-level array `key` ("annotations") of a JSON text, in order;
// empty when there is no such array. A scanner, not a parser: call it on text that parses.
std::vector<int> json_array_element_lines(const std::string& text, const std::string& key);

// COCO ground truth for a YOLO split whose image sizes are known: image ids 0..N-1 in sample
// order, category id = class index, annotation ids from 1 (pycocotools treats a ground-truth id of 0
// as "no match", so 0 is never used), area = w*h in pixels, iscrowd 0 (1 for the ignored boxes).
CocoDataset coco_from_yolo(const DataSplit& split, const std::vector<ImageSize>& sizes);

// Folder that COCO `file_name`s are relative to: `images_dir` when given, else the first of
// <json folder>, <json folder>/images, <json folder>/../images/<json stem without "instances_">,
// <json folder>/../<same stem>, <json folder>/../images that holds the first image. Throws when none does.
std::string resolve_coco_image_root(const CocoDataset& data, const std::string& json_path,
                                    const std::string& images_dir = "");

}  // namespace yolonas
