// End to end: the Detector API against SG's predict(), and the `yolonas` binary on real files and
// on every kind of bad input (clear message naming the problem, non-zero exit, no crash).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/dnn.hpp>

#include "torch_test_util.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/api/detector.h"
#include "yolonas/detect/model_meta.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

struct RunResult {
  int code;
  std::string output;  // stdout + stderr
};

RunResult run_cli(const std::string& args, const std::string& cwd) {
  const std::string cmd = "cd '" + cwd + "' && '" + std::string(YOLONAS_BINARY) + "' " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

std::string work_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("yolonas_cli_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

std::string tiny_args() {
  return "model=" + tiny_dir() + "/tiny_arch.json weights=" + tiny_dir() + "/tiny_det.pth imgsz=128 threads=1";
}

}  // namespace

TEST(PredictEndToEnd, SImageReproducesSGPredict) {
  REQUIRE_GOLDEN();
  DetectorOptions o;
  o.weights = golden_dir() + "/yolo_nas_s_det.pth";
  o.fuse = "partial";  // what SG's predict() runs
  o.threads = 1;
  Detector det = Detector::load(o);
  cv::Mat img = cv::imread(golden_dir() + "/image_640_src_000000444010.jpg", cv::IMREAD_COLOR);
  ImageResult r = det.predict(img);
  auto boxes = load_tensor(golden_dir() + "/predict_image_640/bboxes_xyxy.npy");
  auto conf = load_tensor(golden_dir() + "/predict_image_640/confidence.npy");
  auto labels = load_tensor(golden_dir() + "/predict_image_640/labels.npy");
  ASSERT_EQ(static_cast<int64_t>(r.detections.size()), boxes.size(0));
  for (size_t i = 0; i < r.detections.size(); ++i) {
    const auto& d = r.detections[i];
    const float got[4] = {d.x1, d.y1, d.x2, d.y2};
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(got[k], boxes[i][k].item<float>(), 2e-3) << "det " << i;
    EXPECT_NEAR(d.score, conf[i].item<float>(), 1e-5);
    EXPECT_EQ(d.cls, labels[i].item<int64_t>());
  }
  // Our fastest path (full fusion + Conv/BN folding) gives the same detections.
  o.fuse = "full";
  ImageResult f = Detector::load(o).predict(img);
  ASSERT_EQ(f.detections.size(), r.detections.size());
  for (size_t i = 0; i < f.detections.size(); ++i) {
    EXPECT_NEAR(f.detections[i].x1, r.detections[i].x1, 5e-3);
    EXPECT_EQ(f.detections[i].cls, r.detections[i].cls);
  }
}

TEST(PredictEndToEnd, TinyBatchEqualsOneByOne) {
  DetectorOptions o;
  o.model = tiny_dir() + "/tiny_arch.json";
  o.weights = tiny_dir() + "/tiny_det.pth";
  o.imgsz = 128;
  o.threads = 1;
  Detector det = Detector::load(o);
  cv::Mat a = cv::imread(tiny_dir() + "/image_src_grace_hopper.jpg");
  cv::Mat b;
  cv::flip(a, b, 1);
  auto batch = det.predict(std::vector<cv::Mat>{a, b});
  auto one = det.predict(b);
  ASSERT_EQ(batch[1].detections.size(), one.detections.size());
  for (size_t i = 0; i < one.detections.size(); ++i) EXPECT_NEAR(batch[1].detections[i].x1, one.detections[i].x1, 1e-3);
  EXPECT_EQ(det.names(), (std::vector<std::string>{"class0", "class1", "class2"}));
}

TEST(Cli, PredictWritesAnnotatedImageLabelsAndJson) {
  const std::string wd = work_dir("predict");
  const std::string img = tiny_dir() + "/image_src_grace_hopper.jpg";
  auto r = run_cli("predict " + tiny_args() + " source=" + img + " conf=0.2 save_txt=true save_conf=true save_json=true",
                   wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("image 1/1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ms infer"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Results saved to runs/detect/predict"), std::string::npos) << r.output;
  const fs::path run = fs::path(wd) / "runs/detect/predict";
  cv::Mat annotated = cv::imread((run / "image_src_grace_hopper.jpg").string());
  ASSERT_FALSE(annotated.empty());
  EXPECT_EQ(annotated.cols, 512);
  EXPECT_EQ(annotated.rows, 600);
  std::ifstream txt(run / "labels/image_src_grace_hopper.txt");
  int cls;
  double cx, cy, w, h, c;
  ASSERT_TRUE(txt >> cls >> cx >> cy >> w >> h >> c) << "expected at least one detection at conf 0.2";
  EXPECT_TRUE(cls >= 0 && cls < 3 && cx >= 0 && cx <= 1 && c >= 0.2 && c <= 1);
  auto j = nlohmann::json::parse(std::ifstream(run / "predictions.json"));
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j[0]["image_id"], "image_src_grace_hopper");
  EXPECT_EQ(j[0]["bbox"].size(), 4u);

  // A second run goes to predict2 (Ultralytics numbering); exist_ok reuses the folder.
  r = run_cli("predict " + tiny_args() + " source=" + img, wd);
  EXPECT_NE(r.output.find("runs/detect/predict2"), std::string::npos) << r.output;
  r = run_cli("predict " + tiny_args() + " source=" + img + " project=out name=x exist_ok=true", wd);
  EXPECT_TRUE(fs::exists(fs::path(wd) / "out/x/image_src_grace_hopper.jpg")) << r.output;
}

TEST(Cli, PredictAugmentRunsTheThreeViews) {
  const std::string wd = work_dir("augment");
  const std::string img = tiny_dir() + "/image_src_grace_hopper.jpg";
  auto r = run_cli("predict " + tiny_args() + " source=" + img + " conf=0.2 save_json=true augment=true name=tta", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("TTA: 1, 0.83 mirrored, 0.67"), std::string::npos) << r.output;
  ASSERT_EQ(run_cli("predict " + tiny_args() + " source=" + img + " conf=0.2 save_json=true name=plain", wd).code, 0);
  // The plain view is one of the three and the NMS keeps the best candidate of all: the augmented
  // run's best score is at least the plain run's.
  auto best = [&](const std::string& name) {
    const auto j = nlohmann::json::parse(std::ifstream(fs::path(wd) / "runs/detect" / name / "predictions.json"));
    double m = -1;
    for (const auto& d : j) m = std::max(m, d["score"].get<double>());
    return m;
  };
  EXPECT_GT(best("plain"), 0.2);
  EXPECT_GE(best("tta"), best("plain"));
  r = run_cli("predict " + tiny_args() + " source=" + img + " augment=maybe", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("augment"), std::string::npos) << r.output;
}

TEST(Cli, PredictAugmentFlipIsMirrorEquivariant) {
  // augment=flip averages each anchor with its mirror's, so the detections of a mirrored picture
  // are the mirrored detections of the picture, when the letterbox pads it as much on the left as on
  // the right: 100x127 fits the tiny model's 127 as it is, and is padded 14 + 14 to 128.
  const std::string wd = work_dir("augment_flip");
  cv::Mat img = cv::imread(tiny_dir() + "/image_src_grace_hopper.jpg");
  ASSERT_FALSE(img.empty());
  cv::Mat picture, mirrored;
  cv::resize(img, picture, cv::Size(100, 127), 0, 0, cv::INTER_AREA);
  cv::flip(picture, mirrored, 1);
  cv::imwrite(wd + "/a.png", picture);
  cv::imwrite(wd + "/b.png", mirrored);
  auto detections = [&](const std::string& file, const std::string& augment) {
    auto r = run_cli("predict " + tiny_args() + " source=" + file + " conf=0.05 save_json=true save=false augment=" + augment +
                         " name=" + file + augment,
                     wd);
    EXPECT_EQ(r.code, 0) << r.output;
    if (augment == "flip") EXPECT_NE(r.output.find("flip-averaged"), std::string::npos) << r.output;
    return nlohmann::json::parse(std::ifstream(fs::path(wd) / "runs/detect" / (file + augment) / "predictions.json"));
  };
  const auto a = detections("a.png", "flip"), b = detections("b.png", "flip");
  ASSERT_GT(a.size(), 2u);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& d : a) {
    const auto box = d["bbox"];  // COCO x, y, w, h
    const double mx = 100 - box[0].get<double>() - box[2].get<double>();
    bool matched = false;
    for (const auto& e : b)
      matched |= e["category_id"] == d["category_id"] && std::fabs(e["score"].get<double>() - d["score"].get<double>()) < 2e-3 &&
                 std::fabs(e["bbox"][0].get<double>() - mx) < 0.5 && std::fabs(e["bbox"][1].get<double>() - box[1].get<double>()) < 0.5 &&
                 std::fabs(e["bbox"][2].get<double>() - box[2].get<double>()) < 0.5;
    EXPECT_TRUE(matched) << "no mirrored twin for " << d.dump();
  }
  // Without it the model is not mirror-equivariant (else the check above proves nothing).
  const auto pa = detections("a.png", "false"), pb = detections("b.png", "false");
  double max_a = 0, max_b = 0;
  for (const auto& d : pa) max_a = std::max(max_a, d["score"].get<double>());
  for (const auto& d : pb) max_b = std::max(max_b, d["score"].get<double>());
  EXPECT_GT(std::fabs(max_a - max_b), 2e-3);
  auto r = run_cli("predict " + tiny_args() + " source=a.png augment=flipped", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("expected true (three views merged by the NMS), false or flip"), std::string::npos) << r.output;
}

TEST(Cli, PredictOnFolderGlobAndVideo) {
  const std::string wd = work_dir("sources");
  cv::Mat img = cv::imread(tiny_dir() + "/image_src_grace_hopper.jpg");
  fs::create_directories(fs::path(wd) / "imgs");
  for (int i = 0; i < 3; ++i) cv::imwrite(wd + "/imgs/im" + std::to_string(i) + ".png", img);
  auto r = run_cli("predict " + tiny_args() + " source=imgs batch=2", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("image 3/3"), std::string::npos) << r.output;
  r = run_cli("predict " + tiny_args() + " source='imgs/im[01].png'", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("image 2/2"), std::string::npos) << r.output;

  {  // a 5-frame MJPG video
    cv::VideoWriter w(wd + "/clip.avi", cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(256, 192));
    ASSERT_TRUE(w.isOpened());
    cv::Mat small;
    cv::resize(img, small, cv::Size(256, 192));
    for (int i = 0; i < 5; ++i) w.write(small);
  }
  r = run_cli("predict " + tiny_args() + " source=clip.avi save_txt=true", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("5 frames"), std::string::npos) << r.output;
  cv::VideoCapture cap;
  for (const char* ext : {".mp4", ".avi"})
    if (fs::exists(fs::path(wd) / "runs/detect/predict3" / (std::string("clip") + ext)))
      cap.open((fs::path(wd) / "runs/detect/predict3" / (std::string("clip") + ext)).string());
  ASSERT_TRUE(cap.isOpened()) << r.output;
  EXPECT_EQ(static_cast<int>(cap.get(cv::CAP_PROP_FRAME_COUNT)), 5);
}

TEST(CliErrors, BadInputsGiveClearMessagesAndNonZeroExit) {
  const std::string wd = work_dir("errors");
  std::ofstream(wd + "/not_image.jpg") << "plain text, not a JPEG";
  std::ofstream(wd + "/notes.xyz") << "x";
  std::ofstream(wd + "/broken.pth") << "PK\x03\x04 truncated";
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"predict " + tiny_args() + " source=missing.jpg", "missing.jpg: no such file"},
      {"predict " + tiny_args() + " source=not_image.jpg", "not_image.jpg: skipped: cannot decode"},
      {"predict " + tiny_args() + " source=notes.xyz", "unsupported file type '.xyz'"},
      {"predict model=" + tiny_dir() + "/tiny_arch.json random_init=true source=" + tiny_dir() +
           "/image_src_grace_hopper.jpg imgsz=100",
       "imgsz=100: must be a multiple of 32"},
      // Found by fuzzing: these were silent or undefined.
      {"predict " + tiny_args() + " source=x.jpg conf=nan", "conf=nan: expected a finite number"},
      {"predict " + tiny_args() + " source=x.jpg iou=NaN", "iou=NaN: expected a finite number"},
      {"predict " + tiny_args() + " source=x.jpg conf=1.5", "conf=1.5: must be between 0 and 1"},
      {"predict model=" + tiny_dir() + "/tiny_arch.json weights=" + tiny_dir() + "/tiny_det.pth source=x.jpg imgsz=0",
       "imgsz=0: must be a multiple of 32"},
      {"predict " + tiny_args() + " source=99999999999", "camera index out of range"},
      {"train data=x.yaml lr0=nan", "lr0=nan: expected a finite number"},
      {"train data=x.yaml multi_scale=big", "multi_scale=big: expected true (SG's 5 steps of 32 pixels), false, or a number"},
      {"train data=x.yaml imgsz=320 multi_scale=9", "multi_scale <= 8"},
      {"predict model=yolo_nas_s weights=" + data_dir() + "/bad_inputs/stack_underflow.pth source=" + tiny_dir() +
           "/image_src_grace_hopper.jpg",
       "stack_underflow.pth: checkpoint is corrupt or not a torch.save file (data.pkl, byte 2): REDUCE on an empty stack"},
      {"predict model=yolo_nas_s weights=" + data_dir() + "/bad_inputs/zip64_wrap_usize.pth source=" + tiny_dir() +
           "/image_src_grace_hopper.jpg",
       "zip64_wrap_usize.pth: checkpoint is truncated or corrupt (record 'archive/data.pkl' runs past the end"},
      {"predict model=yolo_nas_s source=" + tiny_dir() + "/image_src_grace_hopper.jpg", "non-commercial"},
      {"predict model=yolo_nas_s weights=broken.pth source=" + tiny_dir() + "/image_src_grace_hopper.jpg",
       "broken.pth: checkpoint is truncated or corrupt"},
      {"predict model=yolo_nas_s weights=" + tiny_dir() + "/tiny_det.pth source=" + tiny_dir() +
           "/image_src_grace_hopper.jpg",
       "with a different shape"},
      {"predict " + tiny_args() + " source=x.jpg cnof=0.3", "unknown argument 'cnof'"},
      {"predict " + tiny_args() + " source=x.jpg conf=abc", "conf=abc: expected a number"},
      {"predict " + tiny_args() + " source=" + tiny_dir() + "/image_src_grace_hopper.jpg classes=5",
       "class 5 does not exist"},
      {"predict model=" + tiny_dir() + "/missing_arch.yaml random_init=true source=" + tiny_dir() +
           "/image_src_grace_hopper.jpg",
       "cannot open arch-params"},
      {"frobnicate", "unknown mode 'frobnicate'"},
  };
  for (const auto& c : cases) {
    auto r = run_cli(c.args, wd);
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_LT(r.code, 128) << "crashed: " << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("error"), std::string::npos) << r.output;
  }
}

