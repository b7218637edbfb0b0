#include "yolonas/model/checkpoint.h"

#include <torch/serialize.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/zip_check.h"

namespace yolonas {
namespace {

std::vector<char> read_all(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(path + ": checkpoint file not found");
  if (std::filesystem::is_directory(path)) throw Error(path + ": is a folder, expected a .pth checkpoint file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open checkpoint (permissions?)");
  std::vector<char> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return data;
}

bool is_zip(const std::vector<char>& d) { return d.size() >= 4 && d[0] == 'P' && d[1] == 'K' && d[2] == 3 && d[3] == 4; }

// A pickled state_dict arrives as a GenericDict of str -> Tensor (OrderedDict keeps its order).
std::optional<StateDict> as_state_dict(const c10::IValue& v) {
  if (!v.isGenericDict()) return std::nullopt;
  StateDict sd;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString() || !kv.value().isTensor()) return std::nullopt;
    sd.emplace_back(kv.key().toStringRef(), kv.value().toTensor());
  }
  if (sd.empty()) return std::nullopt;
  return sd;
}

void strip_module_prefix(StateDict& sd) {
  // SG maybe_remove_module_prefix: only when every key has it (DataParallel/DDP checkpoints).
  const std::string p = "module.";
  for (const auto& kv : sd)
    if (kv.first.compare(0, p.size(), p) != 0) return;
  for (auto& kv : sd) kv.first = kv.first.substr(p.size());
}

}  // namespace

Checkpoint read_checkpoint(const std::string& path, bool prefer_ema) {
  std::vector<char> data = read_all(path);
  if (data.empty()) throw Error(path + ": checkpoint file is empty");
  if (!is_zip(data)) {
    const bool pickle = static_cast<unsigned char>(data[0]) == 0x80;
    if (pickle)
      throw Error(path +
                  ": legacy (pre-PyTorch-1.6, non-zip) checkpoint format is not supported. Convert it once with "
                  "Python: import torch; torch.save(torch.load('" +
                  path + "', map_location='cpu'), 'converted.pth')");
    throw Error(path + ": not a PyTorch checkpoint (expected a torch.save zip file)");
  }
  verify_torch_archive(data, path);  // zip records, CRCs, and the pickle stream against the records
  c10::IValue root;
  try {
    root = torch::pickle_load(data);
  } catch (const std::exception& e) {
    std::string what = e.what();
    const auto nl = what.find('\n');
    if (nl != std::string::npos) what = what.substr(0, nl);
    throw Error(path + ": cannot read checkpoint (truncated or corrupt file, or unsupported content): " + what);
  }

  Checkpoint ck;
  if (auto bare = as_state_dict(root)) {
    ck.weights = std::move(*bare);
    ck.weights_key = "state_dict";
  } else if (root.isGenericDict()) {
    auto dict = root.toGenericDict();
    std::optional<StateDict> net, ema;
    for (const auto& kv : dict) {
      if (!kv.key().isString()) continue;
      const std::string& k = kv.key().toStringRef();
      ck.top_level_keys.push_back(k);
      if (k == "net") net = as_state_dict(kv.value());
      if (k == "ema_net") ema = as_state_dict(kv.value());
      if (k == "yolonas_meta" && kv.value().isString() && !kv.value().toStringRef().empty()) ck.meta_json = kv.value().toStringRef();
      if (k == "epoch" && kv.value().isInt()) ck.epoch = kv.value().toInt();
      if (k == "yolonas_train_state" && kv.value().isString()) ck.train_state_json = kv.value().toStringRef();
      if (k == "yolonas_optimizer" && kv.value().isTensor()) ck.optimizer_bytes = kv.value().toTensor();
    }
    if (prefer_ema && ema) {
      ck.weights = std::move(*ema);
      ck.weights_key = "ema_net";
    } else if (net) {
      ck.weights = std::move(*net);
      ck.weights_key = "net";
      if (ema) {
        strip_module_prefix(*ema);
        ck.ema_weights = std::move(*ema);
      }
    } else if (ema) {
      ck.weights = std::move(*ema);
      ck.weights_key = "ema_net";
    } else {
      std::string keys;
      for (const auto& k : ck.top_level_keys) keys += (keys.empty() ? "" : ", ") + k;
      throw Error(path + ": checkpoint has no 'net' or 'ema_net' state_dict (top-level keys: " + keys + ")");
    }
  } else {
    throw Error(path + ": checkpoint does not hold a dict (expected SG's {'net': ..., 'ema_net': ...} or a state_dict)");
  }
  strip_module_prefix(ck.weights);
  for (auto& kv : ck.weights) kv.second = kv.second.contiguous();
  return ck;
}

int infer_num_classes(const StateDict& sd, const std::string& origin) {
  for (const auto& kv : sd)
    if (kv.first == "heads.head1.cls_pred.weight") return static_cast<int>(kv.second.size(0));
  throw Error(origin + ": no heads.head1.cls_pred.weight in the weights: not a YOLO-NAS detection checkpoint");
}

std::string infer_rep_layout(const StateDict& sd) {
  bool branches = false, post_bn = false, reparam = false;
  for (const auto& kv : sd) {
    if (kv.first.find(".branch_3x3.") != std::string::npos) branches = true;
    if (kv.first.find(".post_bn.") != std::string::npos) post_bn = true;
    if (kv.first.find(".rbr_reparam.") != std::string::npos) reparam = true;
  }
  if (branches || !reparam) return "unfused";
  return post_bn ? "partial" : "full";
}

void write_checkpoint(const std::string& path, const CheckpointWrite& w) {
  if (!w.net) throw Error("write_checkpoint: no weights given");
  auto to_dict = [](const StateDict& sd) {
    c10::Dict<std::string, at::Tensor> d;
    for (const auto& kv : sd) d.insert(kv.first, kv.second.detach().cpu().contiguous());
    return d;
  };
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("net", to_dict(*w.net));
  if (w.ema) root.insert("ema_net", to_dict(*w.ema));
  root.insert("acc", w.acc);
  root.insert("epoch", w.epoch);
  root.insert("metrics", c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get()));
  if (!w.meta_json.empty()) root.insert("yolonas_meta", w.meta_json);
  if (!w.train_state_json.empty()) root.insert("yolonas_train_state", w.train_state_json);
  if (!w.optimizer_bytes.empty()) {
    auto t = torch::empty({static_cast<int64_t>(w.optimizer_bytes.size())}, torch::kUInt8);
    std::memcpy(t.data_ptr<uint8_t>(), w.optimizer_bytes.data(), w.optimizer_bytes.size());
    root.insert("yolonas_optimizer", t);
  }
  std::vector<char> bytes = torch::pickle_save(root);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace yolonas
