// yolonas synth: exact boxes from alpha, occlusion rule, label round trip, determinism, data.yaml,
// and the Debian asset tables (skipped with a message when the packages are absent).
#include <gtest/gtest.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "test_util.h"
#include "yolonas/detect/coco_names.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"
#include "yolonas/data/synth.h"

namespace fs = std::filesystem;
using namespace yolonas;

namespace {

// A temporary folder removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() /
           ("yolonas_synth_" + tag + "_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Straight-alpha BGRA image of `color` with the given alpha plane.
cv::Mat bgra_of(const cv::Mat& alpha, cv::Scalar color) {
  cv::Mat bgr(alpha.size(), CV_8UC3, color), out;
  std::vector<cv::Mat> ch;
  cv::split(bgr, ch);
  ch.push_back(alpha);
  cv::merge(ch, out);
  return out;
}

// An irregular shape with soft (anti-aliased) edges: an ellipse plus a thin diagonal bar.
cv::Mat irregular_alpha() {
  cv::Mat a(41, 67, CV_8U, cv::Scalar(0));
  cv::ellipse(a, cv::Point(25, 20), cv::Size(22, 13), 20.0, 0, 360, cv::Scalar(255), cv::FILLED, cv::LINE_AA);
  cv::line(a, cv::Point(40, 35), cv::Point(64, 3), cv::Scalar(200), 3, cv::LINE_AA);
  return a;
}

// Writes small synthetic assets (two classes, one distractor, two backgrounds) and returns a config.
SynthConfig tiny_config(const fs::path& dir) {
  fs::create_directories(dir / "assets");
  cv::Mat disc(40, 40, CV_8U, cv::Scalar(0));
  cv::circle(disc, cv::Point(20, 20), 18, cv::Scalar(255), cv::FILLED, cv::LINE_AA);
  cv::imwrite((dir / "assets/disc.png").string(), bgra_of(disc, cv::Scalar(30, 120, 220)));
  cv::imwrite((dir / "assets/blob.png").string(), bgra_of(irregular_alpha(), cv::Scalar(200, 60, 40)));
  cv::Mat ring(30, 30, CV_8U, cv::Scalar(0));
  cv::circle(ring, cv::Point(15, 15), 12, cv::Scalar(255), 4, cv::LINE_AA);
  cv::imwrite((dir / "assets/ring.png").string(), bgra_of(ring, cv::Scalar(20, 200, 20)));
  cv::Mat bg1(120, 180, CV_8UC3), bg2(200, 150, CV_8UC3);
  cv::RNG r(7);
  r.fill(bg1, cv::RNG::UNIFORM, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::GaussianBlur(bg1, bg1, cv::Size(9, 9), 3);
  bg2.setTo(cv::Scalar(90, 140, 60));
  cv::rectangle(bg2, cv::Rect(20, 30, 60, 90), cv::Scalar(10, 10, 200), cv::FILLED);
  cv::imwrite((dir / "assets/bg1.jpg").string(), bg1);
  cv::imwrite((dir / "assets/bg2.png").string(), bg2);

  SynthConfig c;
  c.cutout_files = {{(dir / "assets/disc.png").string(), "disc"}, {(dir / "assets/blob.png").string(), "blob"}};
  c.distractor_files = {(dir / "assets/ring.png").string()};
  c.background_files = {(dir / "assets/bg1.jpg").string(), (dir / "assets/bg2.png").string()};
  c.n_train = 5;
  c.n_val = 2;
  c.imgsz = 128;
  c.workers = 2;
  c.empty_prob = 0.2;
  return c;
}

std::vector<fs::path> files_under(const fs::path& root) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), root));
  std::sort(out.begin(), out.end());
  return out;
}

// Box of pixels whose channel `ch` is >= 128, computed from the rendered image only.
cv::Rect channel_box(const cv::Mat& bgr, int ch) {
  cv::Mat plane, mask;
  cv::extractChannel(bgr, plane, ch);
  cv::compare(plane, 127, mask, cv::CMP_GT);
  return cv::boundingRect(mask);
}

