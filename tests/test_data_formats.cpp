// COCO json and Pascal VOC datasets: the same images and boxes read from YOLO, COCO and VOC files
// give the same normalized labels; every kind of bad COCO annotation / VOC object is reported with
// its file and line; dataset folders are recognized; crowd / difficult boxes are kept out of training
// and reach validation as ignored boxes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "format_convert.h"
#include "shapes_dataset.h"
#include "test_util.h"
#include "yolonas/data/check_data.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"
#include "yolonas/data/loader.h"
#include "yolonas/data/voc.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

void write_image(const fs::path& p, int w, int h) {
  fs::create_directories(p.parent_path());
  ASSERT_TRUE(cv::imwrite(p.string(), cv::Mat(h, w, CV_8UC3, cv::Scalar(80, 100, 120))));
}

// The problems of a report as "file-name:line:kind" strings, for compact expectations.
std::vector<std::string> problem_keys(const DataReport& r) {
  std::vector<std::string> out;
  for (const DatasetIssue& p : r.problems)
    out.push_back(fs::path(p.file).filename().string() + ":" + std::to_string(p.line) + ":" + issue_kind_name(p.kind));
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// Boxes of a split as clipped corners (what the loader trains on: the YOLO reader leaves a box that
// pokes out by float rounding unclipped, COCO / VOC clip it), keyed by image file name without a
// "<split>_" prefix (formats store images in different folders).
struct Corners {
  int cls;
  double x1, y1, x2, y2;
};
std::map<std::string, std::vector<Corners>> labels_by_name(const DataSplit& s) {
  std::map<std::string, std::vector<Corners>> out;
  for (const LabeledImage& x : s.samples) {
    std::string key = fs::path(x.image).stem().string();
    if (key.find('_') != std::string::npos) key = key.substr(key.find('_') + 1);
    for (const BoxLabel& l : x.labels)
      out[key].push_back({l.cls, std::max(0.0, l.cx - l.w / 2), std::max(0.0, l.cy - l.h / 2),
                          std::min(1.0, l.cx + l.w / 2), std::min(1.0, l.cy + l.h / 2)});
    out[key];  // images without boxes too
  }
  return out;
}

}  // namespace

TEST(DataFormats, YoloCocoAndVocGiveTheSameLabels) {
  TempRoot t("formats_same");
  const std::string yaml = write_shapes_dataset(t.str("yolo"), 7, 3, 96, 5);
  const std::vector<std::string> names = {"rectangle", "circle"};
  for (const char* split : {"train", "val"}) {
    const auto px = yolo_split_pixels(yaml, split);
    // COCO folder layout: annotations/instances_<split>.json, images in images/<split>.
    write_coco_json(t.str(std::string("yolo/annotations/instances_") + split + ".json"), px,
                    t.str(std::string("yolo/images/") + split), names, 7);
    // VOC ids are the YOLO stems, so that images can be matched across formats.
    write_voc_split(t.str("voc"), split, px, names, std::string(split) + "_");
  }
  write_text(t.root / "voc/data.yaml", "path: .\ntrain: ImageSets/Main/train.txt\nval: ImageSets/Main/val.txt\n"
                                       "names: [rectangle, circle]\n");

  const DataYaml y = open_dataset(yaml);
  const DataYaml c = open_dataset(t.str("yolo/annotations/instances_train.json"));
  EXPECT_EQ(c.format, DataFormat::Coco);
  EXPECT_EQ(c.splits.count("train"), 1u);  // named after the file
  const DataYaml v = open_dataset(t.str("voc/data.yaml"));
  EXPECT_EQ(y.format, DataFormat::Yolo);
  EXPECT_EQ(v.format, DataFormat::Voc);
  EXPECT_EQ(c.names, names);  // from the categories, ids 7 and 8 -> classes 0 and 1
  EXPECT_EQ(v.names, names);

  for (const char* split : {"train", "val"}) {
    const auto ly = labels_by_name(load_split(y, split));
    const DataYaml cs = open_dataset(t.str(std::string("yolo/annotations/instances_") + split + ".json"));
    const DataSplit coco = load_split(cs, split);
    const DataSplit voc = load_split(v, split);
    EXPECT_EQ(coco.format, DataFormat::Coco);
    EXPECT_TRUE(coco.issues.empty()) << coco.issues.front().str();
    EXPECT_TRUE(voc.issues.empty()) << voc.issues.front().str();
    for (const auto& other : {labels_by_name(coco), labels_by_name(voc)}) {
      ASSERT_EQ(other.size(), ly.size());
      for (const auto& [name, labels] : ly) {
        ASSERT_EQ(other.at(name).size(), labels.size()) << name;
        for (size_t k = 0; k < labels.size(); ++k) {
          EXPECT_EQ(other.at(name)[k].cls, labels[k].cls);
          EXPECT_NEAR(other.at(name)[k].x1, labels[k].x1, 1e-12);
          EXPECT_NEAR(other.at(name)[k].y1, labels[k].y1, 1e-12);
          EXPECT_NEAR(other.at(name)[k].x2, labels[k].x2, 1e-12);
          EXPECT_NEAR(other.at(name)[k].y2, labels[k].y2, 1e-12);
        }
      }
    }
    // COCO keeps its image ids and records the sizes.
    EXPECT_EQ(coco.samples.front().image_id, 100);
    EXPECT_EQ(coco.samples.front().size.width, 96);
    // check-data agrees: no problem in any format.
    for (const DataYaml* d : {&y, &v}) {
      const DataReport r = check_dataset(*d, {split});
      EXPECT_TRUE(r.problems.empty()) << r.details();
    }
  }
}

