// Dataset validation (`yolonas check-data`): every problem of a dataset (YOLO, COCO json or Pascal
// VOC) with its file and line,
// counted per kind, before any training starts. The trainer calls check_dataset() too and refuses a
// dataset with errors (strict=true) or warns and skips the bad rows / images (strict=false).
//
// Label rows are parsed once, by the dataset reader (dataset.h), so training sees exactly what is
// checked here; this module adds what the reader cannot know, on the rows the reader kept: image
// decoding, label files without an image, duplicates written differently, boxes extending past the
// image, images shared between splits. Every problem is a DatasetIssue (kinds: IssueKind).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "yolonas/data/dataset.h"

namespace yolonas {

struct SplitStats {
  std::string split;
  int images = 0;          // image files listed
  int label_files = 0;     // images with a label file
  int background = 0;      // images without a label file or with an empty one (no objects; counted, not an error)
  int boxes = 0;           // boxes kept (valid rows)
  int ignored = 0;         // ignored boxes: COCO crowd, VOC difficult, YOLO ignore/ rows
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
  std::vector<DatasetIssue> problems;
  std::set<std::string> bad_images;   // missing or unreadable images (skipped with strict=false)

  // Counts of problems (summary entries count for the problems they stand for).
  int count(IssueKind kind) const;
  std::map<IssueKind, int> counts() const;
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
                         const CheckOptions& options = {}, std::map<std::string, DataSplit>* loaded = nullptr);

// For the trainer: strict and errors -> throws yolonas::Error with the summary and the first problems;
// otherwise returns the lines to print as warnings (problems, at most max_listed, and what is skipped),
// without a "warning:" prefix.
std::vector<std::string> enforce_data_report(const DataReport& report, bool strict, size_t max_listed = 20);

// Removes the report's bad images from a split (strict=false training).
void drop_bad_images(DataSplit& split, const DataReport& report);

}  // namespace yolonas
