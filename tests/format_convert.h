// Test helpers: the same YOLO dataset written again as COCO json and as Pascal VOC xml, so that
// tests can check every reader gives the same boxes and that training sees the same data.
#pragma once
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "yolonas/data/dataset.h"

namespace yolonas::test {

struct PixelBox {
  int cls;
  double x1, y1, x2, y2;  // 0-based pixel corners
};

struct PixelImage {
  std::string path;  // image file
  int width, height;
  std::vector<PixelBox> boxes;
};

// The images and pixel boxes of one split of a YOLO data.yaml.
inline std::vector<PixelImage> yolo_split_pixels(const std::string& data_yaml, const std::string& split) {
  std::vector<PixelImage> out;
  const DataSplit ys = load_yolo_split(load_data_yaml(data_yaml), split);
  for (const LabeledImage& s : ys.samples) {
    const cv::Mat im = cv::imread(s.image);
    PixelImage p{s.image, im.cols, im.rows, {}};
    for (const BoxLabel& l : s.labels) {
      double xywh[4];
      yolo_to_pixel_xywh(l, ImageSize{im.cols, im.rows}, xywh);
      p.boxes.push_back({l.cls, xywh[0], xywh[1], xywh[0] + xywh[2], xywh[1] + xywh[3]});
    }
    out.push_back(p);
  }
  return out;
}

// instances json for `images` (file_name relative to `image_root`); category ids start at
// `first_category_id` so that the id -> index mapping is exercised.
inline void write_coco_json(const std::string& path, const std::vector<PixelImage>& images, const std::string& image_root,
                            const std::vector<std::string>& names, int first_category_id = 1) {
  namespace fs = std::filesystem;
  fs::create_directories(fs::path(path).parent_path());
  std::ostringstream js;
  js << std::setprecision(17);
  js << "{\n  \"images\": [\n";
  for (size_t i = 0; i < images.size(); ++i)
    js << "    {\"id\": " << 100 + i << ", \"file_name\": \""
       << fs::relative(images[i].path, image_root).string() << "\", \"width\": " << images[i].width
       << ", \"height\": " << images[i].height << "}" << (i + 1 < images.size() ? "," : "") << "\n";
  js << "  ],\n  \"annotations\": [\n";
  int id = 1;
  bool first = true;
  for (size_t i = 0; i < images.size(); ++i)
    for (const PixelBox& b : images[i].boxes) {
      js << (first ? "" : ",\n") << "    {\"id\": " << id++ << ", \"image_id\": " << 100 + i
         << ", \"category_id\": " << first_category_id + b.cls << ", \"bbox\": [" << b.x1 << ", " << b.y1 << ", "
         << b.x2 - b.x1 << ", " << b.y2 - b.y1 << "], \"area\": " << (b.x2 - b.x1) * (b.y2 - b.y1)
         << ", \"iscrowd\": 0}";
      first = false;
    }
  js << "\n  ],\n  \"categories\": [";
  for (size_t k = 0; k < names.size(); ++k)
    js << (k ? ", " : "") << "{\"id\": " << first_category_id + static_cast<int>(k) << ", \"name\": \"" << names[k]
       << "\"}";
  js << "]\n}\n";
  std::ofstream(path) << js.str();
}

// One VOC xml (1-based corners, as VOC writes them).
inline std::string voc_xml_text(const PixelImage& im, const std::vector<std::string>& names) {
  std::ostringstream x;
  x << std::setprecision(17);
  x << "<annotation>\n  <folder>VOC</folder>\n  <filename>" << std::filesystem::path(im.path).filename().string()
    << "</filename>\n  <size><width>" << im.width << "</width><height>" << im.height
    << "</height><depth>3</depth></size>\n";
  for (const PixelBox& b : im.boxes)
    x << "  <object>\n    <name>" << names[static_cast<size_t>(b.cls)]
      << "</name>\n    <difficult>0</difficult>\n    <bndbox><xmin>" << b.x1 + 1 << "</xmin><ymin>" << b.y1 + 1
      << "</ymin><xmax>" << b.x2 + 1 << "</xmax><ymax>" << b.y2 + 1 << "</ymax></bndbox>\n  </object>\n";
  x << "</annotation>\n";
  return x.str();
}

// A VOC folder: <root>/JPEGImages, Annotations, ImageSets/Main/<split>.txt for each split given.
inline void write_voc_split(const std::string& root, const std::string& split, const std::vector<PixelImage>& images,
                            const std::vector<std::string>& names, const std::string& id_prefix) {
  namespace fs = std::filesystem;
  fs::create_directories(root + "/JPEGImages");
  fs::create_directories(root + "/Annotations");
  fs::create_directories(root + "/ImageSets/Main");
  std::ofstream list(root + "/ImageSets/Main/" + split + ".txt", std::ios::app);
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string id = id_prefix + std::to_string(i);
    const std::string ext = fs::path(images[i].path).extension().string();
    fs::copy_file(images[i].path, root + "/JPEGImages/" + id + ext, fs::copy_options::overwrite_existing);
    std::ofstream(root + "/Annotations/" + id + ".xml") << voc_xml_text(images[i], names);
    list << id << "\n";
  }
}

}  // namespace yolonas::test
