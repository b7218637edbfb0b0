// COCO instances json: parse_coco_json() in strict mode (val) and tolerant mode (check-data,
// training), then -- for a json that reads -- the split as training sees it (load_split: boxes
// clipped and normalized by the image sizes), from a private folder that holds two small images.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"

using namespace yolonas;
namespace fs = std::filesystem;

namespace {

const fs::path& sandbox() {
  static const fs::path dir = [] {
    const fs::path d = yolonas_fuzz::scratch_dir("coco_json");
    // Images a json may name (file_name "a.png" / "b.png"); sizes are read when the json has none.
    cv::imwrite((d / "a.png").string(), cv::Mat(6, 8, CV_8UC3, cv::Scalar(10, 20, 30)));
    cv::imwrite((d / "b.png").string(), cv::Mat(5, 4, CV_8UC1, cv::Scalar(7)));
    return d;
  }();
  return dir;
}

void check_dataset_invariants(const CocoDataset& d) {
  FUZZ_CHECK(d.names().size() == d.categories.size());
  for (int k = 0; k < d.num_classes(); ++k) FUZZ_CHECK(d.class_index(d.category_id(k)) == k);
  for (size_t i = 0; i < d.images.size(); ++i) FUZZ_CHECK(d.image_index(d.images[i].id) == static_cast<long>(i));
  for (const CocoAnnotation& a : d.annotations) {
    FUZZ_CHECK(d.image_index(a.image_id) >= 0);
    FUZZ_CHECK(d.class_index(a.category_id) >= 0);
  }
}

// A file_name that stays inside the sandbox (the fuzzer is not to read /dev or /proc files).
bool stays_inside(const CocoDataset& d) {
  for (const CocoImage& im : d.images)
    if (im.file_name.empty() || im.file_name.find('/') != std::string::npos ||
        im.file_name.find("..") != std::string::npos || im.file_name.find('\\') != std::string::npos)
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)sandbox();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    check_dataset_invariants(parse_coco_json(text, "fuzz.json"));
  } catch (const Error&) {
  }
  bool tolerant_ok = false;
  try {
    std::vector<DatasetIssue> issues;
    const CocoDataset d = parse_coco_json(text, "fuzz.json", &issues);
    check_dataset_invariants(d);
    for (const DatasetIssue& is : issues) (void)is.str();
    tolerant_ok = stays_inside(d);
  } catch (const Error&) {
  }
  if (!tolerant_ok) return 0;

  // The same json as a one-split COCO dataset.
  static const std::string json_path = (sandbox() / "instances_val.json").string();
  yolonas_fuzz::write_file(json_path, data, size);
  try {
    DataYaml dy;
    dy.yaml_path = json_path;
    dy.root = sandbox().string();
    dy.format = DataFormat::Coco;
    dy.splits["val"] = {json_path};
    resolve_dataset_names(dy);
    const DataSplit s = load_split(dy, "val");
    for (const LabeledImage& x : s.samples)
      for (const auto* list : {&x.labels, &x.ignored})
        for (const BoxLabel& l : *list) {
          FUZZ_CHECK(l.cls >= 0 && l.cls < static_cast<int>(dy.names.size()));
          FUZZ_CHECK(l.w > 0 && l.h > 0 && l.w <= 1 && l.h <= 1);
          FUZZ_CHECK(l.cx >= 0 && l.cx <= 1 && l.cy >= 0 && l.cy <= 1);
        }
  } catch (const Error&) {
  }
  return 0;
}
