// The SG arch-params reader (YAML and JSON): every field, the built-in S/M/L structs against SG's
// schema files, and parse errors that name the file and the key.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "yolonas/detect/arch_params.h"
#include "yolonas/core/error.h"

using namespace yolonas;

namespace {

std::string arch_dir() { return yolonas::test::data_dir() + "/arch"; }

// Field-by-field equality with a readable failure (name excluded: it comes from the file name).
void expect_same(const ArchParams& a, const ArchParams& b) {
  EXPECT_EQ(a.in_channels, b.in_channels);
  EXPECT_EQ(a.stem_out_channels, b.stem_out_channels);
  ASSERT_EQ(a.stages.size(), b.stages.size());
  for (size_t i = 0; i < a.stages.size(); ++i) {
    SCOPED_TRACE("stage " + std::to_string(i + 1));
    EXPECT_EQ(a.stages[i].out_channels, b.stages[i].out_channels);
    EXPECT_EQ(a.stages[i].num_blocks, b.stages[i].num_blocks);
    EXPECT_EQ(a.stages[i].hidden_channels, b.stages[i].hidden_channels);
    EXPECT_EQ(a.stages[i].concat_intermediates, b.stages[i].concat_intermediates);
  }
  EXPECT_EQ(a.spp_out_channels, b.spp_out_channels);
  EXPECT_EQ(a.spp_kernels, b.spp_kernels);
  const NeckStageParams* na[] = {&a.neck1, &a.neck2, &a.neck3, &a.neck4};
  const NeckStageParams* nb[] = {&b.neck1, &b.neck2, &b.neck3, &b.neck4};
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE("neck" + std::to_string(i + 1));
    EXPECT_EQ(na[i]->out_channels, nb[i]->out_channels);
    EXPECT_EQ(na[i]->num_blocks, nb[i]->num_blocks);
    EXPECT_EQ(na[i]->hidden_channels, nb[i]->hidden_channels);
    EXPECT_DOUBLE_EQ(na[i]->width_mult, nb[i]->width_mult);
    EXPECT_DOUBLE_EQ(na[i]->depth_mult, nb[i]->depth_mult);
  }
  ASSERT_EQ(a.heads.size(), b.heads.size());
  for (size_t i = 0; i < a.heads.size(); ++i) {
    SCOPED_TRACE("head " + std::to_string(i + 1));
    EXPECT_EQ(a.heads[i].inter_channels, b.heads[i].inter_channels);
    EXPECT_DOUBLE_EQ(a.heads[i].width_mult, b.heads[i].width_mult);
    EXPECT_EQ(a.heads[i].stride, b.heads[i].stride);
  }
  EXPECT_EQ(a.reg_max, b.reg_max);
  EXPECT_EQ(a.num_classes, b.num_classes);
  EXPECT_DOUBLE_EQ(a.bn_eps, b.bn_eps);
  EXPECT_DOUBLE_EQ(a.bn_momentum, b.bn_momentum);
}

