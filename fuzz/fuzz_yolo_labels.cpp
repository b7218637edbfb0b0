// YOLO label file rows (`class cx cy w h` or a polygon), as read_yolo_label_file() reads them for
// training, val and check-data. The reader only takes a path: the input is written to one file per
// process and read with and without a class-range check.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"

using namespace yolonas;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (yolonas_fuzz::scratch_dir("yolo_labels") / "labels.txt").string();
  yolonas_fuzz::write_file(path, data, size);
  for (const int num_classes : {0, 3}) {  // 0: no class-range check (check-data without names)
    std::vector<BoxLabel> labels;
    std::vector<DatasetIssue> issues;
    try {
      FUZZ_CHECK(read_yolo_label_file(path, num_classes, labels, issues));  // the file exists
    } catch (const Error&) {
      continue;
    }
    // What the loader relies on for every row kept: a valid class and a normalized, non-empty box.
    for (const BoxLabel& l : labels) {
      FUZZ_CHECK(l.cls >= 0);
      FUZZ_CHECK(num_classes <= 0 || l.cls < num_classes);
      FUZZ_CHECK(l.cx >= 0 && l.cx <= 1 && l.cy >= 0 && l.cy <= 1);
      FUZZ_CHECK(l.w > 0 && l.w <= 1 && l.h > 0 && l.h <= 1);
    }
    for (const DatasetIssue& is : issues) (void)is.str();
  }
  // The label path of an image path (pure string work, same input).
  (void)image_to_label_path(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
