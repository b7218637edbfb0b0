// Hostile or broken dataset input (issue 9, item 4): every case gives a clear error or warning that
// names the file and the line or key -- never a crash, a hang, a huge allocation or undefined
// behaviour. Each test here failed (or hung) before the fix it covers.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <sstream>
#include <thread>

#include "test_util.h"
#include "yolonas/detect/arch_params.h"
#include "yolonas/data/check_data.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"
#include "yolonas/data/voc.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

void write_image(const fs::path& p, int w = 32, int h = 24) {
  fs::create_directories(p.parent_path());
  ASSERT_TRUE(cv::imwrite(p.string(), cv::Mat(h, w, CV_8UC3, cv::Scalar(90, 120, 150))));
}

std::string repeat(const std::string& row, int n) {
  std::string s;
  s.reserve(row.size() * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) s += row;
  return s;
}

// A YOLO dataset: images/train/a.png with labels/train/a.txt = `label`, names [a, b, c].
void make_yolo(const TempRoot& t, const std::string& label) {
  write_image(t.root / "images/train/a.png");
  write_text(t.root / "labels/train/a.txt", label);
  write_text(t.root / "data.yaml", "path: " + t.root.string() + "\ntrain: images/train\nnames: [a, b, c]\n");
}

int total_count(const std::vector<DatasetIssue>& issues, IssueKind kind) {
  int n = 0;
  for (const DatasetIssue& i : issues)
    if (i.kind == kind) n += i.count;
  return n;
}

// A FIFO that cannot hang the test suite: if the code under test blocks opening it for reading (as
// the readers did before they checked the file type), a writer opens and closes it after a few
// seconds, so the reader sees an empty file and the test fails instead of hanging.
struct Fifo {
  std::string path;
  std::atomic<bool> done{false};
  std::thread unblocker;
  explicit Fifo(const fs::path& p) : path(p.string()) {
    fs::create_directories(p.parent_path());
    EXPECT_EQ(::mkfifo(path.c_str(), 0644), 0) << path;
    unblocker = std::thread([this] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!done) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (std::chrono::steady_clock::now() < deadline) continue;
        const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);  // succeeds only with a reader waiting
        if (fd >= 0) {
          ADD_FAILURE() << "something opened the FIFO " << path << " for reading and waited";
          ::close(fd);
        }
      }
    });
  }
  ~Fifo() {
    done = true;
    unblocker.join();
  }
};

}  // namespace

// ---- 1. class ids that do not fit an int -------------------------------------------------------

TEST(DatasetBadInput, ClassIdMustBeAnIntegerBelowTheNumberOfNames) {
  TempRoot t("bad_class_id");
  make_yolo(t,
            "2147483648 0.5 0.5 0.2 0.2\n"   // 1: INT_MAX + 1 (was cast to -2147483648 and kept)
            "4294967296 0.5 0.5 0.2 0.2\n"   // 2: 2^32 (was cast to 0 and kept)
            "1e10 0.5 0.5 0.2 0.2\n"         // 3
            "-1 0.5 0.5 0.2 0.2\n"           // 4
            "1.5 0.5 0.5 0.2 0.2\n"          // 5
            "3 0.5 0.5 0.2 0.2\n"            // 6: = number of names
            "2 0.5 0.5 0.2 0.2\n");          // 7: fine
  const std::string label = t.str("labels/train/a.txt");
  std::vector<BoxLabel> labels;
  std::vector<DatasetIssue> issues;
  ASSERT_TRUE(read_yolo_label_file(label, 3, labels, issues));
  ASSERT_EQ(labels.size(), 1u);
  EXPECT_EQ(labels[0].cls, 2);
  ASSERT_EQ(issues.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(issues[i].kind, IssueKind::BadClass) << issues[i].str();
    EXPECT_EQ(issues[i].line, i + 1) << issues[i].str();
    EXPECT_EQ(issues[i].file, label);
  }
  EXPECT_EQ(issues[0].str(), label + ":1: bad_class: class 2147483648 >= 3 names");
  EXPECT_TRUE(contains(issues[3].message, "'-1' is not a non-negative integer")) << issues[3].str();

  // Without a class list the class must still fit an int.
  issues.clear();
  ASSERT_TRUE(read_yolo_label_file(label, 0, labels, issues));
  EXPECT_EQ(labels.size(), 2u);  // the rows 6 and 7
  EXPECT_TRUE(contains(issues[0].message, "class 2147483648 is too large")) << issues[0].str();

  // check-data refuses the dataset instead of saying "dataset OK".
  const DataReport r = check_dataset(load_data_yaml(t.str("data.yaml")), {}, CheckOptions{false, 1, false});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.count(IssueKind::BadClass), 6) << r.details();
}

