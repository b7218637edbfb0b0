// check-data: every kind of bad dataset row / image is reported with its file and line, counted per
// kind; the trainer-facing helpers refuse (strict) or skip; the CLI exit code follows.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"
#include "yolonas/data/check_data.h"
#include "yolonas/core/error.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

void write_image(const fs::path& p, int w = 64, int h = 48) {
  fs::create_directories(p.parent_path());
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(90, 120, 150));
  cv::rectangle(img, cv::Rect(10, 10, 20, 20), cv::Scalar(0, 0, 255), cv::FILLED);
  ASSERT_TRUE(cv::imwrite(p.string(), img));
}

// A dataset with one problem of every kind:
//   train: a.png (clean), b.png (label rows 2..8 broken in different ways), c.png (corrupt bytes),
//          d.jpg (JPEG without its end marker), e.png (no label file: background), orphan.txt label;
//   val (a .txt list): a.png again (overlap), e.png, and a missing image.
void make_broken(const TempRoot& t) {
  for (const char* n : {"a.png", "b.png", "e.png"}) write_image(t.root / "images/train" / n);
  write_text(t.root / "images/train/c.png", "not an image at all");
  {
    write_image(t.root / "tmp.jpg");
    std::ifstream in(t.root / "tmp.jpg", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(t.root / "images/train/d.jpg", std::ios::binary) << bytes.substr(0, bytes.size() - 2);
    fs::remove(t.root / "tmp.jpg");
  }
  write_text(t.root / "labels/train/a.txt", "0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n");
  write_text(t.root / "labels/train/b.txt",
             "0 0.5 0.5 0.2 0.2\n"      // 1 ok
             "0 0.5 0.5 0.2\n"          // 2 malformed (4 values)
             "7 0.5 0.5 0.1 0.1\n"      // 3 unknown class (3 names)
             "1 1.5 0.5 0.1 0.1\n"      // 4 coordinate outside [0, 1]
             "2 0.5 0.5 0 0.1\n"        // 5 zero width
             "0 0.5 0.5 0.2 0.2\n"      // 6 duplicate of line 1 (same text)
             "0 0.50 0.500 0.2 0.20\n"  // 7 duplicate of line 1 (written differently)
             "1 0.95 0.5 0.2 0.2\n"     // 8 box reaching past the right edge
             "x 0.5 0.5 0.1 0.1\n");    // 9 not a number
  write_text(t.root / "labels/train/c.txt", "0 0.5 0.5 0.2 0.2\n");
  write_text(t.root / "labels/train/d.txt", "2 0.5 0.5 0.2 0.2\n");
  write_text(t.root / "labels/train/orphan.txt", "0 0.5 0.5 0.2 0.2\n");
  write_text(t.root / "labels/train/classes.txt", "a\nb\nc\n");  // labelling tools' class list: ignored
  write_text(t.root / "val.txt", "images/train/a.png\nimages/train/e.png\nimages/train/missing.png\n");
  write_text(t.root / "data.yaml",
             "path: " + t.root.string() + "\ntrain: images/train\nval: val.txt\nnames: [a, b, c]\n");
}

const DatasetIssue* find(const DataReport& r, IssueKind kind, const std::string& file, int line = -1) {
  for (const DatasetIssue& p : r.problems)
    if (p.kind == kind && p.file == file && (line < 0 || p.line == line)) return &p;
  return nullptr;
}

}  // namespace

