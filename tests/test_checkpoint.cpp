// Checkpoint I/O: SG files in, our files out (SG layout, bit-identical round trip), and every kind
// of bad file giving a clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "torch_test_util.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/core/error.h"
#include "yolonas/model/fusion.h"
#include "yolonas/model/model.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/detect/model_meta.h"
#include "yolonas/model/state_dict.h"

namespace fs = std::filesystem;
using namespace yolonas;
using namespace yolonas::test;

namespace {

std::string tiny_pth() { return tiny_dir() + "/tiny_det.pth"; }

std::string temp_path(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("yolonas_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return (d / name).string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(Checkpoint, ReadsSGLayoutPreferringEma) {
  Checkpoint ck = read_checkpoint(tiny_pth());
  EXPECT_EQ(ck.weights_key, "ema_net");
  EXPECT_EQ(ck.weights.size(), 691u);
  EXPECT_EQ(ck.weights.front().first, "backbone.stem.conv.branch_3x3.conv.weight");
  EXPECT_EQ(ck.top_level_keys, (std::vector<std::string>{"net", "ema_net", "acc", "epoch", "metrics"}));
  EXPECT_EQ(read_checkpoint(tiny_pth(), /*prefer_ema=*/false).weights_key, "net");
  EXPECT_EQ(infer_num_classes(ck.weights, "x"), 3);
  EXPECT_EQ(infer_rep_layout(ck.weights), "unfused");
}

TEST(Checkpoint, ReadsGoldenS) {
  REQUIRE_GOLDEN();
  Checkpoint ck = read_checkpoint(golden_dir() + "/yolo_nas_s_det.pth");
  EXPECT_EQ(ck.weights.size(), 921u);
  EXPECT_EQ(infer_num_classes(ck.weights, "x"), 80);
}

TEST(Checkpoint, RoundTripIsBitIdenticalAndKeepsSGLayout) {
  Checkpoint in = read_checkpoint(tiny_pth());
  ModelMeta meta;
  meta.model_name = "tiny";
  meta.arch = ArchParams::from_file(tiny_dir() + "/tiny_arch.json");
  meta.names = {"a", "b", "c"};
  meta.preprocessing = PreprocessParams::for_imgsz(128, 128);
  const std::string path = temp_path("roundtrip.pth");
  CheckpointWrite w;
  w.net = &in.weights;
  w.ema = &in.weights;
  w.meta_json = meta.to_json();
  w.epoch = 7;
  write_checkpoint(path, w);

  Checkpoint out = read_checkpoint(path);
  EXPECT_EQ(out.top_level_keys, (std::vector<std::string>{"net", "ema_net", "acc", "epoch", "metrics", "yolonas_meta"}));
  EXPECT_EQ(out.epoch, 7);
  ASSERT_EQ(out.weights.size(), in.weights.size());
  for (size_t i = 0; i < in.weights.size(); ++i) {
    EXPECT_EQ(out.weights[i].first, in.weights[i].first);
    EXPECT_EQ(out.weights[i].second.dtype(), in.weights[i].second.dtype()) << in.weights[i].first;
    EXPECT_TRUE(torch::equal(out.weights[i].second, in.weights[i].second)) << in.weights[i].first;
  }
  ASSERT_TRUE(out.meta_json.has_value());
  ModelMeta back = ModelMeta::from_json(*out.meta_json, path);
  EXPECT_EQ(back.names, meta.names);
  EXPECT_EQ(back.arch.to_json(), meta.arch.to_json());
  EXPECT_EQ(back.preprocessing.rescale_h, 127);

  // Writing the same weights again gives the same bytes (deterministic, so diffs mean real changes).
  const std::string path2 = temp_path("roundtrip2.pth");
  write_checkpoint(path2, w);
  EXPECT_EQ(read_bytes(path), read_bytes(path2));
  // No temp file left behind by the atomic write.
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(Checkpoint, ModelLoaderUsesOwnMetadata) {
  Checkpoint in = read_checkpoint(tiny_pth());
  ModelMeta meta;
  meta.model_name = "tiny";
  meta.arch = ArchParams::from_file(tiny_dir() + "/tiny_arch.json");
  meta.names = {"cat", "dog", "fish"};
  meta.preprocessing = PreprocessParams::for_imgsz(128, 128);
  const std::string path = temp_path("with_meta.pth");
  CheckpointWrite w;
  w.net = &in.weights;
  w.meta_json = meta.to_json();
  write_checkpoint(path, w);
  ModelSource o;
  o.weights = path;  // model= left at its default: the checkpoint describes itself
  LoadedModel lm = load_model(o);
  EXPECT_EQ(lm.meta.names, meta.names);
  EXPECT_EQ(lm.meta.arch.num_classes, 3);
  EXPECT_EQ(lm.meta.preprocessing.input_h, 128);
}

TEST(Checkpoint, FusedLayoutCheckpointsLoad) {
  // An SG model saved after prep_model_for_conversion holds only rbr_reparam (+ post_bn).
  YoloNAS ref(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  load_state_dict(*ref, read_checkpoint(tiny_pth()).weights, "tiny");
  ref->eval();
  torch::NoGradGuard ng;
  auto x = torch::rand({1, 3, 96, 96});
  auto expect = ref->forward(x).pred_scores;
  for (FuseMode mode : {FuseMode::kPartial, FuseMode::kFull}) {
    fuse_qarepvgg(ref, mode);
    StateDict sd = state_dict(*ref);
    EXPECT_EQ(infer_rep_layout(sd), mode == FuseMode::kPartial ? "partial" : "full");
    const std::string path = temp_path("fused.pth");
    CheckpointWrite w;
    w.net = &sd;
    write_checkpoint(path, w);
    ModelSource o;
    o.model = tiny_dir() + "/tiny_arch.json";
    o.weights = path;
    LoadedModel lm = load_model(o);
    EXPECT_LT(max_abs(lm.model->forward(x).pred_scores, expect), 1e-5);
  }
}

TEST(Checkpoint, StripsModulePrefixOnlyWhenAllKeysHaveIt) {
  Checkpoint in = read_checkpoint(tiny_pth());
  StateDict prefixed = in.weights;
  for (auto& kv : prefixed) kv.first = "module." + kv.first;
  const std::string path = temp_path("ddp.pth");
  CheckpointWrite w;
  w.net = &prefixed;
  write_checkpoint(path, w);
  Checkpoint out = read_checkpoint(path);
  EXPECT_EQ(out.weights.front().first, in.weights.front().first);
}

TEST(CheckpointErrors, MissingEmptyTruncatedNotZipLegacy) {
  EXPECT_NE(error_of([] { read_checkpoint("/nonexistent/x.pth"); }).find("not found"), std::string::npos);
  const std::string empty = temp_path("empty.pth");
  write_bytes(empty, "");
  EXPECT_NE(error_of([&] { read_checkpoint(empty); }).find("empty"), std::string::npos);

  const std::string full = read_bytes(tiny_pth());
  for (size_t cut : {size_t(100), full.size() / 2, full.size() - 30}) {
    const std::string trunc = temp_path("trunc.pth");
    write_bytes(trunc, full.substr(0, cut));
    std::string msg = error_of([&] { read_checkpoint(trunc); });
    EXPECT_NE(msg.find(trunc), std::string::npos) << "cut at " << cut << ": " << msg;
  }
  const std::string garbage = temp_path("garbage.pth");
  write_bytes(garbage, "this is not a checkpoint at all");
  EXPECT_NE(error_of([&] { read_checkpoint(garbage); }).find("not a PyTorch checkpoint"), std::string::npos);
  const std::string legacy = temp_path("legacy.pth");
  write_bytes(legacy, std::string("\x80\x02\x8a\x0a", 4) + "legacy magic");
  EXPECT_NE(error_of([&] { read_checkpoint(legacy); }).find("legacy"), std::string::npos);
  EXPECT_NE(error_of([&] { read_checkpoint(tiny_dir()); }).find("folder"), std::string::npos);
}

TEST(CheckpointErrors, CorruptBytesInsideTheArchiveNeverCrash) {
  // Hostile/corrupted files: flip bytes all over the file; every read either succeeds or throws Error.
  const std::string full = read_bytes(tiny_pth());
  for (int i = 1; i <= 24; ++i) {
    std::string bad = full;
    const size_t pos = (full.size() / 25) * i;
    for (size_t k = pos; k < std::min(full.size(), pos + 64); ++k) bad[k] = static_cast<char>(bad[k] ^ 0x5A);
    const std::string p = temp_path("flip.pth");
    write_bytes(p, bad);
    try {
      read_checkpoint(p);
    } catch (const Error&) {
    }
  }
}

TEST(CheckpointErrors, WrongShapesAndMissingKeysAreListed) {
  Checkpoint ck = read_checkpoint(tiny_pth());
  YoloNAS s(ArchParams::yolo_nas_s());
  std::string msg = error_of([&] { load_state_dict(*s, ck.weights, "tiny_det.pth"); });
  EXPECT_NE(msg.find("tiny_det.pth"), std::string::npos);
  EXPECT_NE(msg.find("different shape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("backbone.stem.conv.branch_3x3.conv.weight"), std::string::npos) << msg;

  YoloNAS t(ArchParams::from_file(tiny_dir() + "/tiny_arch.json"));
  StateDict missing(ck.weights.begin() + 1, ck.weights.end());
  missing.emplace_back("heads.extra.weight", torch::zeros({1}));
  msg = error_of([&] { load_state_dict(*t, missing, "edited.pth"); });
  EXPECT_NE(msg.find("1 missing keys"), std::string::npos) << msg;
  EXPECT_NE(msg.find("backbone.stem.conv.branch_3x3.conv.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1 unexpected keys"), std::string::npos) << msg;
  EXPECT_NE(msg.find("heads.extra.weight"), std::string::npos) << msg;
}

TEST(CheckpointErrors, BuiltinModelWithoutWeightsExplainsWhatToDo) {
  ModelSource o;
  o.model = "yolo_nas_m";
  std::string msg = error_of([&] { load_model(o); });
  EXPECT_NE(msg.find("weights=PATH"), std::string::npos) << msg;
  EXPECT_NE(msg.find("non-commercial"), std::string::npos) << msg;
  EXPECT_NE(msg.find("./weights/yolo_nas_m_coco.pth"), std::string::npos) << msg;
  o.random_init = true;
  EXPECT_EQ(load_model(o).meta.arch.num_classes, 80);
}