// ---- 2. FIFOs and other non-regular files ------------------------------------------------------

TEST(DatasetBadInput, FifoLabelFileIsAnErrorNotAHang) {
  TempRoot t("bad_fifo_label");
  make_yolo(t, "");
  fs::remove(t.root / "labels/train/a.txt");
  write_image(t.root / "images/train/b.png");
  write_text(t.root / "labels/train/b.txt", "0 0.5 0.5 0.2 0.2\n");
  Fifo fifo(t.root / "labels/train/a.txt");
  const DataYaml data = load_data_yaml(t.str("data.yaml"));

  const DataSplit s = load_yolo_split(data, "train");
  ASSERT_EQ(s.samples.size(), 1u);  // a.png is left out: its objects are unknown
  EXPECT_EQ(fs::path(s.samples[0].image).filename(), "b.png");
  ASSERT_EQ(s.issues.size(), 1u);
  EXPECT_EQ(s.issues[0].file, fifo.path);
  EXPECT_EQ(s.issues[0].kind, IssueKind::BadRow);
  EXPECT_TRUE(contains(s.issues[0].message, "FIFO")) << s.issues[0].str();

  const DataReport r = check_dataset(data, {}, CheckOptions{false, 1, false});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.count(IssueKind::LabelWithoutImage), 0) << r.details();
}

TEST(DatasetBadInput, FifoDataYamlJsonXmlAndImagesAreErrorsNotHangs) {
  TempRoot t("bad_fifo_files");
  {
    Fifo yaml(t.root / "data.yaml");
    const std::string e = error_of([&] { load_data_yaml(yaml.path); });
    EXPECT_TRUE(contains(e, "data file '" + yaml.path + "'") && contains(e, "FIFO")) << e;
    const std::string e2 = error_of([&] { open_dataset(t.root.string()); });  // the folder holding it
    EXPECT_TRUE(contains(e2, "FIFO")) << e2;
  }
  {
    Fifo json(t.root / "instances_val.json");
    const std::string e = error_of([&] { load_coco_json(json.path); });
    EXPECT_TRUE(contains(e, "FIFO")) << e;
    EXPECT_TRUE(contains(error_of([&] { open_dataset(json.path); }), "FIFO"));
  }
  {
    Fifo xml(t.root / "a.xml");
    std::vector<DatasetIssue> issues;
    const std::string e = error_of([&] { read_voc_xml(xml.path, issues); });
    EXPECT_TRUE(contains(e, "VOC annotation '" + xml.path + "'") && contains(e, "FIFO")) << e;
  }
  {
    // An image that is a FIFO: check-data names it, and a COCO image without a recorded size is not
    // opened to measure it (cv::imread would wait forever).
    write_image(t.root / "coco/images/a.jpg");
    Fifo image(t.root / "coco/images/b.jpg");
    write_text(t.root / "coco/annotations/instances_val.json",
               R"({"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
                   "categories": [{"id": 1, "name": "x"}],
                   "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]}]})");
    const DataReport r = check_dataset(open_dataset(t.str("coco")), {}, CheckOptions{true, 1, false});
    bool named = false;
    for (const DatasetIssue& p : r.problems)
      named = named || (p.kind == IssueKind::UnreadableImage && p.file == image.path && contains(p.message, "FIFO"));
    EXPECT_TRUE(named) << r.details();
  }
}

// ---- 3. huge label files: capped memory and output ---------------------------------------------

TEST(DatasetBadInput, LabelFileWithTooManyRowsIsRejected) {
  TempRoot t("bad_many_rows");
  make_yolo(t, repeat("0 0.5 0.5 0.2 0.2\n", kMaxLabelRows + 1));
  std::vector<BoxLabel> labels;
  std::vector<DatasetIssue> issues;
  ASSERT_TRUE(read_yolo_label_file(t.str("labels/train/a.txt"), 3, labels, issues));
  EXPECT_TRUE(labels.empty());
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, IssueKind::BadRow);
  EXPECT_EQ(issues[0].line, kMaxLabelRows + 1);
  EXPECT_TRUE(contains(issues[0].message, "more than " + std::to_string(kMaxLabelRows) + " rows")) << issues[0].str();
  EXPECT_TRUE(load_yolo_split(load_data_yaml(t.str("data.yaml")), "train").samples.empty());
}