TEST(DataFormats, CocoFolderIsRecognized) {
  TempRoot t("formats_cocodir");
  write_image(t.root / "images/train2017/a.jpg", 40, 30);
  write_image(t.root / "images/val2017/b.jpg", 40, 30);
  const std::vector<std::string> names = {"cat", "dog"};
  write_coco_json(t.str("annotations/instances_train2017.json"), {{t.str("images/train2017/a.jpg"), 40, 30, {{1, 2, 3, 12, 13}}}},
                  t.str("images/train2017"), names);
  write_coco_json(t.str("annotations/instances_val2017.json"), {{t.str("images/val2017/b.jpg"), 40, 30, {{0, 0, 0, 40, 30}}}},
                  t.str("images/val2017"), names);
  write_text(t.root / "annotations/person_keypoints_val2017.json", "{}");  // not an instances file: ignored
  const DataYaml d = open_dataset(t.root.string());
  EXPECT_EQ(d.format, DataFormat::Coco);
  EXPECT_EQ(d.names, names);
  ASSERT_EQ(d.splits.size(), 2u);
  const DataSplit train = load_split(d, "train");
  ASSERT_EQ(train.samples.size(), 1u);
  EXPECT_EQ(train.samples[0].image, t.str("images/train2017/a.jpg"));
  ASSERT_EQ(train.samples[0].labels.size(), 1u);
  EXPECT_EQ(train.samples[0].labels[0].cls, 1);
  EXPECT_NEAR(train.samples[0].labels[0].cx, 7.0 / 40, 1e-12);  // x 2..12

  // Val categories that differ from train's: refused, naming both.
  write_coco_json(t.str("annotations/instances_val2017.json"), {{t.str("images/val2017/b.jpg"), 40, 30, {}}},
                  t.str("images/val2017"), {"cat", "bird"});
  const std::string e = error_of([&] { open_dataset(t.root.string()); });
  EXPECT_NE(e.find("categories of 'val'"), std::string::npos) << e;
  EXPECT_NE(e.find("2:bird"), std::string::npos) << e;
  // Two train jsons: ambiguous.
  write_coco_json(t.str("annotations/instances_train2014.json"), {}, t.str("images"), names);
  EXPECT_NE(error_of([&] { open_dataset(t.root.string()); }).find("two COCO json files for the 'train' split"),
            std::string::npos);
  // Roboflow's COCO export: <split>/_annotations.coco.json beside the images, "valid" = val.
  write_image(t.root / "rf/train/x.jpg", 40, 30);
  write_image(t.root / "rf/valid/y.jpg", 40, 30);
  write_coco_json(t.str("rf/train/_annotations.coco.json"), {{t.str("rf/train/x.jpg"), 40, 30, {{0, 1, 1, 9, 9}}}},
                  t.str("rf/train"), names, 0);
  write_coco_json(t.str("rf/valid/_annotations.coco.json"), {{t.str("rf/valid/y.jpg"), 40, 30, {}}}, t.str("rf/valid"),
                  names, 0);
  const DataYaml rf = open_dataset(t.str("rf"));
  EXPECT_EQ(rf.format, DataFormat::Coco);
  EXPECT_EQ(rf.names, names);
  EXPECT_EQ(load_split(rf, "val").samples.at(0).image, t.str("rf/valid/y.jpg"));
  EXPECT_EQ(load_split(rf, "train").samples.at(0).labels.size(), 1u);
  // Neither layout.
  fs::create_directories(t.root / "empty");
  EXPECT_NE(error_of([&] { open_dataset(t.str("empty")); }).find("not a dataset folder"), std::string::npos);
  EXPECT_NE(error_of([&] { open_dataset(t.str("nothing.yaml")); }).find("no such file"), std::string::npos);
}