TEST(CheckData, ReportsEveryKindWithFileAndLine) {
  TempRoot t("check_broken");
  make_broken(t);
  const DataReport r = check_dataset(load_data_yaml(t.str("data.yaml")));
  const std::string b = t.str("labels/train/b.txt");
  EXPECT_TRUE(find(r, IssueKind::BadRow, b, 2)) << r.details();
  EXPECT_TRUE(find(r, IssueKind::BadClass, b, 3));
  EXPECT_TRUE(find(r, IssueKind::OutOfBounds, b, 4));
  EXPECT_TRUE(find(r, IssueKind::ZeroSize, b, 5));
  EXPECT_TRUE(find(r, IssueKind::Duplicate, b, 6));
  EXPECT_TRUE(find(r, IssueKind::Duplicate, b, 7));
  EXPECT_TRUE(find(r, IssueKind::BoxOutsideImage, b, 8));
  EXPECT_TRUE(find(r, IssueKind::BadRow, b, 9));
  EXPECT_TRUE(find(r, IssueKind::UnreadableImage, t.str("images/train/c.png")));
  EXPECT_TRUE(find(r, IssueKind::TruncatedJpeg, t.str("images/train/d.jpg")));
  EXPECT_TRUE(find(r, IssueKind::LabelWithoutImage, t.str("labels/train/orphan.txt")));
  EXPECT_FALSE(find(r, IssueKind::LabelWithoutImage, t.str("labels/train/classes.txt")));
  EXPECT_TRUE(find(r, IssueKind::MissingImage, t.str("images/train/missing.png")));
  EXPECT_TRUE(find(r, IssueKind::SplitOverlap, t.str("images/train/a.png")));
  EXPECT_EQ(r.count(IssueKind::SplitOverlap), 1);  // a.png and e.png are in train and val: one report
  EXPECT_NE(find(r, IssueKind::SplitOverlap, t.str("images/train/a.png"))->message.find("2 image(s)"),
            std::string::npos);
  EXPECT_FALSE(find(r, IssueKind::BadClass, t.str("labels/train/a.txt")));  // clean file: nothing

  // Counts per kind, errors vs warnings.
  EXPECT_EQ(r.count(IssueKind::BadRow), 2);
  EXPECT_EQ(r.count(IssueKind::Duplicate), 2);
  EXPECT_EQ(r.count(IssueKind::UnreadableImage), 1);
  EXPECT_EQ(r.errors(), 7);    // 2 bad_row, bad_class, out_of_bounds, zero_size, unreadable, missing
  EXPECT_EQ(r.warnings(), 6);  // 2 duplicate, box_outside, truncated_jpeg, orphan label, overlap
  EXPECT_FALSE(r.ok());

  // Per-split table: background = images without objects, bad images counted.
  ASSERT_EQ(r.splits.size(), 2u);
  EXPECT_EQ(r.splits[0].split, "train");
  EXPECT_EQ(r.splits[0].images, 5);
  EXPECT_EQ(r.splits[0].label_files, 4);
  EXPECT_EQ(r.splits[0].background, 1);  // e.png
  EXPECT_EQ(r.splits[0].bad_images, 1);
  EXPECT_EQ(r.splits[0].boxes, 2 + 3 + 1 + 1);  // a: 2, b: lines 1, 7, 8, c: 1, d: 1
  EXPECT_EQ(r.splits[0].boxes_per_class, (std::vector<int>{4, 2, 1}));
  EXPECT_EQ(r.splits[1].split, "val");
  EXPECT_EQ(r.splits[1].bad_images, 1);
  EXPECT_EQ(r.bad_images.size(), 2u);

  // Printed forms name file:line and kind.
  EXPECT_NE(r.details().find(b + ":3: bad_class"), std::string::npos) << r.details();
  const std::string sum = r.summary();
  EXPECT_NE(sum.find("unreadable_image"), std::string::npos) << sum;
  EXPECT_NE(sum.find("7 error(s), 6 warning(s)"), std::string::npos) << sum;
  EXPECT_NE(r.details(3).find("... and 10 more"), std::string::npos);
}

TEST(CheckData, TrainerHelpersRefuseOrSkip) {
  TempRoot t("check_helpers");
  make_broken(t);
  const DataYaml data = load_data_yaml(t.str("data.yaml"));
  const DataReport r = check_dataset(data, {"train"});
  ASSERT_EQ(r.splits.size(), 1u);
  try {
    enforce_data_report(r, /*strict=*/true);
    FAIL() << "strict must refuse a dataset with errors";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("b.txt:3: bad_class"), std::string::npos) << e.what();
  }
  const auto warnings = enforce_data_report(r, /*strict=*/false);
  EXPECT_FALSE(warnings.empty());
  EXPECT_NE(warnings.back().find("skipped"), std::string::npos);

  DataSplit split = load_yolo_split(data, "train");
  ASSERT_EQ(split.samples.size(), 5u);
  drop_bad_images(split, r);
  EXPECT_EQ(split.samples.size(), 4u);
  for (const LabeledImage& s : split.samples) EXPECT_EQ(s.image.find("c.png"), std::string::npos);
}