TEST(DatasetBadInput, LabelFileOverTheByteLimitIsRejectedUnread) {
  TempRoot t("bad_big_label");
  make_yolo(t, "0 0.5 0.5 0.2 0.2\n");
  fs::resize_file(t.root / "labels/train/a.txt", kMaxLabelFileBytes + 1);  // sparse: nothing written
  std::vector<BoxLabel> labels;
  std::vector<DatasetIssue> issues;
  ASSERT_TRUE(read_yolo_label_file(t.str("labels/train/a.txt"), 3, labels, issues));
  EXPECT_TRUE(labels.empty());
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_TRUE(contains(issues[0].message, "more than the 16 MB limit")) << issues[0].str();
}

TEST(DatasetBadInput, RepeatedProblemsAreCappedPerFileAndKind) {
  TempRoot t("bad_repeats");
  // One row of 200,001 values, 5000 identical rows (4999 duplicates), 3000 rows that are not numbers.
  make_yolo(t, "0" + repeat(" 0.5", 200000) + "\n" + repeat("0 0.5 0.5 0.2 0.2\n", 5000) +
                   repeat("x 0.5 0.5 0.2 0.2\n", 3000));
  std::vector<BoxLabel> labels;
  std::vector<DatasetIssue> issues;
  ASSERT_TRUE(read_yolo_label_file(t.str("labels/train/a.txt"), 3, labels, issues));
  EXPECT_EQ(labels.size(), 1u);
  EXPECT_LE(issues.size(), 2u * (kMaxIssuesPerKind + 1));
  EXPECT_EQ(total_count(issues, IssueKind::Duplicate), 4999);
  EXPECT_EQ(total_count(issues, IssueKind::BadRow), 3001);
  bool summary = false, polygon = false;
  for (const DatasetIssue& i : issues) {
    summary = summary || contains(i.message, "... and 4979 more duplicate problems in this file (lines 23..5001)");
    polygon = polygon || (i.line == 1 && contains(i.message, "a polygon of 200001 values"));
    EXPECT_LT(i.message.size(), 300u);
  }
  EXPECT_TRUE(summary);
  EXPECT_TRUE(polygon);

  // check-data lists a few dozen lines, and counts them all.
  const DataReport r = check_dataset(load_data_yaml(t.str("data.yaml")), {}, CheckOptions{false, 1, false});
  EXPECT_EQ(r.count(IssueKind::Duplicate), 4999);
  EXPECT_EQ(r.count(IssueKind::BadRow), 3001);
  EXPECT_EQ(r.errors(), 3001);
  EXPECT_LE(r.problems.size(), 2u * (kMaxIssuesPerKind + 1));
  EXPECT_TRUE(contains(r.summary(), "4999")) << r.summary();
}

TEST(DatasetBadInput, RepeatedCocoProblemsAreCappedInTheReport) {
  TempRoot t("bad_coco_repeats");
  write_image(t.root / "images/a.jpg", 100, 80);
  std::string anns;
  for (int i = 1; i <= 60; ++i)
    anns += std::string(i > 1 ? ",\n" : "") + "{\"id\": " + std::to_string(i) +
            ", \"image_id\": 1, \"category_id\": 7, \"bbox\": [1, 1, 5, 5], \"area\": 25, \"iscrowd\": 0}";
  write_text(t.root / "annotations/instances_val.json",
             "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 100, \"height\": 80}],\n"
             "\"categories\": [{\"id\": 1, \"name\": \"x\"}],\n\"annotations\": [\n" + anns + "]}\n");
  const DataReport r = check_dataset(open_dataset(t.str("annotations/instances_val.json")));
  EXPECT_EQ(r.count(IssueKind::BadClass), 60);
  EXPECT_EQ(r.problems.size(), static_cast<size_t>(kMaxIssuesPerKind) + 1) << r.details();
  EXPECT_TRUE(contains(r.details(), "... and 40 more bad_class problems in this file (lines 24..63)")) << r.details();
}

// ---- 4. UTF-8 byte order marks -----------------------------------------------------------------

