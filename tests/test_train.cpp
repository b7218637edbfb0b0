// Training end to end: overfitting a handful of images, kill -9 + resume giving the same result as an
// uninterrupted run, fine-tuning with a different class count, refusing a broken dataset.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "format_convert.h"
#include "shapes_dataset.h"
#include "torch_test_util.h"
#include "train_test_util.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/core/error.h"
#include "yolonas/train/hooks.h"
#include "yolonas/train/trainer.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

std::string fresh_dir(const std::string& name) { return fresh_run_dir("yolonas_train", name); }

TrainConfig tiny_config(const std::string& data, const std::string& project) {
  TrainConfig c = tiny_train_config(data, project);
  c.plots = true;
  return c;
}

}  // namespace

TEST(Train, OverfitsAHandfulOfImages) {
  // 8 images with 1-3 shapes each, validated on the same images: a working loss, assigner,
  // optimizer and decode must fit them. Tiny arch from scratch, 200 optimizer steps.
  const std::string root = fresh_dir("overfit");
  const std::string data = write_shapes_dataset(root + "/data", 8, 0, 128, 7, /*val_equals_train=*/true);
  TrainConfig c = tiny_config(data, root + "/runs");
  c.epochs = 100;
  c.val_period = 100;
  TrainResult r = train(c);
  EXPECT_GE(r.best_map50, 0.9) << "mAP50-95 " << r.best_map50_95;
  // The run folder has what a user looks at.
  for (const char* f : {"args.yaml", "results.csv", "results.png", "train_batch0.jpg", "weights/last.pth",
                        "weights/best.pth"})
    EXPECT_TRUE(fs::exists(r.run_dir + "/" + f)) << f;
  std::ifstream csv(r.run_dir + "/results.csv");
  int lines = 0;
  for (std::string l; std::getline(csv, l);) ++lines;
  EXPECT_EQ(lines, 101);  // header + one row per epoch
  // The trained checkpoint describes itself: names and arch travel with it.
  Checkpoint ck = read_checkpoint(r.best);
  ASSERT_TRUE(ck.meta_json.has_value());
  EXPECT_NE(ck.meta_json->find("\"rectangle\""), std::string::npos);

  // The mAP of the last epoch is what `yolonas val metric=sg` gives for the same weights and data:
  // both run the evaluation library with the model's own preprocessing (same batch and threads, so
  // the same oneDNN kernels).
  const std::string val_dir = root + "/val";
  ASSERT_EQ(wait_exit(spawn_cli({"val", "weights=" + r.last, "data=" + data, "metric=sg", "batch=4", "threads=1",
                                 "plots=false", "project=" + root, "name=val", "exist_ok=true"},
                                root + "/val.log")),
            0)
      << root + "/val.log";
  std::ifstream mj(val_dir + "/metrics.json");
  const nlohmann::json m = nlohmann::json::parse(mj);
  const double val_map = m.at("sg").at("mAP@0.50:0.95").get<double>();
  const double val_map50 = m.at("sg").at("mAP@0.50").get<double>();
  EXPECT_GT(val_map, 0.5);  // a real number, not two zeros agreeing
  EXPECT_DOUBLE_EQ(val_map, r.best_map50_95) << "training printed " << r.best_map50_95 << ", val " << val_map;
  EXPECT_DOUBLE_EQ(val_map50, r.best_map50);
}