TEST(DataFormats, CocoProblemsAreReportedWithFileAndLine) {
  TempRoot t("formats_cocobad");
  write_image(t.root / "images/a.jpg", 100, 80);
  write_image(t.root / "images/b.jpg", 100, 80);
  // One annotation per line (annotations[i] on line 7 + i); image 3 is listed but its file is missing.
  const std::string json = R"({
  "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
             {"id": 2, "file_name": "b.jpg", "width": 100, "height": 80},
             {"id": 3, "file_name": "gone.jpg", "width": 100, "height": 80}],
  "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
  "annotations": [
    {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
    {"id": 2, "image_id": 1, "category_id": 9, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
    {"id": 3, "image_id": 1, "category_id": 1, "area": 400, "iscrowd": 0},
    {"id": 4, "image_id": 1, "category_id": 2, "bbox": [10, 10, 0, 20], "area": 0, "iscrowd": 0},
    {"id": 5, "image_id": 1, "category_id": 2, "bbox": [200, 10, 20, 20], "area": 400, "iscrowd": 0},
    {"id": 6, "image_id": 1, "category_id": 2, "bbox": [90, 70, 20, 20], "area": 400, "iscrowd": 0},
    {"id": 7, "image_id": 1, "category_id": 1, "bbox": [10.0, 10, 20, 20.0], "area": 400, "iscrowd": 0},
    {"id": 7, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0},
    {"id": 9, "image_id": 77, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0},
    {"id": 10, "image_id": 2, "category_id": 2, "bbox": [0, 0, 100, 80], "area": 8000, "iscrowd": 1},
    {"id": 11, "image_id": 2, "category_id": "dog", "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0}
  ]
}
)";
  write_text(t.root / "annotations/instances_val.json", json);
  const DataYaml d = open_dataset(t.str("annotations/instances_val.json"));
  const DataReport r = check_dataset(d);
  const auto keys = problem_keys(r);
  for (const char* k : {"instances_val.json:8:bad_class", "instances_val.json:9:bad_row", "instances_val.json:10:zero_size",
                        "instances_val.json:11:out_of_bounds", "instances_val.json:12:box_outside_image",
                        "instances_val.json:13:duplicate", "instances_val.json:14:duplicate",
                        "instances_val.json:15:bad_row", "instances_val.json:17:bad_row", "gone.jpg:0:missing_image"})
    EXPECT_TRUE(has(keys, k)) << k << "\n" << r.details();
  EXPECT_EQ(r.problems.size(), 10u) << r.details();
  // Messages say what is wrong and which entry.
  const std::string details = r.details();
  EXPECT_NE(details.find("annotations[1]: category_id 9 is not in 'categories'"), std::string::npos) << details;
  EXPECT_NE(details.find("annotations[2]: missing field 'bbox'"), std::string::npos) << details;
  EXPECT_NE(details.find("annotations[10]: field 'category_id' must be an integer"), std::string::npos) << details;
  EXPECT_NE(details.find("duplicate annotation id 7"), std::string::npos) << details;
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.splits[0].images, 3);
  EXPECT_EQ(r.splits[0].bad_images, 1);

  // What training gets: the good box, the clipped one, the crowd box as ignored.
  const DataSplit s = load_split(d, "val");
  ASSERT_EQ(s.samples.size(), 3u);
  ASSERT_EQ(s.samples[0].labels.size(), 2u);
  EXPECT_NEAR(s.samples[0].labels[1].w, 10.0 / 100, 1e-12);  // [90, 110] clipped to [90, 100]
  EXPECT_TRUE(s.samples[1].labels.empty());
  ASSERT_EQ(s.samples[1].ignored.size(), 1u);
  EXPECT_EQ(s.samples[1].ignored[0].cls, 1);
  EXPECT_NEAR(s.samples[1].ignored[0].w, 1.0, 1e-12);

  // The ground truth for evaluation keeps the crowd box as iscrowd.
  const CocoDataset gt = coco_from_yolo(s, {{100, 80}, {100, 80}, {100, 80}});
  EXPECT_EQ(std::count_if(gt.annotations.begin(), gt.annotations.end(), [](const CocoAnnotation& a) { return a.iscrowd; }),
            1);

  // Strict reading (val on one json, as pycocotools) still stops at the first bad entry.
  EXPECT_NE(error_of([&] { load_coco_json(t.str("annotations/instances_val.json")); }).find("annotations[1]"),
            std::string::npos);
}