TEST(DatasetBadInput, Utf8BomIsSkipped) {
  TempRoot t("bad_bom");
  make_yolo(t, "\xEF\xBB\xBF" "0 0.5 0.5 0.2 0.2\n");
  std::vector<BoxLabel> labels;
  std::vector<DatasetIssue> issues;
  ASSERT_TRUE(read_yolo_label_file(t.str("labels/train/a.txt"), 3, labels, issues));
  EXPECT_EQ(labels.size(), 1u);
  EXPECT_TRUE(issues.empty()) << issues[0].str();

  // data.yaml, an image list and a COCO json with a BOM.
  write_text(t.root / "train.txt", "\xEF\xBB\xBF" "images/train/a.png\n");
  write_text(t.root / "bom.yaml", "\xEF\xBB\xBF" "path: " + t.root.string() + "\ntrain: train.txt\nnames: [a, b, c]\n");
  const DataYaml d = load_data_yaml(t.str("bom.yaml"));
  EXPECT_EQ(list_split_images(d, "train"), std::vector<std::string>{t.str("images/train/a.png")});
  const DataReport r = check_dataset(d, {}, CheckOptions{false, 1, false});
  EXPECT_TRUE(r.problems.empty()) << r.details();
  const CocoDataset c = parse_coco_json("\xEF\xBB\xBF{\"images\": [], \"categories\": [], \"annotations\": []}", "x.json");
  EXPECT_TRUE(c.images.empty());

  // A VOC ImageSets list with a BOM.
  const fs::path voc = t.root / "VOC";
  write_image(voc / "JPEGImages/img1.jpg");
  write_text(voc / "Annotations/img1.xml",
             "<annotation><size><width>32</width><height>24</height></size><object><name>dog</name>"
             "<bndbox><xmin>2</xmin><ymin>2</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object></annotation>");
  write_text(voc / "ImageSets/Main/train.txt", "\xEF\xBB\xBF" "img1\n");
  const DataSplit vs = load_split(open_dataset(voc.string()), "train");
  ASSERT_EQ(vs.samples.size(), 1u);
  EXPECT_EQ(vs.samples[0].image, (voc / "JPEGImages/img1.jpg").string());
  EXPECT_EQ(vs.samples[0].labels.size(), 1u);
}

// ---- 5. COCO numbers ---------------------------------------------------------------------------

TEST(DatasetBadInput, CocoNumbersAreCheckedWithFileLineAndField) {
  auto coco = [](const std::string& image_fields) {
    return "{\"categories\": [{\"id\": 1, \"name\": \"x\"}],\n \"annotations\": [],\n \"images\": [\n"
           "  {\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 10, \"height\": 10},\n"
           "  {\"id\": 2, \"file_name\": \"b.jpg\", " + image_fields + "}\n]}";
  };
  auto err = [&](const std::string& fields) {
    return error_of([&] { parse_coco_json(coco(fields), "instances.json"); });
  };
  EXPECT_EQ(err("\"width\": 4294967360, \"height\": 10"),
            "instances.json:5: images[1]: field 'width' must be an integer in 0..2147483647, got 4294967360");
  EXPECT_EQ(err("\"width\": 10, \"height\": 5e83"),
            "instances.json:5: images[1]: field 'height' must be an integer in 0..2147483647, got 5e+83");
  EXPECT_TRUE(contains(err("\"width\": -4, \"height\": 10"), "field 'width' must be an integer")) << err("\"width\": -4");
  EXPECT_TRUE(contains(err("\"width\": 10.5, \"height\": 10"), "got 10.5"));
  EXPECT_TRUE(contains(err("\"width\": \"640\", \"height\": 10"), "got a string"));
  // Integral floats and null still read as before.
  const CocoDataset ok = parse_coco_json(coco("\"width\": 640.0, \"height\": null"), "instances.json");
  EXPECT_EQ(ok.images[1].width, 640);
  EXPECT_EQ(ok.images[1].height, 0);

  // An id past int64, and a number past double: errors, not a wrapped id or an internal error.
  EXPECT_TRUE(contains(error_of([&] {
                         parse_coco_json("{\"images\": [{\"id\": 18446744073709551615}], \"categories\": [], "
                                         "\"annotations\": []}",
                                         "i.json");
                       }),
                       "i.json:1: images[0]: field 'id' is too large"));
  EXPECT_TRUE(contains(error_of([&] {
                         parse_coco_json("{\"images\": [{\"id\": 1, \"width\": 1e400}], \"categories\": [], "
                                         "\"annotations\": []}",
                                         "i.json");
                       }),
                       "i.json: invalid JSON"));
}