TEST(Train, KillDashNineThenResumeMatchesUninterruptedRun) {
  const std::string root = fresh_dir("resume");
  const std::string data = write_shapes_dataset(root + "/data", 8, 4, 128, 11);
  auto args = [&](const std::string& name) {
    return std::vector<std::string>{"train", "data=" + data, "model=" + tiny_dir() + "/tiny_arch.json", "imgsz=128",
                                    "batch=4", "epochs=5", "lr0=0.005", "threads=1", "workers=1", "plots=false",
                                    "project=" + root + "/runs", "name=" + name, "exist_ok=true"};
  };
  // Reference: uninterrupted.
  ASSERT_EQ(wait_exit(spawn_cli(args("straight"), root + "/straight.log")), 0);
  // Interrupted: kill -9 during training, right after the first checkpoint (epoch 1 of 5) appears,
  // with a little jitter so the kill lands at different points of epoch 2 (or of its checkpoint write).
  const std::string last = root + "/runs/killed/weights/last.pth";
  pid_t pid = spawn_cli(args("killed"), root + "/killed.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(last) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(last)) << root + "/killed.log";
  std::mt19937 rng(std::random_device{}());
  std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 30)(rng)));
  int early = 0;
  ASSERT_EQ(waitpid(pid, &early, WNOHANG), 0) << "the run ended before it could be killed: " << root + "/killed.log";
  kill(pid, SIGKILL);
  const int code = wait_exit(pid);
  ASSERT_EQ(code, 128 + SIGKILL) << "the kill did not land during training";
  // Whatever the moment, last.pth is a complete checkpoint of an unfinished run.
  Checkpoint mid = read_checkpoint(last, false);
  EXPECT_GE(mid.epoch, 1);
  ASSERT_LT(mid.epoch, 5) << "the run had finished: this test would not test resuming";
  // Resume and finish.
  auto resume = std::vector<std::string>{"train", "resume=" + last};
  ASSERT_EQ(wait_exit(spawn_cli(resume, root + "/resume.log")), 0) << root + "/resume.log";
  Checkpoint a = read_checkpoint(root + "/runs/straight/weights/last.pth", false);
  Checkpoint b = read_checkpoint(last, false);
  EXPECT_EQ(a.epoch, 5);
  EXPECT_EQ(b.epoch, 5);
  ASSERT_EQ(a.weights.size(), b.weights.size());
  double worst = 0;
  for (size_t i = 0; i < a.weights.size(); ++i)
    worst = std::max(worst, max_abs(a.weights[i].second.to(torch::kFloat64), b.weights[i].second.to(torch::kFloat64)));
  EXPECT_EQ(worst, 0.0) << "resumed training diverged from the uninterrupted run";
  ASSERT_TRUE(a.ema_weights && b.ema_weights);
  for (size_t i = 0; i < a.ema_weights->size(); ++i)
    EXPECT_TRUE(torch::equal((*a.ema_weights)[i].second, (*b.ema_weights)[i].second)) << (*a.ema_weights)[i].first;
}

TEST(Train, FineTuneWithOtherClassCountReinitializesOnlyClassOutputs) {
  const std::string root = fresh_dir("finetune");
  const std::string data = write_shapes_dataset(root + "/data", 4, 2, 128, 5);
  TrainConfig c = tiny_config(data, root + "/runs");
  c.weights = tiny_dir() + "/tiny_det.pth";  // SG checkpoint, 3 classes; the data has 2
  c.epochs = 1;
  c.lr0 = 0.0;  // no update: what we read back is what was loaded
  c.warmup_initial_lr = 0.0;
  TrainResult r = train(c);
  Checkpoint src = read_checkpoint(c.weights, false);
  Checkpoint out = read_checkpoint(r.last, false);
  ASSERT_EQ(src.weights.size(), out.weights.size());
  for (size_t i = 0; i < src.weights.size(); ++i) {
    const auto& k = src.weights[i].first;
    if (k.find("running_") != std::string::npos || k.find("num_batches") != std::string::npos) continue;  // BN stats move
    if (k.find("cls_pred") != std::string::npos) {
      EXPECT_EQ(out.weights[i].second.size(0), 2) << k;
    } else {
      EXPECT_TRUE(torch::equal(src.weights[i].second, out.weights[i].second)) << k;
    }
  }
}

TEST(Train, RefusesBrokenDatasetNamingFileAndLine) {
  const std::string root = fresh_dir("broken");
  const std::string data = write_shapes_dataset(root + "/data", 4, 2, 128, 3);
  std::ofstream(root + "/data/labels/train/2.txt", std::ios::app) << "7 0.5 0.5 0.1 0.1\n0 0.5 0.5\n";
  TrainConfig c = tiny_config(data, root + "/runs");
  c.epochs = 1;
  try {
    train(c);
    FAIL() << "expected the broken dataset to be refused";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("labels/train/2.txt:"), std::string::npos) << m;
  }
  c.strict = false;  // skip the bad rows with a warning and train
  EXPECT_NO_THROW(train(c));
}