TEST(DataFormats, JsonElementLines) {
  const std::string text =
      "{\"info\": {\"annotations\": [1, 2]},\n"
      " \"x\": \"a \\\" ] [ string\",\n"
      " \"annotations\": [\n"
      "  {\"segmentation\": [[1, 2], [3]], \"s\": \"}]\"},\n"
      "  {\"id\": 2},\n"
      "\n"
      "  {\"id\": 3}], \"images\": []}";
  EXPECT_EQ(json_array_element_lines(text, "annotations"), (std::vector<int>{4, 5, 7}));
  EXPECT_EQ(json_array_element_lines("{\"annotations\": []}", "annotations"), std::vector<int>{});
  EXPECT_EQ(json_array_element_lines("{\"annotations\":[{},{},{}]}", "annotations"), (std::vector<int>{1, 1, 1}));
  EXPECT_TRUE(json_array_element_lines("{\"images\": [1]}", "annotations").empty());
}

TEST(DataFormats, VocProblemsAreReportedWithFileAndLine) {
  TempRoot t("formats_vocbad");
  const fs::path r = t.root / "VOC2012";
  for (const char* id : {"a", "b", "c", "d", "e"}) write_image(r / "JPEGImages" / (std::string(id) + ".jpg"), 100, 80);
  write_text(r / "ImageSets/Main/train.txt", "a\nb\nc\nd\ne\n");
  write_text(r / "ImageSets/Main/val.txt", "a\n");
  // a: every object problem, one per object, each object starting on its own line.
  write_text(r / "Annotations/a.xml",
             "<annotation>\n"                                                                                      // 1
             "  <size><width>100</width><height>80</height><depth>3</depth></size>\n"                              // 2
             "  <object><name>dog</name><bndbox><xmin>11</xmin><ymin>11</ymin><xmax>31</xmax><ymax>41</ymax></bndbox></object>\n"  // 3
             "  <object><name>unicorn</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>\n"  // 4
             "  <object><name>dog</name></object>\n"                                                               // 5
             "  <object><name>cat</name><bndbox><xmin>30</xmin><ymin>1</ymin><xmax>30</xmax><ymax>5</ymax></bndbox></object>\n"    // 6
             "  <object><name>cat</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>50</xmax><ymax>50</ymax></bndbox></object>\n"  // 7
             "  <object><name>cat</name><bndbox><xmin>300</xmin><ymin>1</ymin><xmax>350</xmax><ymax>5</ymax></bndbox></object>\n"  // 8
             "  <object><name>dog</name><bndbox><xmin>11</xmin><ymin>11</ymin><xmax>31</xmax><ymax>41</ymax></bndbox></object>\n"  // 9
             "  <object><name>cat</name><bndbox><xmin>90</xmin><ymin>70</ymin><xmax>120</xmax><ymax>81</ymax></bndbox></object>\n"  // 10
             "</annotation>\n");
  // b: not well-formed (line 3); c: no xml; d: no <size> (read from the image); e: fine, no objects.
  write_text(r / "Annotations/b.xml", "<annotation>\n  <object>\n  </objekt>\n</annotation>\n");
  write_text(r / "Annotations/d.xml",
             "<annotation><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>51</xmax><ymax>41</ymax>"
             "</bndbox></object></annotation>\n");
  write_text(r / "Annotations/e.xml", "<annotation><size><width>100</width><height>80</height></size></annotation>\n");
  write_text(t.root / "data.yaml", "path: VOC2012\ntrain: ImageSets/Main/train.txt\nval: ImageSets/Main/val.txt\n"
                                   "names: [cat, dog]\n");
  const DataYaml d = open_dataset(t.str("data.yaml"));
  EXPECT_EQ(d.format, DataFormat::Voc);  // an ImageSets list
  const DataReport rep = check_dataset(d, {"train"});
  const auto keys = problem_keys(rep);
  for (const char* k : {"a.xml:4:bad_class", "a.xml:5:bad_row", "a.xml:6:zero_size", "a.xml:8:out_of_bounds",
                        "a.xml:9:duplicate", "a.xml:10:box_outside_image", "b.xml:3:bad_row", "c.jpg:0:missing_label",
                        "d.xml:0:defaulted_field"})
    EXPECT_TRUE(has(keys, k)) << k << "\n" << rep.details();
  EXPECT_EQ(rep.problems.size(), 9u) << rep.details();
  EXPECT_NE(rep.details().find("object 'unicorn': unknown class"), std::string::npos) << rep.details();

  const DataSplit s = load_split(d, "train");
  ASSERT_EQ(s.samples.size(), 4u);  // b (unreadable xml) left out
  const LabeledImage& a = s.samples[0];
  ASSERT_EQ(a.labels.size(), 2u);
  // VOC corners are 1-based: 11..31 x 11..41 -> 10..30 x 10..40 in 0-based pixels.
  EXPECT_EQ(a.labels[0].cls, 1);
  EXPECT_NEAR(a.labels[0].cx, 20.0 / 100, 1e-12);
  EXPECT_NEAR(a.labels[0].h, 30.0 / 80, 1e-12);
  EXPECT_NEAR(a.labels[1].w, (100 - 89) / 100.0, 1e-12);  // clipped at the right border
  ASSERT_EQ(a.ignored.size(), 1u);                        // the difficult cat
  EXPECT_EQ(s.samples[1].image, (r / "JPEGImages/c.jpg").string());
  EXPECT_TRUE(s.samples[1].labels.empty());               // background
  EXPECT_EQ(s.samples[2].size.width, 100);                // d: from the image
  EXPECT_NEAR(s.samples[2].labels[0].w, 0.5, 1e-12);
  EXPECT_EQ(s.missing_label_files, 1);
}