// ---- 6. a label path that is a folder ----------------------------------------------------------

TEST(DatasetBadInput, LabelPathThatIsAFolderIsAnError) {
  TempRoot t("bad_label_dir");
  make_yolo(t, "");
  fs::remove(t.root / "labels/train/a.txt");
  fs::create_directories(t.root / "labels/train/a.txt");
  std::vector<BoxLabel> labels;
  std::vector<DatasetIssue> issues;
  EXPECT_TRUE(read_yolo_label_file(t.str("labels/train/a.txt"), 3, labels, issues));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].str(), t.str("labels/train/a.txt") +
                                 ": bad_row: label file is a folder, not a file; the image is left out");
  const DataReport r = check_dataset(load_data_yaml(t.str("data.yaml")), {}, CheckOptions{false, 1, false});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.splits[0].background, 0);  // not taken as an image without objects
}

// ---- 7. duplicate YAML keys --------------------------------------------------------------------

TEST(DatasetBadInput, DuplicateYamlKeysAreRejected) {
  TempRoot t("bad_dup_keys");
  write_image(t.root / "images/train/a.png");
  write_image(t.root / "images/val/a.png");
  write_text(t.root / "data.yaml", "path: " + t.root.string() +
                                       "\ntrain: images/train\nval: images/val\ntrain: images/val\nnames: [a]\n");
  EXPECT_EQ(error_of([&] { load_data_yaml(t.str("data.yaml")); }),
            t.str("data.yaml") + ":4: duplicate key 'train' (first at line 2): a key may appear once in a mapping");
  // Nested, and in a names map (also "1" and "01": one class index written twice).
  write_text(t.root / "nested.yaml", "train: {json: a.json, images: x, images: y}\nnames: [a]\n");
  EXPECT_TRUE(contains(error_of([&] { load_data_yaml(t.str("nested.yaml")); }), ":1: duplicate key 'images'"));
  write_text(t.root / "names.yaml", "train: images/train\nnames:\n  0: a\n  1: b\n  01: c\n");
  EXPECT_TRUE(contains(error_of([&] { load_data_yaml(t.str("names.yaml")); }),
                       "names: class index 1 is given twice (keys '1' and '01')"));

  // Arch-params files, YAML and JSON.
  std::ifstream in(tiny_dir() + "/tiny_arch.json");
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_NO_THROW(ArchParams::from_string(json, "tiny.json"));
  std::string dup = json;
  dup.replace(dup.find("\"reg_max\": 16,"), 14, "\"reg_max\": 16, \"reg_max\": 8,");
  EXPECT_TRUE(contains(error_of([&] { ArchParams::from_string(dup, "tiny.json"); }),
                       "tiny.json:116: duplicate key 'reg_max' (first at line 116)"));
  EXPECT_TRUE(contains(error_of([&] { ArchParams::from_string("in_channels: 3\nin_channels: 1\n", "a.yaml"); }),
                       "a.yaml:2: duplicate key 'in_channels'"));
}

TEST(DatasetBadInput, ArchParamsNumbersAreChecked) {
  std::ifstream in(tiny_dir() + "/tiny_arch.json");
  const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = json;
    s.replace(s.find(from), from.size(), to);
    return error_of([&] { ArchParams::from_string(s, "tiny.json"); });
  };
  // yaml-cpp reads .inf / .nan as doubles; int(out_channels * inf) would be undefined behaviour.
  EXPECT_TRUE(contains(with("\"width_mult\": 0.5", "\"width_mult\": .inf"), "width_mult': must be a finite number"));
  EXPECT_TRUE(contains(with("\"bn_eps\": 0.001", "\"bn_eps\": .nan"), "bn_eps': must be a finite number"));
  EXPECT_TRUE(contains(with("\"width_mult\": 0.5", "\"width_mult\": 1e300"), "width_mult': is out of range"));
  EXPECT_TRUE(contains(with("\"reg_max\": 16", "\"reg_max\": 2000000000"), "reg_max': 2000000000 is out of range"));
  EXPECT_TRUE(contains(with("\"reg_max\": 16", "\"reg_max\": 4294967296"), "reg_max': has the wrong type"));
}

// ---- 8. symlink loops --------------------------------------------------------------------------