std::string load_text(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// The error message of parsing `text` (empty when it parses).
std::string parse_error(const std::string& text, const std::string& origin = "arch.yaml") {
  try {
    ArchParams::from_string(text, origin);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The S file with one substring replaced (the replacement must happen exactly once).
std::string s_with(const std::string& from, const std::string& to) {
  std::string t = load_text(arch_dir() + "/yolo_nas_s_arch_params.yaml");
  const auto at = t.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(t.find(from, at + 1), std::string::npos) << from << " occurs twice";
  return t.replace(at, from.size(), to);
}

}  // namespace

TEST(ArchParams, EveryFieldOfTheTinyJson) {
  const ArchParams a = ArchParams::from_file(yolonas::test::tiny_dir() + "/tiny_arch.json");
  EXPECT_EQ(a.name, "tiny_arch");
  EXPECT_EQ(a.in_channels, 3);
  EXPECT_EQ(a.stem_out_channels, 8);
  ASSERT_EQ(a.stages.size(), 4u);
  const int out[] = {16, 32, 48, 64}, blocks[] = {1, 2, 2, 1}, hidden[] = {8, 16, 16, 32};
  const bool concat[] = {false, false, true, true};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a.stages[i].out_channels, out[i]) << i;
    EXPECT_EQ(a.stages[i].num_blocks, blocks[i]) << i;
    EXPECT_EQ(a.stages[i].hidden_channels, hidden[i]) << i;
    EXPECT_EQ(a.stages[i].concat_intermediates, concat[i]) << i;
  }
  EXPECT_EQ(a.spp_out_channels, 64);
  EXPECT_EQ(a.spp_kernels, (std::vector<int>{5, 9, 13}));
  EXPECT_EQ(a.neck1.out_channels, 32);
  EXPECT_EQ(a.neck1.num_blocks, 1);
  EXPECT_EQ(a.neck1.hidden_channels, 16);
  EXPECT_EQ(a.neck2.out_channels, 16);
  EXPECT_EQ(a.neck2.num_blocks, 2);
  EXPECT_EQ(a.neck2.hidden_channels, 8);
  EXPECT_EQ(a.neck3.out_channels, 32);
  EXPECT_EQ(a.neck3.num_blocks, 1);
  EXPECT_EQ(a.neck4.out_channels, 48);
  EXPECT_EQ(a.neck4.num_blocks, 2);
  EXPECT_EQ(a.neck4.hidden_channels, 16);
  ASSERT_EQ(a.heads.size(), 3u);
  EXPECT_EQ(a.heads[0].inter_channels, 32);
  EXPECT_EQ(a.heads[1].inter_channels, 64);
  EXPECT_EQ(a.heads[2].inter_channels, 96);
  EXPECT_EQ(a.heads[2].effective_inter_channels(), 48);  // ceil(int(96 * 0.5) / 8) * 8
  EXPECT_EQ(a.strides(), (std::vector<int>{8, 16, 32}));
  EXPECT_EQ(a.reg_max, 16);
  EXPECT_EQ(a.num_classes, 3);
  EXPECT_DOUBLE_EQ(a.bn_eps, 1e-3);
  EXPECT_DOUBLE_EQ(a.bn_momentum, 0.03);
}

TEST(ArchParams, SgSchemaFilesEqualTheBuiltInVariants) {
  for (const std::string v : {"s", "m", "l"}) {
    SCOPED_TRACE("yolo_nas_" + v);
    const ArchParams file = ArchParams::from_file(arch_dir() + "/yolo_nas_" + v + "_arch_params.yaml");
    const ArchParams builtin = ArchParams::by_name("yolo_nas_" + v);
    EXPECT_EQ(builtin.name, "yolo_nas_" + v);
    expect_same(file, builtin);
    // Same variant by its short name, and through our own JSON writer.
    expect_same(ArchParams::by_name(v), builtin);
    expect_same(ArchParams::from_string(builtin.to_json(), "to_json"), builtin);
  }
  // Values that differ between the variants, pinned (SG yaml): the structs are not all the same.
  EXPECT_EQ(ArchParams::yolo_nas_s().heads[0].effective_inter_channels(), 64);
  EXPECT_EQ(ArchParams::yolo_nas_m().heads[0].effective_inter_channels(), 96);
  EXPECT_EQ(ArchParams::yolo_nas_l().heads[0].effective_inter_channels(), 128);
  EXPECT_EQ(ArchParams::yolo_nas_m().neck4.num_blocks, 3);
  EXPECT_TRUE(ArchParams::yolo_nas_l().stages[3].concat_intermediates);
  EXPECT_FALSE(ArchParams::yolo_nas_m().stages[3].concat_intermediates);
}

TEST(ArchParams, TheNanoModelFileParses) {
  const ArchParams n = ArchParams::from_file(std::string(YOLONAS_TEST_DATA) + "/../../models/yolo_nas_n.yaml");
  EXPECT_EQ(n.name, "yolo_nas_n");
  EXPECT_EQ(n.stem_out_channels, 32);
  EXPECT_EQ(n.spp_out_channels, 384);
  EXPECT_EQ(n.neck2.hidden_channels, 32);
}

TEST(ArchParams, MultipliersFollowSg) {
  NeckStageParams n;
  n.out_channels = 100;
  n.num_blocks = 3;
  n.width_mult = 0.33;
  n.depth_mult = 0.5;
  EXPECT_EQ(n.effective_out_channels(), 40);  // int(33.0) = 33 -> ceil(33/8)*8 = 40
  EXPECT_EQ(n.effective_num_blocks(), 1);     // int(1.5)
  n.num_blocks = 1;
  n.depth_mult = 3.0;
  EXPECT_EQ(n.effective_num_blocks(), 1);     // SG keeps a single block
}

