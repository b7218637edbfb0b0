// Pascal VOC xml: the minimal XML parser and parse_voc_xml(), then -- for a file that reads -- the
// split as training sees it (load_split: class lookup, 1-based corners, clipping to the image),
// from a private VOC folder with one image.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"
#include "yolonas/data/voc.h"

using namespace yolonas;
namespace fs = std::filesystem;

namespace {

struct Sandbox {
  fs::path root, xml, list;
};

const Sandbox& sandbox() {
  static const Sandbox s = [] {
    Sandbox b;
    b.root = yolonas_fuzz::scratch_dir("voc_xml") / "VOC";
    fs::create_directories(b.root / "JPEGImages");
    fs::create_directories(b.root / "Annotations");
    fs::create_directories(b.root / "ImageSets" / "Main");
    // The image's size is read when the xml has no <size>.
    cv::imwrite((b.root / "JPEGImages" / "a.png").string(), cv::Mat(6, 8, CV_8UC3, cv::Scalar(1, 2, 3)));
    b.list = b.root / "ImageSets" / "Main" / "train.txt";
    std::ofstream(b.list) << "a\n";
    b.xml = b.root / "Annotations" / "a.xml";
    return b;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)sandbox();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bool parsed = false;
  try {
    std::vector<DatasetIssue> issues;
    const VocAnnotation a = parse_voc_xml(text, "fuzz.xml", issues);
    FUZZ_CHECK(a.width >= 0 && a.height >= 0 && a.depth >= 0);
    for (const VocObject& o : a.objects) {
      FUZZ_CHECK(!o.name.empty());
      FUZZ_CHECK(std::isfinite(o.xmin) && std::isfinite(o.ymin) && std::isfinite(o.xmax) && std::isfinite(o.ymax));
    }
    for (const DatasetIssue& is : issues) (void)is.str();
    parsed = true;
  } catch (const Error&) {
  }
  if (!parsed) return 0;

  const Sandbox& sb = sandbox();
  yolonas_fuzz::write_file(sb.xml.string(), data, size);
  try {
    DataYaml dy;
    dy.yaml_path = (sb.root / "data.yaml").string();
    dy.root = sb.root.string();
    dy.format = DataFormat::Voc;
    dy.splits["train"] = {sb.list.string()};
    resolve_dataset_names(dy);  // the VOC classes, or the names found in the xml
    const DataSplit s = load_split(dy, "train");
    for (const LabeledImage& x : s.samples)
      for (const auto* list : {&x.labels, &x.ignored})
        for (const BoxLabel& l : *list) {
          FUZZ_CHECK(l.cls >= 0 && l.cls < static_cast<int>(dy.names.size()));
          FUZZ_CHECK(l.w > 0 && l.h > 0 && l.w <= 1 && l.h <= 1);
          FUZZ_CHECK(l.cx >= 0 && l.cx <= 1 && l.cy >= 0 && l.cy <= 1);
        }
    for (const DatasetIssue& is : s.issues) (void)is.str();
  } catch (const Error&) {
  }
  return 0;
}