TEST(CliErrors, OneBadImageDoesNotStopAFolder) {
  // A 0-byte jpg, a 1x20000 png (rescales to nothing) and a symlink loop beside two good images:
  // each bad one is skipped with a warning naming it, the good ones are predicted, exit 0.
  const std::string wd = work_dir("bad_folder");
  const std::string src = wd + "/imgs";
  fs::create_directories(src);
  fs::copy_file(tiny_dir() + "/image_src_grace_hopper.jpg", src + "/a_good.jpg");
  fs::copy_file(tiny_dir() + "/image_src_grace_hopper.jpg", src + "/d_good.jpg");
  std::ofstream(src + "/b_empty.jpg");
  cv::imwrite(src + "/c_thin.png", cv::Mat(1, 20000, CV_8UC3, cv::Scalar(1, 2, 3)));
  fs::create_symlink("e_loop.jpg", src + "/e_loop.jpg");
  auto r = run_cli("predict " + tiny_args() + " source=imgs batch=2 save=false", wd);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("b_empty.jpg: skipped: empty file"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("c_thin.png: skipped:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("e_loop.jpg"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("a_good.jpg: 512x600"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("d_good.jpg: 512x600"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 files skipped"), std::string::npos) << r.output;
  // Nothing readable at all is an error.
  fs::remove(src + "/a_good.jpg");
  fs::remove(src + "/d_good.jpg");
  r = run_cli("predict " + tiny_args() + " source=imgs save=false", wd);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("no image or video could be read"), std::string::npos) << r.output;
}

