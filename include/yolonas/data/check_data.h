// Dataset validation (`yolonas check-data`): every problem of a dataset (YOLO, COCO json or Pascal
// VOC) with its file and line,
// counted per kind, before any training starts. The trainer calls check_dataset() too and refuses a
// dataset with errors (strict=true) or warns and skips the bad rows / images (strict=false).
//
// Label rows are parsed by the dataset reader (dataset.h), so training sees exactly what is checked
// here; this module adds what the reader cannot know: image decoding, label files without an image,
// duplicates written differently, boxes extending past the image, images shared between splits.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "yolonas/data/dataset.h"

namespace yolonas {

enum class CheckKind {
  // From the label reader (IssueKind).
  BadRow,           // malformed line: wrong number of values, or not a number
  BadClass,         // unknown class id (negative, not an integer, or >= number of names)
  OutOfBounds,      // a normalized coordinate outside [0, 1]
  ZeroSize,         // box width or height <= 0
  Duplicate,        // the same box twice in one file (kept once)
  // Added here.
  MissingImage,     // an image listed in a .txt split does not exist
  UnreadableImage,  // OpenCV cannot decode the image, or it is no regular file (a folder, a FIFO)
  TruncatedJpeg,    // JPEG without its end marker: decodes, but the bottom rows may be grey
  BoxOutsideImage,  // cx +- w/2 or cy +- h/2 beyond [0, 1]: the box is clipped to the image
  LabelWithoutImage,// a label file that no image of the split uses (image/label mismatch)
  SplitOverlap,     // images in two checked splits (one report per pair of splits)
  EmptySplit,       // a split with no image
  MissingLabel,     // VOC: an image without its xml (trained as a background image)
  DefaultedField,   // COCO / VOC: a value the file lacks was filled in (area, iscrowd, image size)
};

const char* check_kind_name(CheckKind kind);  // "bad_row", "unreadable_image", ...
bool check_kind_is_error(CheckKind kind);     // errors make the dataset unusable with strict=true

struct DataProblem {
  std::string file;  // label file or image
  int line = 0;      // 1-based line in `file`, 0 when not about one line
  CheckKind kind = CheckKind::BadRow;
  std::string message;
  std::string split;
  // How many problems this entry stands for: 1, or for a summary of the problems of one kind in one
  // file past kMaxIssuesPerKind ("... and 980 more bad_row problems in this file"), their count.
  int count = 1;

  // "labels/train/a.txt:3: bad_class: class 7 >= 3 names" (a very long path is clipped)
  std::string str() const;
};

struct SplitStats {
  std::string split;
  int images = 0;          // image files listed
  int label_files = 0;     // images with a label file
  int background = 0;      // images without a label file or with an empty one (no objects; counted, not an error)
  int boxes = 0;           // boxes kept (valid rows)
  int bad_images = 0;      // missing or unreadable
  std::vector<int> boxes_per_class;  // index = class
};

struct DataReport {
  std::string data;                 // data.yaml (or dataset folder / json) path
  DataFormat format = DataFormat::Yolo;
  std::vector<std::string> names;
  std::vector<SplitStats> splits;
  // Per split, sorted by file and line; a file shared by several splits is reported once. At most
  // kMaxIssuesPerKind problems of one kind are listed per file, then one summary entry counts the rest.
  std::vector<DataProblem> problems;
  std::set<std::string> bad_images;   // missing or unreadable images (skipped with strict=false)

  // Counts of problems (summary entries count for the problems they stand for).
  int count(CheckKind kind) const;
  std::map<CheckKind, int> counts() const;
  int errors() const;
  int warnings() const;
  bool ok() const { return errors() == 0; }

  // The per-split table and the count per kind ("bad_class  2  error").
  std::string summary() const;
  // Every problem, one per line; max_lines > 0 truncates with "... and N more".
  std::string details(size_t max_lines = 0) const;
};

struct CheckOptions {
  bool decode_images = true;  // decode every image (the slow part); false: only check they exist
  int workers = 2;            // threads decoding images
  bool progress = false;      // progress bar on stderr while decoding
};

// Checks the given splits of a data.yaml (empty list: every split it defines). Throws yolonas::Error
// only for structural problems (a split missing from the yaml, a split source that does not exist,
// a symlink loop or a folder that cannot be listed).
// `loaded`, when given, receives the splits as read (the trainer uses them instead of reading the
// label files again).
DataReport check_dataset(const DataYaml& data, const std::vector<std::string>& splits = {},
                         const CheckOptions& options = {}, std::map<std::string, YoloSplit>* loaded = nullptr);

// For the trainer: strict and errors -> throws yolonas::Error with the summary and the first problems;
// otherwise returns the lines to print as warnings (problems, at most max_listed, and what is skipped),
// without a "warning:" prefix.
std::vector<std::string> enforce_data_report(const DataReport& report, bool strict, size_t max_listed = 20);

// Removes the report's bad images from a split (strict=false training).
void drop_bad_images(YoloSplit& split, const DataReport& report);

}  // namespace yolonas