bool have_tuxpaint() { return fs::is_directory(kTuxpaintStampsDir); }

}  // namespace

// ---- exact boxes --------------------------------------------------------------------------------

TEST(Synth, RectangleCutoutAtKnownPlaceHasKnownBox) {
  cv::Mat alpha(17, 25, CV_8U, cv::Scalar(0));
  alpha(cv::Rect(2, 2, 21, 13)).setTo(255);  // transparent margin: the cut-out is cropped to 21x13
  const std::vector<SynthCutout> cutouts = {make_synth_cutout(bgra_of(alpha, cv::Scalar(255, 255, 255)), 3)};
  ASSERT_EQ(cutouts[0].bgra.size(), cv::Size(21, 13));
  const cv::Mat bg(100, 120, CV_8UC3, cv::Scalar(0, 0, 0));

  SynthPlacement p;
  p.x = 30;
  p.y = 40;
  SynthImage img = render_synth_image(bg, cutouts, {p});
  ASSERT_EQ(img.objects.size(), 1u);
  EXPECT_EQ(img.objects[0].class_id, 3);
  EXPECT_EQ(img.objects[0].box, cv::Rect(30, 40, 21, 13));
  EXPECT_EQ(img.objects[0].total_pixels, 21 * 13);
  EXPECT_EQ(img.objects[0].visible_pixels, 21 * 13);

  p.flip = true;  // a mirrored rectangle covers the same pixels
  EXPECT_EQ(render_synth_image(bg, cutouts, {p}).objects[0].box, cv::Rect(30, 40, 21, 13));

  p.long_side = 42;  // exactly 2x: 42 x 26
  EXPECT_EQ(render_synth_image(bg, cutouts, {p}).objects[0].box, cv::Rect(30, 40, 42, 26));

  p.long_side = 0;  // partly left of the image: clipped to what is inside
  p.x = -5;
  p.y = 50;
  img = render_synth_image(bg, cutouts, {p});
  EXPECT_EQ(img.objects[0].box, cv::Rect(0, 50, 16, 13));
  EXPECT_EQ(img.objects[0].patch, cv::Rect(-5, 50, 21, 13));
  EXPECT_NEAR(img.objects[0].visible_fraction(), 16.0 / 21.0, 1e-12);

  p.x = 130;  // entirely outside: no box
  img = render_synth_image(bg, cutouts, {p});
  EXPECT_TRUE(img.objects[0].box.empty());
  EXPECT_EQ(img.objects[0].visible_pixels, 0);
}