TEST(PredictEndToEnd, CheckpointConfAndIouAreTheDefaults) {
  // ModelMeta records conf and iou: they are predict's defaults, and an explicit key still wins.
  const std::string wd = work_dir("meta_conf");
  Checkpoint ck = read_checkpoint(tiny_dir() + "/tiny_det.pth");
  ModelMeta meta;
  meta.model_name = "tiny";
  meta.arch = ArchParams::from_file(tiny_dir() + "/tiny_arch.json");
  meta.names = {"a", "b", "c"};
  meta.preprocessing = PreprocessParams::for_imgsz(128, 128);
  meta.conf = 0.05f;
  meta.iou = 0.5f;
  CheckpointWrite w;
  w.net = &ck.weights;
  w.meta_json = meta.to_json();
  write_checkpoint(wd + "/meta.pth", w);
  DetectorOptions o;
  o.model = "";
  o.weights = wd + "/meta.pth";
  o.threads = 1;
  Detector det = Detector::load(o);
  EXPECT_FLOAT_EQ(det.default_nms().conf, 0.05f);
  EXPECT_FLOAT_EQ(det.default_nms().iou, 0.5f);
  const std::string img = tiny_dir() + "/image_src_grace_hopper.jpg";
  const cv::Mat m = cv::imread(img);
  const size_t at_meta = det.predict(m, det.default_nms()).detections.size();
  NmsParams strict = det.default_nms();
  strict.conf = 0.9f;
  const size_t at_09 = det.predict(m, strict).detections.size();
  ASSERT_GT(at_meta, at_09) << "the tiny model must give more boxes at conf 0.05 than at 0.9";
  // The CLI: the json holds what the checkpoint's conf lets through, unless conf= is given.
  auto count = [&](const std::string& extra) {
    auto r = run_cli("predict weights=meta.pth threads=1 save=false save_json=true exist_ok=true name=p source=" + img +
                         " " + extra,
                     wd);
    EXPECT_EQ(r.code, 0) << r.output;
    std::ifstream f(wd + "/runs/detect/p/predictions.json");
    return nlohmann::json::parse(f).size();
  };
  EXPECT_EQ(count(""), at_meta);
  EXPECT_EQ(count("conf=0.9"), at_09);
  // The writer still records the values it is given.
  EXPECT_FLOAT_EQ(ModelMeta::from_json(meta.to_json(), "m").conf, 0.05f);
}