namespace {
// Rows of results.csv without the time column (epoch, losses, metrics, lr).
std::vector<std::vector<double>> results_rows(const std::string& run_dir) {
  std::ifstream in(run_dir + "/results.csv");
  std::vector<std::vector<double>> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<double> v;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) v.push_back(std::stod(cell));
    v.pop_back();
    rows.push_back(v);
  }
  return rows;
}
}  // namespace

TEST(Train, CocoAndVocCopiesTrainLikeTheYoloDataset) {
  // The same images and boxes as YOLO files, a COCO folder and a VOC folder: the same batches, so the
  // same losses and validation metrics (up to the last bits of the labels: YOLO files hold 6 digits).
  const std::string root = fresh_dir("formats");
  const std::string yaml = write_shapes_dataset(root + "/yolo", 8, 4, 128, 11);
  const std::vector<std::string> names = {"rectangle", "circle"};
  for (const char* split : {"train", "val"}) {
    const auto px = yolo_split_pixels(yaml, split);
    write_coco_json(root + "/coco/annotations/instances_" + split + ".json", px, root + "/yolo/images/" + split, names);
    write_voc_split(root + "/voc", split, px, names, std::string(split) + "_");
  }
  // VOC folders have no class order: a data.yaml gives the YOLO one (found names would be sorted).
  std::ofstream(root + "/voc/data.yaml") << "train: ImageSets/Main/train.txt\nval: ImageSets/Main/val.txt\n"
                                            "names: [rectangle, circle]\n";
  // COCO image folders: coco/images/<split> (found from the json names).
  fs::create_directory_symlink(root + "/yolo/images", root + "/coco/images");
  std::vector<std::vector<std::vector<double>>> results;
  for (const std::string& data : {yaml, root + "/coco", root + "/voc"}) {
    TrainConfig c = tiny_config(data, root + "/runs");
    c.epochs = 2;
    c.max_batches = 2;
    TrainResult r = train(c);
    results.push_back(results_rows(r.run_dir));
  }
  ASSERT_EQ(results[0].size(), 2u);
  for (size_t f = 1; f < 3; ++f) {
    ASSERT_EQ(results[f].size(), 2u);
    for (size_t e = 0; e < 2; ++e)
      for (size_t k = 0; k < results[0][e].size(); ++k)
        EXPECT_NEAR(results[f][e][k], results[0][e][k], 1e-4 * std::max(1.0, std::abs(results[0][e][k])))
            << (f == 1 ? "coco" : "voc") << " epoch " << e << " column " << k;
  }
}

static torch::Tensor find_tensor(const StateDict& sd, const std::string& key) {
  for (const auto& kv : sd)
    if (kv.first == key) return kv.second;
  return {};
}

TEST(Train, FineTuneKeepsPretrainedClassOutputsMatchedByName) {
  // A 2-class checkpoint [rectangle, circle] fine-tuned on [circle, triangle]: circle keeps its old
  // class outputs (row 1 -> row 0), triangle is re-initialized; match_names=false keeps SG's by-index rows.
  const std::string root = fresh_dir("byname");
  const std::string data = write_shapes_dataset(root + "/data", 4, 2, 128, 5);
  TrainConfig c = tiny_config(data, root + "/runs");
  c.epochs = 1;
  c.max_batches = 1;
  const std::string source = train(c).last;  // names [rectangle, circle]
  std::ofstream(root + "/data/data.yaml") << "path: " << root << "/data\ntrain: images/train\nval: images/val\n"
                                          << "names: [circle, triangle]\n";
  c.weights = source;
  c.lr0 = 0.0;  // no update: what we read back is what was loaded
  c.warmup_initial_lr = 0.0;
  const Checkpoint src = read_checkpoint(source, /*prefer_ema=*/true);
  for (bool match : {true, false}) {
    c.match_names = match;
    const Checkpoint out = read_checkpoint(train(c).last, false);
    for (size_t i = 0; i < out.weights.size(); ++i) {
      const auto& [k, w] = out.weights[i];
      if (k.find("cls_pred") == std::string::npos) continue;
      const torch::Tensor old = find_tensor(src.weights, k);
      ASSERT_TRUE(old.defined()) << k;
      if (match) {
        EXPECT_TRUE(torch::equal(w[0], old[1])) << k << ": circle keeps its row";
        // (The biases all still hold SG's prior after one step at a near-zero warm-up lr, so N(mean, std)
        // of them reproduces it: only the weights show the re-initialization.)
        if (k.find("weight") != std::string::npos)
          EXPECT_FALSE(torch::equal(w[1], old[0]) || torch::equal(w[1], old[1])) << k << ": triangle is new";
      } else {
        EXPECT_TRUE(torch::equal(w, old)) << k << ": by index";
      }
    }
  }
}

