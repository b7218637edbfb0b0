// data.yaml: load_data_yaml() (YAML, names list/map, nc, splits, format detection, COCO/VOC name
// resolution), then load_split() for every split it defines. The input is written as
// fuzz-input.yaml into a private folder that holds a small dataset in every format, so that the
// relative paths a data.yaml names (images/train, train.txt, annotations/instances_train.json,
// VOC/ImageSets/Main/train.txt, imgs) lead somewhere.
//
// Inputs whose paths would leave that folder (absolute, "..") or name the input file itself are
// skipped: the harness is not to walk the machine's file system or read /dev files.
#include <yaml-cpp/yaml.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"

using namespace yolonas;
namespace fs = std::filesystem;

namespace {

const char* const kInputName = "fuzz-input.yaml";

void text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

void image(const fs::path& p, int w, int h) {
  fs::create_directories(p.parent_path());
  cv::imwrite(p.string(), cv::Mat(h, w, CV_8UC3, cv::Scalar(40, 80, 120)));
}

const fs::path& sandbox() {
  static const fs::path dir = [] {
    const fs::path d = yolonas_fuzz::scratch_dir("data_yaml");
    // YOLO: images/<split> + labels/<split>, and a .txt list of images.
    image(d / "images/train/a.png", 8, 6);
    image(d / "images/train/b.png", 4, 4);
    image(d / "images/val/c.png", 6, 8);
    text(d / "labels/train/a.txt", "0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n");
    text(d / "labels/train/b.txt", "2 0.5 0.5 0.5 0.5\n");
    text(d / "labels/val/c.txt", "1 0.5 0.5 0.4 0.4\n0 0.1 0.2 0.3 0.5 0.7 0.9\n");
    text(d / "train.txt", "images/train/a.png\nimages/val/c.png\nmissing.png\n");
    // COCO: annotations/instances_<split>.json, images in images/<split>.
    const std::string cats = R"("categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}])";
    text(d / "annotations/instances_train.json",
         R"({"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6}, {"id": 2, "file_name": "b.png"}],
  "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 3], "area": 12, "iscrowd": 0},
                  {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 4, 4]}],
  )" + cats + "}\n");
    text(d / "annotations/instances_val.json",
         R"({"images": [{"id": 7, "file_name": "c.png", "width": 6, "height": 8}],
  "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 2], "area": 4, "iscrowd": 1}],
  )" + cats + "}\n");
    // VOC: ImageSets/Main lists, Annotations, JPEGImages; and labelImg style (xml beside the image).
    image(d / "VOC/JPEGImages/a.png", 8, 6);
    image(d / "VOC/JPEGImages/b.png", 8, 6);
    text(d / "VOC/ImageSets/Main/train.txt", "a\nb\nc\n");
    text(d / "VOC/ImageSets/Main/val.txt", "a 1\n");
    text(d / "VOC/Annotations/a.xml",
         "<annotation><size><width>8</width><height>6</height><depth>3</depth></size>"
         "<object><name>dog</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
         "<ymax>4</ymax></bndbox></object></annotation>\n");
    text(d / "VOC/Annotations/b.xml",
         "<annotation><object><name>unicorn</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>9</xmax>"
         "<ymax>9</ymax></bndbox></object></annotation>\n");
    image(d / "imgs/x.png", 8, 6);
    text(d / "imgs/x.xml",
         "<annotation><object><name>boat</name><bndbox><xmin>1.5</xmin><ymin>1</ymin><xmax>7</xmax>"
         "<ymax>6</ymax></bndbox></object></annotation>\n");
    return d;
  }();
  return dir;
}

bool inside(const YAML::Node& n) {
  if (!n || !n.IsScalar()) return true;  // load_data_yaml throws on non-scalars before reading anything
  const std::string& s = n.Scalar();
  return !(s.empty() ? false : s[0] == '/') && s.find("..") == std::string::npos &&
         s.find("fuzz-input") == std::string::npos;
}

// The paths load_data_yaml() takes from the yaml stay inside the sandbox. Parses the input the way
// load_data_yaml() will (same yaml-cpp); an input that does not parse is passed on as it is.
bool paths_stay_inside(const std::string& input) {
  YAML::Node root;
  try {
    root = YAML::Load(input);
  } catch (const YAML::Exception&) {
    return true;
  }
  if (!root.IsMap()) return true;
  const YAML::Node& r = root;  // const: operator[] does not insert
  if (!inside(r["path"])) return false;
  for (const char* split : {"train", "val", "test", "minival"}) {
    const YAML::Node node = r[split];
    if (!node) continue;
    if (node.IsSequence()) {
      for (const auto& s : node)
        if (!inside(s)) return false;
    } else if (node.IsMap()) {
      for (const char* k : {"json", "annotations", "images"})
        if (!inside(node[k])) return false;
    } else if (!inside(node)) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)sandbox();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  if (!paths_stay_inside(input)) return -1;  // not added to the corpus
  static const std::string path = (sandbox() / kInputName).string();
  yolonas_fuzz::write_file(path, data, size);
  DataYaml dy;
  try {
    dy = load_data_yaml(path);
  } catch (const Error&) {
    return 0;
  }
  for (const auto& [split, sources] : dy.splits) {
    (void)sources;
    try {
      const DataSplit s = load_split(dy, split);
      for (const LabeledImage& x : s.samples)
        for (const auto* list : {&x.labels, &x.ignored})
          for (const BoxLabel& l : *list) {
            FUZZ_CHECK(l.cls >= 0);
            FUZZ_CHECK(dy.names.empty() || l.cls < static_cast<int>(dy.names.size()));
          }
      for (const DatasetIssue& is : s.issues) (void)is.str();
    } catch (const Error&) {
    }
  }
  return 0;
}