TEST(CliErrors, HugeArgumentsAreNotEchoedWhole) {
  const std::string wd = work_dir("long_args");
  const std::string long_path(100000, 'p');
  auto r = run_cli("predict " + tiny_args() + " source=" + long_path + ".jpg", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << r.output;
  EXPECT_LT(r.output.size(), 2000u) << r.output.substr(0, 400);
  EXPECT_NE(r.output.find("bytes)..."), std::string::npos) << r.output.substr(0, 400);
}

TEST(Cli, ValMatchesClassesByNameWhenTheDatasetOrdersThemDifferently) {
  // Ground truth = the tiny model's own detections (save_txt), once with the model's class order and
  // once with the classes listed in reverse (labels renumbered to match): val scores both the same.
  const std::string wd = work_dir("val_names");
  const std::string img = tiny_dir() + "/image_src_grace_hopper.jpg";
  auto r = run_cli("predict " + tiny_args() + " source=" + img + " conf=0.2 save_txt=true save=false", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  DetectorOptions o;
  o.model = tiny_dir() + "/tiny_arch.json";
  o.weights = tiny_dir() + "/tiny_det.pth";
  const std::vector<std::string> names = Detector::load(o).names();
  const int nc = static_cast<int>(names.size());
  ASSERT_GE(nc, 2);
  std::vector<std::string> rows;
  {
    std::ifstream in(fs::path(wd) / "runs/detect/predict/labels/image_src_grace_hopper.txt");
    for (std::string l; std::getline(in, l);) rows.push_back(l);
  }
  ASSERT_FALSE(rows.empty());
  auto write_set = [&](const std::string& dir, bool reversed) {
    fs::create_directories(dir + "/images/val");
    fs::create_directories(dir + "/labels/val");
    fs::copy_file(img, dir + "/images/val/a.jpg");
    std::ofstream lab(dir + "/labels/val/a.txt");
    for (const std::string& row : rows) {
      std::istringstream in(row);
      int cls;
      double cx, cy, w, h;
      in >> cls >> cx >> cy >> w >> h;
      lab << (reversed ? nc - 1 - cls : cls) << " " << cx << " " << cy << " " << w << " " << h << "\n";
    }
    std::ofstream y(dir + "/data.yaml");
    y << "val: images/val\nnames: [";
    for (int k = 0; k < nc; ++k) y << (k ? ", " : "") << '"' << names[static_cast<size_t>(reversed ? nc - 1 - k : k)] << '"';
    y << "]\n";
  };
  write_set(wd + "/same", false);
  write_set(wd + "/reversed", true);
  double ap[2];
  for (int v = 0; v < 2; ++v) {
    const std::string name = v ? "reversed" : "same";
    r = run_cli("val " + tiny_args() + " data=" + wd + "/" + name + "/data.yaml name=" + name + " plots=false", wd);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.output.find("matched to the dataset's classes by name (" + std::to_string(nc) + " shared)") !=
                  std::string::npos,
              v == 1)
        << r.output;
    auto m = nlohmann::json::parse(std::ifstream(fs::path(wd) / "runs/detect" / name / "metrics.json"));
    ap[v] = m["coco"]["AP50"].get<double>();
  }
  EXPECT_GT(ap[0], 0.9);  // its own detections
  EXPECT_DOUBLE_EQ(ap[1], ap[0]);
}

TEST(Cli, ExportOnnxWritesARunnableFileWithTheMetadata) {
  const std::string wd = work_dir("export_onnx");
  const std::string model = "model=" + tiny_dir() + "/tiny_arch.json weights=" + tiny_dir() + "/tiny_det.pth imgsz=128";
  auto r = run_cli("export " + model + " format=onnx out=tiny.onnx", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ONNX opset 13"), std::string::npos) << r.output;
  std::ifstream in(fs::path(wd) / "tiny.onnx", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(bytes.find("yolonas_meta"), std::string::npos);  // metadata_props travel with the file
  EXPECT_NE(bytes.find("names"), std::string::npos);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
  const int sizes[4] = {1, 3, 128, 128};
  cv::Mat blob(4, sizes, CV_32F, cv::Scalar(0.5));
  net.setInput(blob, "images");
  std::vector<cv::Mat> outs;
  net.forward(outs, std::vector<cv::String>{"boxes", "scores"});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].total(), 336u * 4);  // 16x16 + 8x8 + 4x4 anchors at 128x128
  r = run_cli("export " + model + " format=tflite", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("expected pth, onnx, ynas"), std::string::npos) << r.output;
}

TEST(Cli, ExportAveragesSeveralCheckpoints) {
  const std::string wd = work_dir("export_average");
  const std::string a = tiny_dir() + "/tiny_det.pth", arch = "model=" + tiny_dir() + "/tiny_arch.json imgsz=128";
  // A second checkpoint: the first's weights, every floating tensor x0.5 + 0.25.
  const yolonas::Checkpoint ca = yolonas::read_checkpoint(a);
  yolonas::StateDict sb;
  for (const auto& [k, v] : ca.weights) sb.emplace_back(k, v.is_floating_point() ? v * 0.5 + 0.25 : v + 2);
  yolonas::CheckpointWrite w;
  w.net = &sb;
  if (ca.meta_json) w.meta_json = *ca.meta_json;
  yolonas::write_checkpoint(wd + "/b.pth", w);
  auto r = run_cli("export " + arch + " weights=" + a + ",b.pth format=pth out=avg.pth", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("the average of 2 checkpoints"), std::string::npos) << r.output;
  const yolonas::Checkpoint avg = yolonas::read_checkpoint(wd + "/avg.pth");
  std::map<std::string, torch::Tensor> by_key(avg.weights.begin(), avg.weights.end());
  size_t compared = 0;
  for (size_t i = 0; i < ca.weights.size(); ++i) {
    const auto& [k, v] = ca.weights[i];
    ASSERT_TRUE(by_key.count(k)) << k;
    const torch::Tensor expected = v.is_floating_point() ? (v + sb[i].second) / 2 : v + 1;
    ASSERT_TRUE(torch::allclose(by_key[k].to(expected.dtype()), expected, 1e-5, 1e-6)) << k;
    ++compared;
  }
  EXPECT_EQ(compared, avg.weights.size());
  // The average runs like any model; a missing file is named; no source is overwritten.
  EXPECT_EQ(run_cli("predict model=" + tiny_dir() + "/tiny_arch.json weights=avg.pth imgsz=128 threads=1 source=" + tiny_dir() +
                        "/image_src_grace_hopper.jpg save=false",
                    wd)
                .code,
            0);
  // One file with a stray comma, and a file whose name has a comma, are single checkpoints.
  fs::copy_file(wd + "/b.pth", wd + "/b,c.pth");
  r = run_cli("export " + arch + " weights=b.pth, format=pth out=one.pth", wd);
  EXPECT_EQ(r.code, 0) << r.output;
  r = run_cli("export " + arch + " weights=b,c.pth format=pth out=two.pth", wd);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("average"), std::string::npos) << r.output;
  r = run_cli("export " + arch + " weights=" + a + ",missing.pth format=pth out=x.pth", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("missing.pth"), std::string::npos) << r.output;
  r = run_cli("export " + arch + " weights=" + a + ",b.pth format=pth out=b.pth", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("out= must differ from weights="), std::string::npos) << r.output;
}

