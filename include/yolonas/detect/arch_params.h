// YOLO-NAS architecture parameters: one plain struct per variant, mirroring SuperGradients'
// recipes/arch_params/yolo_nas_{s,m,l}_arch_params.yaml. Custom variants (a "nano", the tiny test
// model) load from a YAML/JSON file in SG's arch-params schema (see tests/data/tiny/tiny_arch.json).
#pragma once
#include <string>
#include <vector>

namespace yolonas {

struct StageParams {            // YoloNASStage
  int out_channels = 0;
  int num_blocks = 0;
  int hidden_channels = 0;
  bool concat_intermediates = false;
};

struct NeckStageParams {        // YoloNASUpStage (neck1, neck2) / YoloNASDownStage (neck3, neck4)
  int out_channels = 0;
  int num_blocks = 0;
  int hidden_channels = 0;
  double width_mult = 1.0;
  double depth_mult = 1.0;
  // Effective values after SG's width/depth multipliers.
  int effective_out_channels() const;
  int effective_num_blocks() const;
};

struct HeadParams {             // YoloNASDFLHead
  int inter_channels = 0;
  double width_mult = 1.0;
  int stride = 8;
  int effective_inter_channels() const;  // ceil(int(inter*width_mult)/8)*8
};

struct ArchParams {
  std::string name = "custom";
  int in_channels = 3;
  int stem_out_channels = 48;
  std::vector<StageParams> stages;     // exactly 4
  int spp_out_channels = 768;
  std::vector<int> spp_kernels{5, 9, 13};
  NeckStageParams neck1, neck2, neck3, neck4;
  std::vector<HeadParams> heads;        // exactly 3, strides 8/16/32
  int reg_max = 16;
  int num_classes = 80;
  double bn_eps = 1e-3;
  double bn_momentum = 0.03;

  static ArchParams yolo_nas_s();
  static ArchParams yolo_nas_m();
  static ArchParams yolo_nas_l();
  // "yolo_nas_s" | "yolo_nas_m" | "yolo_nas_l" (also "s"/"m"/"l"); throws yolonas::Error otherwise.
  static ArchParams by_name(const std::string& name);
  // A .yaml/.yml/.json file in SG's arch-params schema. Throws yolonas::Error naming the file and field.
  static ArchParams from_file(const std::string& path);
  // SG's schema as a YAML/JSON document (JSON text is returned; it is valid YAML too).
  static ArchParams from_string(const std::string& text, const std::string& origin = "<string>");
  std::string to_json() const;

  // Checks the invariants the model code relies on; throws yolonas::Error.
  void validate() const;
  std::vector<int> strides() const;
};

// True when `model` names a built-in variant.
bool is_builtin_variant(const std::string& model);

}  // namespace yolonas