TEST(Synth, PhotoCompositingChangesPixelsNotBoxes) {
  // A grey 30x20 rectangle on black. Colour gains, blur and a feathered rim change how it looks;
  // the box (taken from the alpha before any blur) stays the plain paste's.
  cv::Mat alpha(20, 30, CV_8U, cv::Scalar(255));
  const std::vector<SynthCutout> cutouts = {make_synth_cutout(bgra_of(alpha, cv::Scalar(100, 100, 100)), 0)};
  const cv::Mat bg(80, 90, CV_8UC3, cv::Scalar(0, 0, 0));
  SynthPlacement plain;
  plain.x = 20;
  plain.y = 30;
  const SynthImage a = render_synth_image(bg, cutouts, {plain});
  ASSERT_EQ(a.objects[0].box, cv::Rect(20, 30, 30, 20));

  SynthPlacement colour = plain;  // per-channel gains (B, G, R), clamped to the alpha
  colour.colour[0] = 0.5;
  colour.colour[2] = 2.0;
  const SynthImage c = render_synth_image(bg, cutouts, {colour});
  EXPECT_EQ(c.objects[0].box, a.objects[0].box);
  EXPECT_EQ(c.image.at<cv::Vec3b>(40, 35), cv::Vec3b(50, 100, 200));

  SynthPlacement feather = plain;  // rim softened, the inside (> 2 px from the edge) untouched
  feather.feather_sigma = 1.0;
  const SynthImage f = render_synth_image(bg, cutouts, {feather});
  EXPECT_EQ(f.objects[0].box, a.objects[0].box);
  EXPECT_EQ(f.objects[0].total_pixels, a.objects[0].total_pixels);
  EXPECT_EQ(f.image.at<cv::Vec3b>(40, 35), a.image.at<cv::Vec3b>(40, 35));
  EXPECT_LT(f.image.at<cv::Vec3b>(30, 35)[0], a.image.at<cv::Vec3b>(30, 35)[0]);  // top edge row darker
  EXPECT_EQ(a.image.at<cv::Vec3b>(29, 35)[0], 0);
  EXPECT_EQ(f.image.at<cv::Vec3b>(29, 35)[0], 0);  // nothing spills outside the patch

  SynthPlacement blur = plain;  // blurred: the edge softens, the centre keeps its value
  blur.blur_sigma = 1.2;
  const SynthImage b = render_synth_image(bg, cutouts, {blur});
  EXPECT_EQ(b.objects[0].box, a.objects[0].box);
  EXPECT_EQ(b.image.at<cv::Vec3b>(40, 35), a.image.at<cv::Vec3b>(40, 35));
  EXPECT_LT(b.image.at<cv::Vec3b>(30, 21)[0], 80);
}

TEST(Synth, PhotoFalseTurnsTheCompositingOff) {
  // photo=false zeroes the five knobs; the datasets then differ from photo=true with the same seed.
  TempDir tmp("photo");
  const fs::path dir = tmp.path;
  SynthConfig c = tiny_config(dir);
  c.out_dir = (dir / "on").string();
  generate_synthetic_dataset(c, nullptr);
  c.out_dir = (dir / "off").string();
  c.colour_match = c.feather_prob = c.object_blur_prob = c.noise_prob = c.jpeg_artefact_prob = 0.0;
  generate_synthetic_dataset(c, nullptr);
  int same = 0;
  for (const auto& f : files_under(dir / "on" / "images"))
    same += read_bytes(dir / "on" / "images" / f) == read_bytes(dir / "off" / "images" / f);
  EXPECT_LT(same, 7) << "every image identical with and without the photo compositing";
  c.feather_prob = 1.5;
  c.out_dir = (dir / "bad").string();
  try {
    generate_synthetic_dataset(c, nullptr);
    FAIL() << "a probability of 1.5 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("photo-compositing probabilities"), std::string::npos) << e.what();
  }
}

TEST(Synth, BoxesMatchPastedAlphaUnderScaleFlipRotation) {
  // A white cut-out with a soft-edged irregular alpha, pasted on black with gain 1 / bias 0: the
  // rendered pixel value equals the transformed alpha, so the object's pixels (alpha >= 128) can be
  // found from the image alone and their box compared with the one synth reports.
  const std::vector<SynthCutout> cutouts = {
      make_synth_cutout(bgra_of(irregular_alpha(), cv::Scalar(255, 255, 255)), 0)};
  const cv::Mat bg(160, 200, CV_8UC3, cv::Scalar(0, 0, 0));
  struct Case {
    int long_side;
    bool flip;
    double angle;
    int x, y;
  };
  const Case cases[] = {{0, false, 0.0, 10, 12},    {0, true, 0.0, 60, 70},      {120, false, 0.0, 30, 20},
                        {31, true, 0.0, 100, 100},   {67, false, 17.5, 40, 30},   {90, true, -33.0, 20, 40},
                        {50, false, 90.0, 120, 10},  {140, true, 141.0, 10, 5},   {80, false, 8.0, -20, 100},
                        {100, false, -12.0, 150, -30}};
  for (const Case& c : cases) {
    SynthPlacement p;
    p.long_side = c.long_side;
    p.flip = c.flip;
    p.angle_deg = c.angle;
    p.x = c.x;
    p.y = c.y;
    const SynthImage img = render_synth_image(bg, cutouts, {p});
    ASSERT_EQ(img.objects.size(), 1u);
    const SynthObject& o = img.objects[0];
    cv::Mat plane, mask;
    cv::extractChannel(img.image, plane, 0);
    cv::compare(plane, 127, mask, cv::CMP_GT);
    SCOPED_TRACE("long_side=" + std::to_string(c.long_side) + " flip=" + std::to_string(c.flip) +
                 " angle=" + std::to_string(c.angle));
    EXPECT_FALSE(o.box.empty());
    EXPECT_EQ(o.box, cv::boundingRect(mask));
    EXPECT_EQ(o.visible_pixels, cv::countNonZero(mask));
    // the three colour channels agree (white cut-out), so channel 0 was a fair witness
    EXPECT_EQ(channel_box(img.image, 1), o.box);
    EXPECT_EQ(channel_box(img.image, 2), o.box);
  }
}