namespace {

// A user hook: counts the calls, adds a column to results.csv, keeps state in the checkpoint, and
// replaces the validation mAP with a constant so that early stopping must end the run.
struct RecordingHook : HookBase {
  int n_before_train = 0, n_before_epoch = 0, n_before_step = 0, n_after_step = 0, n_after_epoch = 0, n_after_train = 0;
  int optimizer_steps = 0;
  std::string name() const override { return "recorder"; }
  void before_train(Trainer&) override { ++n_before_train; }
  void before_epoch(Trainer&) override { ++n_before_epoch; }
  void before_step(Trainer&) override { ++n_before_step; }
  void after_step(Trainer& t) override {
    ++n_after_step;
    optimizer_steps += t.optimizer_stepped();
  }
  void after_epoch(Trainer& t) override {
    ++n_after_epoch;
    t.metrics().put("custom/steps", optimizer_steps);
    if (t.metrics().get("metrics/mAP50-95")) t.metrics().put("metrics/mAP50-95", 0.5);  // never improves
  }
  void after_train(Trainer&) override { ++n_after_train; }
  nlohmann::json state() const override { return {{"epochs_seen", n_after_epoch}}; }
};

}  // namespace

TEST(Train, UserHooksRunAndEarlyStoppingEndsTheRun) {
  const std::string root = fresh_dir("hooks");
  const std::string data = write_shapes_dataset(root + "/data", 8, 4, 128, 5);
  TrainConfig c = tiny_config(data, root + "/runs");
  c.epochs = 8;
  c.plots = false;
  Trainer t(c);
  auto rec = std::make_unique<RecordingHook>();
  RecordingHook* r = rec.get();
  t.register_hook(std::move(rec));
  t.register_hook(std::make_unique<EarlyStoppingHook>(2));
  EXPECT_THROW(t.register_hook(std::make_unique<EarlyStoppingHook>(3)), Error);  // names are unique
  const TrainResult res = t.train();
  // Epoch 1 sets the best (0.5); epochs 2 and 3 do not beat it: patience 2 stops after epoch 3.
  EXPECT_EQ(res.epochs_done, 3);
  EXPECT_NE(res.stopped_early.find("patience=2"), std::string::npos) << res.stopped_early;
  EXPECT_EQ(r->n_before_train, 1);
  EXPECT_EQ(r->n_after_train, 1);
  EXPECT_EQ(r->n_before_epoch, 3);
  EXPECT_EQ(r->n_after_epoch, 3);
  EXPECT_EQ(r->n_before_step, 3 * 2);  // 8 images, batch 4
  EXPECT_EQ(r->n_after_step, 3 * 2);
  EXPECT_EQ(r->optimizer_steps, 3 * 2);
  // The hook's column is in results.csv, one row per epoch run.
  std::ifstream csv(res.run_dir + "/results.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_NE(header.find("custom/steps"), std::string::npos) << header;
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 3);
  // Every hook's state is in the checkpoint.
  const Checkpoint ck = read_checkpoint(res.last, false);
  ASSERT_TRUE(ck.train_state_json.has_value());
  const nlohmann::json hooks = nlohmann::json::parse(*ck.train_state_json).at("hooks");
  EXPECT_EQ(hooks.at("recorder").at("epochs_seen").get<int>(), 3);
  EXPECT_EQ(hooks.at("early_stopping").at("bad").get<int>(), 2);
  EXPECT_DOUBLE_EQ(hooks.at("checkpoint").at("best_fitness").get<double>(), 0.5);
}