// Triton's config.pbtxt, read as protobuf text: every line is a comment, `key: value`, `key [`,
// `key {`, `{`, `}`, `},` or `]`, and the brackets balance. Returns the dims of each named tensor
// and the scalar fields (empty map on a malformed file, with `error` set).
namespace {

struct Pbtxt {
  std::map<std::string, std::vector<long>> dims;
  std::map<std::string, std::string> fields;
  std::string error;
};
Pbtxt read_pbtxt(const std::string& text) {
  Pbtxt p;
  std::vector<char> stack;
  std::string current;  // the tensor whose block we are in
  std::istringstream in(text);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    const size_t a = line.find_first_not_of(' ');
    if (a == std::string::npos || line[a] == '#') continue;
    const std::string l = line.substr(a);
    const auto bad = [&] { p.error = "line " + std::to_string(line_no) + ": " + l; };
    if (l == "{" || (l.size() > 2 && l.compare(l.size() - 2, 2, " {") == 0)) {
      stack.push_back('{');
    } else if (l.size() > 2 && l.compare(l.size() - 2, 2, " [") == 0) {
      stack.push_back('[');
    } else if (l == "}" || l == "},") {
      if (stack.empty() || stack.back() != '{') return bad(), p;
      stack.pop_back();
    } else if (l == "]") {
      if (stack.empty() || stack.back() != '[') return bad(), p;
      stack.pop_back();
    } else {
      const size_t colon = l.find(": ");
      if (colon == std::string::npos) return bad(), p;
      const std::string key = l.substr(0, colon), value = l.substr(colon + 2);
      if (key == "name" && stack.size() == 2) current = value.substr(1, value.size() - 2);
      if (key == "dims") {
        std::vector<long> d;
        for (size_t i = 0; i < value.size();)
          if (std::isdigit(static_cast<unsigned char>(value[i]))) {
            size_t used = 0;
            d.push_back(std::stol(value.substr(i), &used));
            i += used;
          } else {
            ++i;
          }
        p.dims[current] = d;
      } else if (stack.empty()) {
        p.fields[key] = value;
      }
    }
  }
  if (!stack.empty()) p.error = "unbalanced brackets";
  return p;
}

}  // namespace