TEST(Synth, LaterCutoutsHideEarlierOnesAndShrinkTheirBoxes) {
  cv::Mat a(40, 60, CV_8U, cv::Scalar(255)), b(60, 40, CV_8U, cv::Scalar(0));
  cv::circle(b, cv::Point(20, 30), 19, cv::Scalar(255), cv::FILLED);  // binary edges
  b(cv::Rect(0, 0, 40, 60)).setTo(255);                              // make it a full rectangle
  const std::vector<SynthCutout> cutouts = {make_synth_cutout(bgra_of(a, cv::Scalar(0, 0, 255)), 0),  // red
                                            make_synth_cutout(bgra_of(b, cv::Scalar(0, 255, 0)), 1)};  // green
  const cv::Mat bg(120, 140, CV_8UC3, cv::Scalar(0, 0, 0));
  SynthPlacement pa, pb;
  pa.cutout = 0;
  pa.x = 20;
  pa.y = 20;  // red covers x 20..79, y 20..59
  pb.cutout = 1;
  pb.x = 50;
  pb.y = 10;  // green covers x 50..89, y 10..69: the right half of red
  const SynthImage img = render_synth_image(bg, cutouts, {pa, pb});
  ASSERT_EQ(img.objects.size(), 2u);
  EXPECT_EQ(img.objects[0].box, cv::Rect(20, 20, 30, 40));
  EXPECT_EQ(img.objects[0].box, channel_box(img.image, 2));  // what is still red
  EXPECT_EQ(img.objects[0].visible_pixels, 30 * 40);
  EXPECT_NEAR(img.objects[0].visible_fraction(), 0.5, 1e-12);
  EXPECT_EQ(img.objects[1].box, cv::Rect(50, 10, 40, 60));
  EXPECT_EQ(img.objects[1].box, channel_box(img.image, 1));

  // A cut-out that splits another one: the box still spans both visible parts.
  SynthPlacement pc = pb;
  pc.x = 35;
  pc.y = 10;
  cv::Mat thin(60, 10, CV_8U, cv::Scalar(255));
  const std::vector<SynthCutout> two = {cutouts[0], make_synth_cutout(bgra_of(thin, cv::Scalar(0, 255, 0)), 1)};
  const SynthImage split = render_synth_image(bg, two, {pa, pc});
  EXPECT_EQ(split.objects[0].box, cv::Rect(20, 20, 60, 40));
  EXPECT_EQ(split.objects[0].visible_pixels, 50 * 40);
}