TEST(DataFormats, VocFoldersAndNames) {
  TempRoot t("formats_vocdirs");
  const std::vector<std::string> names = {"person", "dog"};
  auto image = [&](const std::string& p) {
    write_image(t.root / p, 50, 40);
    return PixelImage{t.str(p), 50, 40, {{0, 1, 1, 20, 20}}};
  };
  const PixelImage i1 = image("src/1.jpg"), i2 = image("src/2.jpg"), i3 = image("src/3.jpg");
  write_voc_split(t.str("devkit/VOC2007"), "trainval", {i1}, names, "07_");
  write_voc_split(t.str("devkit/VOC2007"), "test", {i2}, names, "07t_");
  write_voc_split(t.str("devkit/VOC2012"), "trainval", {i3}, names, "12_");
  // VOCdevkit: train = both trainval lists, val = the 2007 test list.
  const DataYaml d = open_dataset(t.str("devkit"));
  EXPECT_EQ(d.format, DataFormat::Voc);
  ASSERT_EQ(d.splits.at("train").size(), 2u);
  ASSERT_EQ(d.splits.at("val").size(), 1u);
  EXPECT_NE(d.splits.at("val")[0].find("VOC2007/ImageSets/Main/test.txt"), std::string::npos);
  EXPECT_EQ(load_split(d, "train").samples.size(), 2u);
  // All names are VOC classes: the 20 VOC classes, in VOC order.
  EXPECT_EQ(d.names, voc_class_names());
  EXPECT_EQ(load_split(d, "train").samples[0].labels[0].cls, 14);  // person

  // One year: train/val lists when both exist.
  write_voc_split(t.str("devkit/VOC2012"), "train", {i3}, names, "12_");
  write_voc_split(t.str("devkit/VOC2012"), "val", {i1}, {"cow", "horse"}, "12v_");
  const DataYaml one = open_dataset(t.str("devkit/VOC2012"));
  EXPECT_NE(one.splits.at("train")[0].find("train.txt"), std::string::npos);
  EXPECT_NE(one.splits.at("val")[0].find("val.txt"), std::string::npos);

  // Names outside VOC's: the sorted names found.
  write_voc_split(t.str("custom"), "train", {i1}, {"ship", "car"}, "");
  write_voc_split(t.str("custom"), "val", {i2}, {"car", "ship"}, "v");
  const DataYaml c = open_dataset(t.str("custom"));
  EXPECT_EQ(c.names, (std::vector<std::string>{"car", "ship"}));

  // labelImg style: xml beside each image, data.yaml with format: voc and an image folder.
  write_image(t.root / "labelimg/imgs/x.jpg", 50, 40);
  write_text(t.root / "labelimg/imgs/x.xml", voc_xml_text({t.str("labelimg/imgs/x.jpg"), 50, 40, {{0, 4, 4, 14, 24}}},
                                                          {"boat"}));
  write_text(t.root / "labelimg/data.yaml", "format: voc\ntrain: imgs\nval: imgs\nnames: [boat]\n");
  const DataSplit l = load_split(open_dataset(t.str("labelimg")), "train");
  ASSERT_EQ(l.samples.size(), 1u);
  ASSERT_EQ(l.samples[0].labels.size(), 1u);
  EXPECT_NEAR(l.samples[0].labels[0].w, 10.0 / 50, 1e-12);
  EXPECT_EQ(voc_xml_path(t.str("labelimg/imgs/x.jpg")), t.str("labelimg/imgs/x.xml"));
  EXPECT_EQ(voc_xml_path(t.str("labelimg/imgs/none.jpg")), "");
}