TEST(Cli, ExportTritonWritesARepositoryWhoseConfigMatchesTheOnnx) {
  const std::string wd = work_dir("export_triton");
  const std::string model = "model=" + tiny_dir() + "/tiny_arch.json weights=" + tiny_dir() + "/tiny_det.pth imgsz=128";
  auto r = run_cli("export " + model + " format=triton out=repo name=tiny max_batch=4", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  const fs::path dir = fs::path(wd) / "repo" / "tiny";
  std::ifstream cfg(dir / "config.pbtxt");
  const std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  const Pbtxt p = read_pbtxt(text);
  ASSERT_TRUE(p.error.empty()) << p.error << "\n" << text;
  EXPECT_EQ(p.fields.at("name"), "\"tiny\"");
  EXPECT_EQ(p.fields.at("platform"), "\"onnxruntime_onnx\"");
  EXPECT_EQ(p.fields.at("max_batch_size"), "4");
  EXPECT_EQ(p.dims.at("images"), (std::vector<long>{3, 128, 128}));
  std::ifstream labels(dir / "labels.txt");
  int num_labels = 0;
  for (std::string l; std::getline(labels, l);) ++num_labels;

  // The dims Triton will check are those of the ONNX file (OpenCV's importer runs batch 1 only; the
  // dynamic batch runs in ONNX Runtime in test_onnx_ort.cpp).
  std::ifstream in(dir / "1" / "model.onnx", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
  const int sizes[4] = {1, 3, 128, 128};
  net.setInput(cv::Mat(4, sizes, CV_32F, cv::Scalar(0.5)), "images");
  std::vector<cv::Mat> outs;
  net.forward(outs, std::vector<cv::String>{"boxes", "scores"});
  ASSERT_EQ(outs.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const std::vector<long>& want = p.dims.at(k == 0 ? "boxes" : "scores");
    ASSERT_EQ(outs[k].dims, 3);
    EXPECT_EQ(outs[k].size[0], 1);
    EXPECT_EQ(std::vector<long>({outs[k].size[1], outs[k].size[2]}), want) << (k == 0 ? "boxes" : "scores");
  }
  EXPECT_EQ(p.dims.at("scores")[1], num_labels);

  r = run_cli("export " + model + " format=triton out=repo nms=true", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("NMS runs on the client"), std::string::npos) << r.output;
  EXPECT_EQ(read_pbtxt("a {\n b: 1\n").error, "unbalanced brackets");  // the reader does reject
}

TEST(Cli, AutolabelWritesADatasetThatChecksAndTrains) {
  const std::string wd = work_dir("autolabel");
  const std::string images = data_dir() + "/synth_val/images/val";
  // A video: 5 frames of one image, then 5 of another (near-duplicates within each run).
  {
    cv::VideoWriter vw(wd + "/clip.avi", cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 5, cv::Size(320, 320));
    ASSERT_TRUE(vw.isOpened());
    for (const char* name : {"000001.jpg", "000002.jpg"}) {
      cv::Mat img;
      cv::resize(cv::imread(images + "/" + name), img, cv::Size(320, 320));
      for (int i = 0; i < 5; ++i) vw.write(img);
    }
  }
  auto r = run_cli("autolabel source=" + images + " out=ds conf=0.3,dog:0.2 rename=car:vehicle,truck:vehicle,bus:vehicle "
                   "val=0.25 seed=1 threads=1",
                   wd);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("autolabel source=" + wd + "/clip.avi out=ds_video vid_stride=1 dedup=0.97 conf=0.2 threads=1", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("video frames: 10 sampled, 8 skipped as near-duplicates"), std::string::npos) << r.output;

  const fs::path ds = fs::path(wd) / "ds";
  for (const char* f : {"data.yaml", "summary.txt", "summary.json", "preview.jpg"}) EXPECT_TRUE(fs::exists(ds / f)) << f;
  std::ifstream yf(ds / "data.yaml");
  const std::string yaml((std::istreambuf_iterator<char>(yf)), std::istreambuf_iterator<char>());
  // car, truck and bus merged where the first of them (car) was: after person in the default model
  EXPECT_NE(yaml.find("0: \"person\"\n  1: \"vehicle\""), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("\"truck\""), std::string::npos) << yaml;
  // Every label row has its score row; scores respect the thresholds; the summary counts them.
  size_t images_written = 0, rows = 0;
  for (const char* split : {"train", "val"})
    for (const auto& e : fs::directory_iterator(ds / "labels" / split)) {
      ++images_written;
      std::ifstream lf(e.path()), sf(ds / "scores" / split / e.path().filename());
      std::string l, sline;
      while (std::getline(lf, l)) {
        ASSERT_TRUE(static_cast<bool>(std::getline(sf, sline))) << e.path();
        EXPECT_EQ(sline.rfind(l, 0), 0u) << "score rows repeat the label rows";
        const double score = std::stod(sline.substr(sline.rfind(' ') + 1));
        const int cls = std::stoi(l);
        EXPECT_GE(score, yaml.find(std::to_string(cls) + ": \"dog\"") != std::string::npos ? 0.2 - 1e-4 : 0.3 - 1e-4);
        ++rows;
      }
    }
  EXPECT_EQ(images_written, 24u);
  EXPECT_GT(rows, 10u);
  const auto summary = nlohmann::json::parse(std::ifstream(ds / "summary.json"));
  size_t boxes = 0;
  for (const auto& c : summary["classes"]) boxes += c["boxes"].get<size_t>();
  EXPECT_EQ(boxes, rows);
  EXPECT_GT(summary["val_images"].get<int>(), 0);

  // It checks and trains like any other dataset.
  r = run_cli("check-data data=ds/data.yaml", wd);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("dataset OK"), std::string::npos) << r.output;
  r = run_cli("train data=ds/data.yaml model=" + tiny_dir() + "/tiny_arch.json imgsz=128 batch=4 epochs=1 "
              "max_batches=2 threads=1 plots=false name=t mosaic_prob=0.25",
              wd);
  EXPECT_EQ(r.code, 0) << r.output;
  std::ifstream af(fs::path(wd) / "runs/detect/t/args.yaml");
  const std::string args_yaml((std::istreambuf_iterator<char>(af)), std::istreambuf_iterator<char>());
  EXPECT_NE(args_yaml.find("mosaic_prob: 0.25"), std::string::npos) << args_yaml;
  // SG's average_best_models, on by default (10 models); false turns it off; a negative count is refused.
  EXPECT_NE(args_yaml.find("average_best_models: 10"), std::string::npos) << args_yaml;
  EXPECT_TRUE(fs::exists(fs::path(wd) / "runs/detect/t/weights/average_model.pth")) << r.output;
  EXPECT_NE(r.output.find("average_model.pth (mean of the 1 best epoch by mAP50-95: 1)"), std::string::npos) << r.output;
  r = run_cli("train data=ds/data.yaml model=" + tiny_dir() + "/tiny_arch.json imgsz=128 batch=4 epochs=1 "
              "max_batches=2 threads=1 plots=false name=t3 average_best_models=false",
              wd);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(fs::path(wd) / "runs/detect/t3/weights/average_model.pth")) << r.output;
  r = run_cli("train data=ds/data.yaml model=" + tiny_dir() + "/tiny_arch.json average_best_models=-1 name=t4", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("average_best_models"), std::string::npos) << r.output;
  r = run_cli("train data=ds/data.yaml model=" + tiny_dir() + "/tiny_arch.json mosaic_prob=1.5 name=t2", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("mosaic_prob=1.5: expected a probability in [0, 1]"), std::string::npos) << r.output;

  // ignore_conf: the boxes scored in [ignore_conf, conf) go to ignore/, the others to labels/, as a
  // run at conf=ignore_conf (whose scores/ say each box's score) splits them; training reads them
  // with ignore_regions=true.
  r = run_cli("autolabel source=" + images + " out=ds_ig conf=0.3 ignore_conf=0.1 val=0.25 seed=1 threads=1", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("autolabel source=" + images + " out=ds_low conf=0.1 val=0.25 seed=1 threads=1", wd);
  ASSERT_EQ(r.code, 0) << r.output;
  auto lines_of = [](const fs::path& f) {
    std::vector<std::string> out;
    std::ifstream in(f);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  };
  size_t unsure_rows = 0, sure_rows = 0;
  for (const char* split : {"train", "val"})
    for (const auto& e : fs::directory_iterator(fs::path(wd) / "ds_low/scores" / split)) {
      std::vector<std::string> want_labels, want_ignore;
      for (const std::string& l : lines_of(e.path())) {
        const size_t sp = l.rfind(' ');
        (std::stod(l.substr(sp + 1)) >= 0.3 ? want_labels : want_ignore).push_back(l.substr(0, sp));
      }
      const fs::path ig = fs::path(wd) / "ds_ig/ignore" / split / e.path().filename();
      EXPECT_EQ(lines_of(fs::path(wd) / "ds_ig/labels" / split / e.path().filename()), want_labels) << e.path();
      EXPECT_EQ(fs::exists(ig), !want_ignore.empty()) << ig;
      EXPECT_EQ(lines_of(ig), want_ignore) << ig;
      unsure_rows += want_ignore.size(), sure_rows += want_labels.size();
    }
  EXPECT_GT(unsure_rows, 5u);
  EXPECT_GT(sure_rows, 5u);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(fs::path(wd) / "ds_ig/summary.json"))["ignore_regions"].get<size_t>(),
            unsure_rows);
  r = run_cli("check-data data=ds_ig/data.yaml", wd);  // the ignored boxes per split, in the last column
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("bad images     ignored\n"), std::string::npos) << r.output;
  size_t listed = 0;
  for (const char* split : {"\ntrain ", "\nval "}) {
    const size_t at = r.output.find(split);
    ASSERT_NE(at, std::string::npos) << r.output;
    const std::string row = r.output.substr(at + 1, r.output.find('\n', at + 1) - at - 1);
    listed += std::stoul(row.substr(row.find_last_of(' ') + 1));
  }
  EXPECT_EQ(listed, unsure_rows) << r.output;
  r = run_cli("train data=ds_ig/data.yaml model=" + tiny_dir() + "/tiny_arch.json imgsz=128 batch=4 epochs=1 "
              "max_batches=2 threads=1 plots=false name=t_ig ignore_regions=true average_best_models=false",
              wd);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ignored boxes (crowd, difficult, ignore/) in"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train images: ignore regions"), std::string::npos) << r.output;
  r = run_cli("autolabel source=" + images + " out=ds_bad conf=0.3 ignore_conf=0.3", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("ignore_conf=0.3 must be below conf"), std::string::npos) << r.output;

  // Clear refusals: an existing dataset is never overwritten; unknown classes are named.
  r = run_cli("autolabel source=" + images + " out=ds", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("exists and is not empty"), std::string::npos) << r.output;
  r = run_cli("autolabel source=" + images + " out=ds2 classes=unicorn", wd);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("'unicorn' is not a class of the teacher"), std::string::npos) << r.output;
}