TEST(Synth, RandomImagesKeepTheVisibilityRule) {
  TempDir tmp("rule");
  SynthConfig cfg = tiny_config(tmp.path);
  cfg.max_objects = 8;
  cfg.max_distractors = 3;
  cfg.min_visible = 0.5;
  const SynthAssets assets = load_synth_assets(cfg);
  int labelled = 0, empty = 0;
  for (int i = 0; i < 40; ++i) {
    const SynthImage img = synth_random_image(assets, cfg, synth_image_seed(3, 0, i));
    const cv::Rect frame(0, 0, img.image.cols, img.image.rows);
    EXPECT_EQ(std::max(img.image.cols, img.image.rows), cfg.imgsz);
    int n = 0;
    for (const auto& o : img.objects) {
      if (o.class_id < 0) continue;
      ++n;
      EXPECT_GE(o.visible_fraction(), cfg.min_visible) << "image " << i;
      EXPECT_FALSE(o.box.empty());
      EXPECT_EQ(o.box & frame, o.box);
      EXPECT_EQ(o.box & o.patch, o.box);
    }
    labelled += n;
    empty += n == 0;
    const std::string text = synth_label_text(img);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), n);
  }
  EXPECT_GT(labelled, 40);
  EXPECT_GT(empty, 0);  // empty_prob 0.2 over 40 images
}

// ---- dataset on disk ----------------------------------------------------------------------------

TEST(Synth, LabelFilesRoundTripTheExactBoxes) {
  TempDir tmp("labels");
  SynthConfig cfg = tiny_config(tmp.path);
  cfg.out_dir = (tmp.path / "ds").string();
  const SynthSummary sum = generate_synthetic_dataset(cfg);
  EXPECT_EQ(sum.images, 7);
  const SynthAssets assets = load_synth_assets(cfg);
  int64_t boxes = 0;
  for (int split = 0; split < 2; ++split) {
    const int n = split == 0 ? cfg.n_train : cfg.n_val;
    for (int i = 0; i < n; ++i) {
      const SynthImage img = synth_random_image(assets, cfg, synth_image_seed(cfg.seed, split, i));
      char name[16];
      std::snprintf(name, sizeof name, "%06d", i);
      const fs::path base = fs::path(cfg.out_dir);
      const std::string sp = split == 0 ? "train" : "val";
      const cv::Mat jpg = cv::imread((base / "images" / sp / (std::string(name) + ".jpg")).string());
      ASSERT_EQ(jpg.size(), img.image.size());
      std::vector<BoxLabel> labels;
      std::vector<DatasetIssue> issues;
      ASSERT_TRUE(read_yolo_label_file((base / "labels" / sp / (std::string(name) + ".txt")).string(), 2, labels,
                                       issues));
      EXPECT_TRUE(issues.empty());
      std::vector<const SynthObject*> objs;
      for (const auto& o : img.objects)
        if (o.class_id >= 0) objs.push_back(&o);
      ASSERT_EQ(labels.size(), objs.size());
      const double W = img.image.cols, H = img.image.rows;
      for (size_t k = 0; k < labels.size(); ++k) {
        const cv::Rect& b = objs[k]->box;
        EXPECT_EQ(labels[k].cls, objs[k]->class_id);
        // 6 decimals: each normalized value is within 5e-7 of the exact one
        EXPECT_NEAR(labels[k].cx, (b.x + b.width / 2.0) / W, 5.01e-7);
        EXPECT_NEAR(labels[k].cy, (b.y + b.height / 2.0) / H, 5.01e-7);
        EXPECT_NEAR(labels[k].w, b.width / W, 5.01e-7);
        EXPECT_NEAR(labels[k].h, b.height / H, 5.01e-7);
        double xywh[4];
        yolo_to_pixel_xywh(labels[k], ImageSize{img.image.cols, img.image.rows}, xywh);
        EXPECT_NEAR(xywh[0], b.x, 1e-3);
        EXPECT_NEAR(xywh[1], b.y, 1e-3);
        EXPECT_NEAR(xywh[2], b.width, 1e-3);
        EXPECT_NEAR(xywh[3], b.height, 1e-3);
        ++boxes;
      }
    }
  }
  EXPECT_EQ(boxes, sum.boxes);
}