TEST(DatasetBadInput, SymlinkLoopInASplitFolderIsNamed) {
  TempRoot t("bad_symlink_loop");
  make_yolo(t, "0 0.5 0.5 0.2 0.2\n");
  fs::create_directories(t.root / "images/train/sub");
  fs::create_directory_symlink("../../train", t.root / "images/train/sub/loop");
  const DataYaml d = load_data_yaml(t.str("data.yaml"));
  const std::string e = error_of([&] { list_split_images(d, "train"); });
  EXPECT_TRUE(contains(e, t.str("data.yaml") + ": train: symlink loop: '" + t.str("images/train/sub/loop") +
                              "' leads back to '" + t.str("images/train") + "'"))
      << e;
  EXPECT_EQ(error_of([&] { check_dataset(d); }), e);

  // A symlink to a folder elsewhere is followed as before.
  fs::remove(t.root / "images/train/sub/loop");
  write_image(t.root / "elsewhere/b.png");
  fs::create_directory_symlink(t.root / "elsewhere", t.root / "images/train/sub/link");
  EXPECT_EQ(list_split_images(d, "train").size(), 2u);
}

// ---- 9. long user strings are clipped in messages ----------------------------------------------

TEST(DatasetBadInput, LongSplitPathIsClippedInMessages) {
  TempRoot t("bad_long_path");
  // A 100,000-character split path (longer than the system allows: "File name too long").
  const std::string long_path(100000, 'p');
  write_text(t.root / "data.yaml", "train: " + long_path + "\nnames: [a]\n");
  const DataYaml d = load_data_yaml(t.str("data.yaml"));
  const std::string e = error_of([&] { list_split_images(d, "train"); });
  EXPECT_TRUE(contains(e, "train: '")) << e;
  EXPECT_LT(e.size(), 1000u);
}

TEST(DatasetBadInput, LongLabelTokenAndClassNamesAreClippedInMessages) {
  TempRoot t("bad_long_strings");
  // A 1 MB token in a label row, and a 1 MB category name in a COCO json.
  make_yolo(t, std::string(1 << 20, 'x') + " 0.5 0.5 0.2 0.2\n");
  std::vector<BoxLabel> labels;
  std::vector<DatasetIssue> issues;
  read_yolo_label_file(t.str("labels/train/a.txt"), 3, labels, issues);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_LT(issues[0].str().size(), 1000u);

  write_image(t.root / "coco/images/a.jpg", 100, 80);
  write_text(t.root / "coco/annotations/instances_val.json",
             "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 100, \"height\": 80}], \"categories\": "
             "[{\"id\": 1, \"name\": \"" + std::string(1 << 20, 'n') + "\"}], \"annotations\": []}");
  const DataReport r = check_dataset(open_dataset(t.str("coco")), {}, CheckOptions{false, 1, false});
  EXPECT_LT(r.summary().size(), 2000u);

  // A VOC object with a 1 MB class name.
  const fs::path voc = t.root / "VOC";
  write_image(voc / "JPEGImages/img1.jpg");
  write_text(voc / "Annotations/img1.xml", "<annotation><object><name>" + std::string(1 << 20, 'c') +
                                               "</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
                                               "<ymax>5</ymax></bndbox></object></annotation>");
  write_text(voc / "ImageSets/Main/train.txt", "img1\n");
  DataYaml vd = open_dataset(voc.string());
  vd.names = {"dog"};
  const DataSplit vs = load_split(vd, "train");
  ASSERT_FALSE(vs.issues.empty());
  for (const DatasetIssue& i : vs.issues) EXPECT_LT(i.str().size(), 1000u);
}

// ---- siblings ----------------------------------------------------------------------------------

TEST(DatasetBadInput, DataYamlNcMustBeAnInteger) {
  TempRoot t("bad_nc");
  write_text(t.root / "data.yaml", "train: images\nnames: [a, b]\nnc: 1e10\n");
  EXPECT_EQ(error_of([&] { load_data_yaml(t.str("data.yaml")); }),
            t.str("data.yaml") + ":3: nc: '1e10' is not an integer");
}

TEST(DatasetBadInput, SplitSourceThatIsAFifoIsNamed) {
  TempRoot t("bad_fifo_source");
  Fifo list(t.root / "train.txt");
  write_text(t.root / "data.yaml", "train: train.txt\nnames: [a]\n");
  const std::string e = error_of([&] { list_split_images(load_data_yaml(t.str("data.yaml")), "train"); });
  EXPECT_TRUE(contains(e, "'" + list.path + "' is a FIFO (named pipe), not a regular file")) << e;
}