TEST(Cli, BenchmarkReportsAccuracyBesideSpeed) {
  // The built-in default model on its synthetic validation set: FP32 is the reference (drop 0), INT8
  // is scored the same way, and the table says where the calibration images came from.
  const std::string wd = work_dir("benchmark_accuracy");
  auto r = run_cli("benchmark weights=" + repo_dir() + "/models/yolonas_default.pth imgsz=320 batches=1 threads=1 "
                   "iters=1 warmup=0 fuse=full engine=onednn,int8 data=" + data_dir() + "/synth_val/data.yaml name=a",
                   wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("calibrated on 24 of 24 images, 24 of them scored"), std::string::npos) << r.output;
  std::ifstream csv(fs::path(wd) / "runs/detect/a/accuracy.csv");
  std::vector<std::vector<std::string>> rows;
  for (std::string l; std::getline(csv, l);) {
    std::vector<std::string> cells;
    std::stringstream ss(l);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  ASSERT_EQ(rows.size(), 3u) << "header, fp32, int8";
  EXPECT_EQ(rows[1][0], "fp32");
  EXPECT_EQ(rows[2][0], "int8");
  EXPECT_DOUBLE_EQ(std::stod(rows[1][4]), 0.0);
  const double fp32 = std::stod(rows[1][2]), int8 = std::stod(rows[2][2]);
  EXPECT_GT(fp32, 0.2);                      // a trained model on its own kind of images
  EXPECT_NEAR(std::stod(rows[2][4]), 100 * (fp32 - int8), 1e-6);
  // The INT8 regression bound: within half a point of mAP50-95 (issue 12's budget), heads in INT8
  // too (the default). Measured (default model of 2026-12-06): FP32 0.3919, INT8 0.3932.
  EXPECT_LT(std::abs(fp32 - int8), 0.005) << "fp32 " << fp32 << ", int8 " << int8;
}

TEST(Cli, BenchmarkTimesEveryEngineAndWritesTheCsv) {
  const std::string wd = work_dir("benchmark");
  auto r = run_cli("benchmark model=" + tiny_dir() + "/tiny_arch.json imgsz=64 batches=1,2 threads=1 iters=1 warmup=0 "
                   "fuse=full engine=libtorch,onednn,int8 name=b",
                   wd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("oneDNN convolutions:"), std::string::npos) << r.output;
  std::ifstream csv(fs::path(wd) / "runs/detect/b/benchmark.csv");
  std::vector<std::string> rows;
  for (std::string l; std::getline(csv, l);) rows.push_back(l);
  ASSERT_EQ(rows.size(), 7u) << "header + 3 engines x 2 batch sizes";
  for (const char* label : {",full,", ",onednn,", ",int8,"})
    EXPECT_EQ(std::count_if(rows.begin(), rows.end(), [&](const std::string& l) { return l.find(label) != std::string::npos; }), 2)
        << label;
}