TEST(Synth, SameSeedSameBytesAnyWorkersDifferentSeedDifferent) {
  TempDir tmp("determinism");
  SynthConfig cfg = tiny_config(tmp.path);
  cfg.out_dir = (tmp.path / "a").string();
  cfg.workers = 1;
  generate_synthetic_dataset(cfg);
  cfg.out_dir = (tmp.path / "b").string();
  cfg.workers = 3;
  generate_synthetic_dataset(cfg);
  cfg.out_dir = (tmp.path / "c").string();
  cfg.seed = 1;
  generate_synthetic_dataset(cfg);

  const auto files = files_under(tmp.path / "a");
  ASSERT_EQ(files.size(), 2u * 7 + 1);  // images + labels + data.yaml
  ASSERT_EQ(files, files_under(tmp.path / "b"));
  int differ_c = 0;
  for (const auto& f : files) {
    if (f == "data.yaml") continue;  // holds the absolute path and the seed
    EXPECT_EQ(read_bytes(tmp.path / "a" / f), read_bytes(tmp.path / "b" / f)) << f;
    differ_c += read_bytes(tmp.path / "a" / f) != read_bytes(tmp.path / "c" / f);
  }
  EXPECT_GE(differ_c, 7);  // every image differs with another seed
}

TEST(Synth, DataYamlIsWellFormed) {
  TempDir tmp("yaml");
  SynthConfig cfg = tiny_config(tmp.path);
  cfg.out_dir = (tmp.path / "ds").string();
  cfg.classes = {"blob", "disc"};  // user order = class ids
  const SynthSummary sum = generate_synthetic_dataset(cfg);
  EXPECT_EQ(sum.class_names, (std::vector<std::string>{"blob", "disc"}));

  const DataYaml data = load_data_yaml(sum.data_yaml);
  EXPECT_EQ(data.names, (std::vector<std::string>{"blob", "disc"}));
  EXPECT_EQ(fs::path(data.root), fs::absolute(cfg.out_dir).lexically_normal());
  EXPECT_EQ(list_split_images(data, "train").size(), 5u);
  EXPECT_EQ(list_split_images(data, "val").size(), 2u);
  const DataSplit train = load_yolo_split(data, "train");
  EXPECT_TRUE(train.issues.empty());
  EXPECT_EQ(train.missing_label_files, 0);  // empty images get an empty label file

  const std::string text = read_bytes(sum.data_yaml);
  EXPECT_NE(text.find("\ntrain: images/train\n"), std::string::npos);
  EXPECT_NE(text.find("\nval: images/val\n"), std::string::npos);
  EXPECT_NE(text.find("\nnc: 2\n"), std::string::npos);
  EXPECT_NE(text.find("  0: \"blob\"\n  1: \"disc\"\n"), std::string::npos);

  // A second run into the same folder needs exist_ok.
  EXPECT_THROW(generate_synthetic_dataset(cfg), Error);
  cfg.exist_ok = true;
  cfg.n_train = 2;
  EXPECT_NO_THROW(generate_synthetic_dataset(cfg));
  EXPECT_EQ(list_split_images(load_data_yaml(sum.data_yaml), "train").size(), 2u);
}

TEST(Synth, ClearErrorsForMissingAssetsAndBadClasses) {
  SynthConfig cfg;
  cfg.stamps_dir = "/nonexistent/tuxpaint/stamps";
  try {
    load_synth_assets(cfg);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tuxpaint-stamps-default"), std::string::npos) << e.what();
  }
  TempDir tmp("errors");
  SynthConfig t = tiny_config(tmp.path);
  t.classes = {"disc", "unicorn"};
  try {
    load_synth_assets(t);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unicorn"), std::string::npos) << e.what();
  }
  t.classes.clear();
  t.background_files.clear();
  t.background_dirs = {(tmp.path / "no_such_dir").string()};
  EXPECT_THROW(load_synth_assets(t), Error);
  t.background_dirs = {(tmp.path / "assets").string()};  // a user folder of backgrounds
  EXPECT_EQ(load_synth_assets(t).background_files.size(), 5u);  // every image in it (cut-outs too)
  SynthConfig bad = t;
  bad.min_size = 0.9;
  bad.max_size = 0.5;
  bad.out_dir = (tmp.path / "x").string();
  EXPECT_THROW(generate_synthetic_dataset(bad), Error);
}