TEST(CheckData, CleanDatasetHasNoProblems) {
  TempRoot t("check_clean");
  for (int i = 0; i < 3; ++i) {
    write_image(t.root / "images/train" / ("t" + std::to_string(i) + ".jpg"));
    write_text(t.root / "labels/train" / ("t" + std::to_string(i) + ".txt"), "0 0.4 0.4 0.2 0.3\n1 0.7 0.7 0.2 0.2\n");
  }
  write_image(t.root / "images/val/v.png");
  write_text(t.root / "labels/val/v.txt", "1 0.5 0.5 0.5 0.5\n");
  write_text(t.root / "data.yaml", "path: " + t.root.string() +
                                       "\ntrain: images/train\nval: images/val\nnames: {0: a, 1: b}\n");
  const DataReport r = check_dataset(load_data_yaml(t.str("data.yaml")), {}, CheckOptions{true, 3, false});
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.problems.empty()) << r.details();
  EXPECT_EQ(r.splits[0].boxes, 6);
  EXPECT_TRUE(enforce_data_report(r, true).empty());
  EXPECT_NE(r.summary().find("0 error(s), 0 warning(s)"), std::string::npos);
}

TEST(CheckData, FilesSharedBySplitsAreReportedOnce) {
  TempRoot t("check_shared");
  for (const char* n : {"p.png", "q.png", "r.png"}) write_image(t.root / "images/all" / n);
  write_text(t.root / "labels/all/p.txt", "0 0.5 0.5 0.2 0.2\n4 0.5 0.5 0.2 0.2\n");  // line 2: bad class
  write_text(t.root / "labels/all/q.txt", "0 0.5 0.5 0.2 0.2\n");
  write_text(t.root / "images/all/r.png", "broken");
  write_text(t.root / "data.yaml", "path: " + t.root.string() + "\ntrain: images/all\nval: images/all\nnames: [a]\n");
  const DataReport r = check_dataset(load_data_yaml(t.str("data.yaml")));
  EXPECT_EQ(r.count(IssueKind::BadClass), 1) << r.details();
  EXPECT_EQ(r.count(IssueKind::UnreadableImage), 1);
  EXPECT_EQ(r.count(IssueKind::SplitOverlap), 1);
  // ...but each split's table still counts its own images.
  ASSERT_EQ(r.splits.size(), 2u);
  EXPECT_EQ(r.splits[1].images, 3);
  EXPECT_EQ(r.splits[1].bad_images, 1);
  EXPECT_EQ(r.splits[1].background, 1);
}

TEST(CheckData, EmptyAndUnknownSplits) {
  TempRoot t("check_empty");
  fs::create_directories(t.root / "images/train");
  write_text(t.root / "data.yaml", "path: " + t.root.string() + "\ntrain: images/train\nnames: [a]\n");
  const DataYaml data = load_data_yaml(t.str("data.yaml"));
  const DataReport r = check_dataset(data);
  EXPECT_EQ(r.count(IssueKind::EmptySplit), 1);
  EXPECT_FALSE(r.ok());
  EXPECT_THROW(check_dataset(data, {"val"}), Error);  // not in the yaml: structural error
}

TEST(CheckData, WithoutDecodingOnlyExistenceIsChecked) {
  TempRoot t("check_nodecode");
  make_broken(t);
  CheckOptions opt;
  opt.decode_images = false;
  const DataReport r = check_dataset(load_data_yaml(t.str("data.yaml")), {}, opt);
  EXPECT_EQ(r.count(IssueKind::UnreadableImage), 0);
  EXPECT_EQ(r.count(IssueKind::MissingImage), 1);
}

TEST(CheckData, CliExitCodeFollowsErrorsAndStrict) {
  const std::string bin = YOLONAS_BINARY;
  if (!fs::exists(bin)) GTEST_SKIP() << "CLI binary not built: " << bin;
  TempRoot t("check_cli");
  make_broken(t);
  const std::string out = t.str("out.txt");
  auto run = [&](const std::string& args) {
    const int rc = std::system((bin + " check-data data=" + t.str("data.yaml") + " " + args + " > " + out + " 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(run(""), 1);
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("b.txt:3: bad_class"), std::string::npos) << text;
  EXPECT_NE(text.find("refuses"), std::string::npos) << text;
  EXPECT_EQ(run("strict=false split=train,val max_list=2"), 0);

  TempRoot c("cli_clean");
  write_image(c.root / "images/train/x.png");
  write_text(c.root / "labels/train/x.txt", "0 0.5 0.5 0.2 0.2\n");
  write_text(c.root / "data.yaml", "path: " + c.root.string() + "\ntrain: images/train\nnames: [a]\n");
  const int rc = std::system((bin + " check-data data=" + c.str("data.yaml") + " > /dev/null 2>&1").c_str());
  EXPECT_EQ(WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, 0);
}