TEST(ArchParams, ErrorsNameTheFileAndTheKey) {
  // Missing key.
  std::string e = parse_error(s_with("        out_channels: 48\n", "        channels: 48\n"), "my_arch.yaml");
  EXPECT_NE(e.find("my_arch.yaml: arch params field 'backbone.NStageBackbone.stem.YoloNASStem.out_channels': missing"),
            std::string::npos)
      << e;
  // Wrong type.
  e = parse_error(s_with("hidden_channels: 96,", "hidden_channels: many,"));
  EXPECT_NE(e.find("arch.yaml: arch params field 'backbone.NStageBackbone.stages[2].hidden_channels': has the wrong type"),
            std::string::npos)
      << e;
  // Wrong module type wrapper.
  e = parse_error(s_with("      SPP: {", "      ASPP: {"));
  EXPECT_NE(e.find("field 'backbone.NStageBackbone.context_module': expected a single-key map {SPP: {...}}"),
            std::string::npos)
      << e;
  // Unsupported activation.
  e = parse_error(s_with("num_blocks: 5, activation_type: relu", "num_blocks: 5, activation_type: silu"));
  EXPECT_NE(e.find("'backbone.NStageBackbone.stages[2].YoloNASStage.activation_type': only 'relu'"), std::string::npos)
      << e;
  // Unsupported neck form.
  e = parse_error(s_with("depth_mult: 1, activation_type: relu, reduce_channels: true}\n    neck2",
                         "depth_mult: 1, activation_type: relu, reduce_channels: false}\n    neck2"));
  EXPECT_NE(e.find("'neck.YoloNASPANNeckWithC2.neck1.YoloNASUpStage.reduce_channels'"), std::string::npos) << e;
  // Wrong count of stages / heads.
  e = parse_error(s_with("      - YoloNASDFLHead: {inter_channels: 512, width_mult: 0.5, first_conv_group_size: 0, stride: 32}\n", ""));
  EXPECT_NE(e.find("'heads.NDFLHeads.heads_list': expected 3 YoloNASDFLHead entries"), std::string::npos) << e;
  // Grouped first conv is not supported.
  e = parse_error(s_with("inter_channels: 256, width_mult: 0.5, first_conv_group_size: 0",
                         "inter_channels: 256, width_mult: 0.5, first_conv_group_size: 4"));
  EXPECT_NE(e.find("'heads.NDFLHeads.heads_list[1].first_conv_group_size'"), std::string::npos) << e;
  // Invariant violations carry the origin too.
  e = parse_error(s_with("stride: 16", "stride: 12"), "bad_strides.yaml");
  EXPECT_NE(e.find("bad_strides.yaml: invalid arch params: head strides must be 8, 16, 32"), std::string::npos) << e;
  e = parse_error(s_with("k: [5, 9, 13]", "k: [5, 8, 13]"));
  EXPECT_NE(e.find("SPP kernel sizes must be odd"), std::string::npos) << e;
  // Not YAML at all, and not a map.
  EXPECT_NE(parse_error("{ unclosed: [").find("arch.yaml: not valid YAML/JSON"), std::string::npos);
  EXPECT_NE(parse_error("- a\n- b\n").find("arch.yaml: arch params must be a map"), std::string::npos);
  // JSON is read by the same parser: a JSON file's error names its key the same way.
  std::string j = load_text(yolonas::test::tiny_dir() + "/tiny_arch.json");
  j.replace(j.find("\"reg_max\": 16"), 13, "\"reg_max\": \"x\"");
  e = parse_error(j, "tiny.json");
  EXPECT_NE(e.find("tiny.json: arch params field 'heads.NDFLHeads.reg_max': has the wrong type"), std::string::npos) << e;
}

TEST(ArchParams, UnknownNamesAndMissingFiles) {
  try {
    ArchParams::by_name("yolo_nas_xl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model 'yolo_nas_xl'"), std::string::npos);
  }
  try {
    ArchParams::from_file("/nonexistent/arch.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/arch.yaml: cannot open arch-params file"), std::string::npos);
  }
  EXPECT_TRUE(is_builtin_variant("yolo_nas_m"));
  EXPECT_TRUE(is_builtin_variant("l"));
  EXPECT_FALSE(is_builtin_variant("yolo_nas_n"));
}