// ---- the Debian asset tables --------------------------------------------------------------------

TEST(SynthTables, DefaultClassesFollowCocoOrder) {
  const auto classes = synth_default_classes();
  const auto& coco = coco80_names();
  int last = -1;
  for (const auto& c : classes) {
    const int idx = static_cast<int>(std::find(coco.begin(), coco.end(), c) - coco.begin());
    ASSERT_LT(idx, 80) << c << " is not a COCO class";
    EXPECT_GT(idx, last) << c;
    last = idx;
  }
  // the classes the issue asks for, pizza excepted (its only stamp is a cartoon)
  for (const char* want : {"dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "bird", "car",
                           "truck", "bus", "airplane", "boat", "apple", "orange", "banana", "broccoli", "carrot",
                           "cup", "scissors", "toilet", "teddy bear", "sports ball", "clock"})
    EXPECT_NE(std::find(classes.begin(), classes.end(), want), classes.end()) << want;
  EXPECT_EQ(classes.size(), 25u);
  std::set<std::string> files;
  for (const auto& e : synth_stamp_table()) EXPECT_TRUE(files.insert(e.file).second) << "duplicate " << e.file;
  for (const std::string& f : synth_distractor_table()) EXPECT_TRUE(files.insert(f).second) << "duplicate " << f;
}

TEST(SynthTables, StampFilesExistAndAreRgba) {
  if (!have_tuxpaint())
    GTEST_SKIP() << "Debian package tuxpaint-stamps-default is not installed (" << kTuxpaintStampsDir << ")";
  for (const auto& e : synth_stamp_table()) {
    const std::string p = std::string(kTuxpaintStampsDir) + "/" + e.file;
    ASSERT_TRUE(fs::is_regular_file(p)) << p;
    const SynthCutout c = load_synth_cutout(p, 0, 64);
    EXPECT_LE(std::max(c.bgra.cols, c.bgra.rows), 64) << p;
    EXPECT_GT(std::min(c.bgra.cols, c.bgra.rows), 0) << p;
  }
  for (const std::string& f : synth_distractor_table()) {
    const std::string p = std::string(kTuxpaintStampsDir) + "/" + f;
    ASSERT_TRUE(fs::is_regular_file(p)) << p;
  }
}

TEST(SynthTables, BackgroundFilesOfInstalledPackagesExist) {
  int checked = 0;
  std::string skipped;
  for (const auto& pkg : synth_background_packages()) {
    // a package counts as installed when dpkg knows its file list
    if (!fs::exists("/var/lib/dpkg/info/" + pkg + ".list")) {
      skipped += " " + pkg;
      continue;
    }
    for (const auto& e : synth_background_table()) {
      if (pkg != e.package) continue;
      EXPECT_TRUE(fs::is_regular_file(e.path)) << e.path << " (" << pkg << ")";
      ++checked;
    }
  }
  if (checked == 0) GTEST_SKIP() << "no background package installed:" << skipped;
  if (!skipped.empty()) std::cout << "[ note ] background packages not installed:" << skipped << "\n";
}