TEST(DataFormats, ValidationBatchesCarryCrowdBoxes) {
  TempRoot t("formats_crowd");
  write_image(t.root / "images/a.jpg", 200, 100);
  write_text(t.root / "instances_val.json", R"({"images": [{"id": 1, "file_name": "images/a.jpg", "width": 200, "height": 100}],
    "categories": [{"id": 1, "name": "person"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0},
                    {"id": 2, "image_id": 1, "category_id": 1, "bbox": [100, 0, 100, 50], "area": 5000, "iscrowd": 1}]})");
  DataSplit s = load_split(open_dataset(t.str("instances_val.json")), "val");
  LoaderConfig lc;
  lc.height = lc.width = 64;
  lc.batch_size = 1;
  lc.workers = 0;
  lc.train = false;
  lc.drop_last = false;
  PreprocessParams pp = PreprocessParams::padded_rescale(64, 64);
  pp.center_pad = true;
  lc.val_preprocess = pp;
  DataLoader loader(std::move(s), lc);
  const Batch b = loader.make_batch(0, 0);
  ASSERT_EQ(b.num_targets(), 1u);
  ASSERT_EQ(b.crowd.size(), 6u);
  // 200x100 -> 64x32, centred: 16 px of padding on top. Crowd box 100..200 x 0..50 -> 32..64 x 16..32.
  EXPECT_NEAR(b.crowd[2], 48.0, 1e-4);
  EXPECT_NEAR(b.crowd[3], 24.0, 1e-4);
  EXPECT_NEAR(b.crowd[4], 32.0, 1e-4);
  EXPECT_NEAR(b.crowd[5], 16.0, 1e-4);
}

TEST(DataFormats, LabelmeVocExportReadsCleanly) {
  // Real files written by labelme's labelme2voc.py (Debian package labelme-examples, installed by
  // scripts/setup.sh): self-closing empty elements, decimal corners, no ImageSets.
  const std::string voc = "/usr/share/doc/labelme-examples/examples/bbox_detection/data_dataset_voc";
  if (!fs::exists(voc + "/Annotations/2011_000003.xml")) GTEST_SKIP() << "labelme-examples is not installed";
  TempRoot t("formats_labelme");
  write_text(t.root / "data.yaml", "path: " + voc + "\nformat: voc\ntrain: JPEGImages\nval: JPEGImages\n");
  const DataYaml d = open_dataset(t.str("data.yaml"));
  EXPECT_EQ(d.names, voc_class_names());  // every name found is a VOC class
  const DataReport r = check_dataset(d, {"val"});
  EXPECT_TRUE(r.problems.empty()) << r.details();
  ASSERT_EQ(r.splits.size(), 1u);
  EXPECT_EQ(r.splits[0].images, 3);
  EXPECT_EQ(r.splits[0].boxes, 9);
  const DataSplit s = load_split(d, "val");
  // 2011_000003.xml: person 191.0..313.0 x 107.369..329.369 in a 500x338 image (1-based corners).
  ASSERT_EQ(s.samples[0].labels.size(), 2u);
  EXPECT_EQ(s.samples[0].labels[0].cls, 14);
  EXPECT_NEAR(s.samples[0].labels[0].w, 122.0 / 500, 1e-12);
  EXPECT_NEAR(s.samples[0].labels[0].cx, (190.0 + 312.0) / 2 / 500, 1e-12);
}