TEST(SynthTables, TinyDatasetFromDebianAssets) {
  if (!have_tuxpaint())
    GTEST_SKIP() << "Debian package tuxpaint-stamps-default is not installed (" << kTuxpaintStampsDir << ")";
  TempDir tmp("debian");
  SynthConfig cfg;
  cfg.out_dir = (tmp.path / "ds").string();
  cfg.n_train = 4;
  cfg.n_val = 1;
  cfg.imgsz = 128;
  SynthSummary sum;
  try {
    sum = generate_synthetic_dataset(cfg);
  } catch (const Error& e) {
    if (std::string(e.what()).find("no background photos") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  EXPECT_EQ(sum.class_names, synth_default_classes());
  EXPECT_EQ(sum.cutouts, static_cast<int>(synth_stamp_table().size()));
  const DataSplit train = load_yolo_split(load_data_yaml(sum.data_yaml), "train");
  EXPECT_EQ(train.samples.size(), 4u);
  EXPECT_TRUE(train.issues.empty());
  // the same image again from the same seed, through the library API
  const SynthAssets assets = load_synth_assets(cfg);
  // Tux Paint's "nomirror" flag is honoured: the clock face (numerals) is never mirrored
  int clocks = 0;
  for (const auto& c : assets.cutouts) {
    if (c.source.find("clockface") != std::string::npos) {
      EXPECT_FALSE(c.mirror);
      ++clocks;
    }
    if (c.source.find("/dogs/dog.png") != std::string::npos) EXPECT_TRUE(c.mirror);
  }
  EXPECT_EQ(clocks, 1);
  const SynthImage a = synth_random_image(assets, cfg, synth_image_seed(0, 0, 2));
  const SynthImage b = synth_random_image(assets, cfg, synth_image_seed(0, 0, 2));
  EXPECT_EQ(cv::norm(a.image, b.image, cv::NORM_INF), 0.0);
  EXPECT_EQ(synth_label_text(a), synth_label_text(b));
}

TEST(Synth, LargeBackgroundsAreReducedOnLoad) {
  TempDir tmp("bigbg");
  cv::Mat big(1000, 2400, CV_8UC3);
  cv::RNG r(1);
  r.fill(big, cv::RNG::UNIFORM, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::imwrite((tmp.path / "big.jpg").string(), big);  // decoded at 1/4 scale, then to 500 px
  cv::imwrite((tmp.path / "big.png").string(), big);  // decoded whole, then resized
  SynthAssets a;
  a.background_files = {(tmp.path / "big.jpg").string(), (tmp.path / "big.png").string()};
  a.set_background_max_side(500);
  a.reset_background_cache();
  EXPECT_EQ(a.background(0).size(), cv::Size(500, 208));
  EXPECT_EQ(a.background(1).size(), cv::Size(500, 208));
  EXPECT_EQ(&a.background(0), &a.background(0));  // decoded once
}

TEST(SynthTables, RealStampAlphaGivesTheBox) {
  if (!have_tuxpaint())
    GTEST_SKIP() << "Debian package tuxpaint-stamps-default is not installed (" << kTuxpaintStampsDir << ")";
  // The alpha planes of real stamps (soft edges, holes) as white cut-outs on black: the reported box
  // must be the box of the rendered pixels >= 128, as in BoxesMatchPastedAlphaUnderScaleFlipRotation.
  const cv::Mat bg(300, 360, CV_8UC3, cv::Scalar(0, 0, 0));
  double angle = -25.0;
  for (const char* f : {"animals/mammals/dogs/dog.png", "household/arttools/scissors_small_open.png",
                        "animals/birds/heron_greatblue_flying.png", "food/fruit/apple_red.png"}) {
    const cv::Mat rgba = cv::imread(std::string(kTuxpaintStampsDir) + "/" + f, cv::IMREAD_UNCHANGED);
    ASSERT_EQ(rgba.type(), CV_8UC4) << f;
    cv::Mat alpha;
    cv::extractChannel(rgba, alpha, 3);
    const std::vector<SynthCutout> c = {make_synth_cutout(bgra_of(alpha, cv::Scalar(255, 255, 255)), 0, f)};
    SynthPlacement p;
    p.long_side = 150;
    p.angle_deg = angle;
    p.flip = angle > 0;
    p.x = 60;
    p.y = 50;
    angle += 17.0;
    const SynthImage img = render_synth_image(bg, c, {p});
    EXPECT_EQ(img.objects[0].box, channel_box(img.image, 0)) << f;
    EXPECT_FALSE(img.objects[0].box.empty()) << f;
  }
}
