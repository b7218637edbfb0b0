// `yolonas export weights=PATH format=pth|onnx out=PATH`
//   pth:  a weights-only yolonas checkpoint (EMA weights when the source has them) with the metadata
//         inside (arch, class names, input size, preprocessing). Turns an SG checkpoint, or a training
//         checkpoint with optimizer state, into a small deployable file that SG can still load.
//   onnx: the fully fused model with the box decode, opset 13 (onnx_export.h): inputs "images"
//         [batch, 3, imgsz, imgsz], outputs "boxes" and "scores"; class names and preprocessing in the
//         file's metadata. batch=0 (default) leaves the batch dynamic.
// weights=A.pth,B.pth,...: the checkpoints' weights averaged, tensor by tensor (a uniform "model soup"
//         of runs fine-tuned from one start, or the last epochs of one run), then exported in any
//         format. They must have the same architecture and class names; the first gives the metadata.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "yolonas/model/checkpoint.h"
#include "yolonas/model/dnn_graph_builder.h"
#include "yolonas/core/error.h"
#include "yolonas/core/text.h"
#include "yolonas/model/model_loader.h"
#include "yolonas/export/onnx_export.h"
#include "yolonas/export/triton_config.h"
#include "yolonas/detect/decode.h"
#include "yolonas/api/quantize.h"
#include "yolonas/runtime/int8.h"
#include "yolonas/runtime/model_file.h"
#include "yolonas/core/files.h"
#include "yolonas/model/state_dict.h"
#include "yolonas/train/weight_averaging.h"

namespace yolonas::cli {

namespace {

// weights=A,B,...: loads each (EMA weights when present, as for one file), checks that they are one
// architecture with one set of class names, and returns the first with the mean of all their weights.
LoadedModel load_average(const DetectorOptions& o, const std::vector<std::string>& paths) {
  LoadedModel first;
  RunningMean mean;
  for (const std::string& path : paths) {
    DetectorOptions one = o;
    one.weights = path;
    LoadedModel lm = load_model(one);
    if (mean.count() == 0) {
      first = lm;
    } else {
      if (lm.meta.arch.num_classes != first.meta.arch.num_classes || lm.meta.names != first.meta.names)
        throw Error("weights=" + path + ": its classes (" + std::to_string(lm.meta.arch.num_classes) +
                    ") differ from " + paths[0] + "'s (" + std::to_string(first.meta.arch.num_classes) +
                    "); only models of one architecture and one class list can be averaged");
    }
    try {
      mean.add(state_dict(*lm.model));
    } catch (const Error& e) {
      throw Error("weights=" + path + " cannot be averaged with " + paths[0] + ": " + e.what());
    }
    std::printf("averaging %d: %s\n", mean.count(), lm.source.c_str());
  }
  load_state_dict(*first.model, mean.result(), "the average of " + std::to_string(paths.size()) + " checkpoints");
  first.source = "the average of " + std::to_string(paths.size()) + " checkpoints (" + paths[0] + ", ...)";
  return first;
}

}  // namespace

int cmd_export(const Args& args) {
  args.check_known({"model", "weights", "format", "out", "ema", "imgsz", "names", "batch", "int8", "calib", "threads",
                    "nms", "conf", "iou", "top_k", "max_det", "half", "calib_method", "percentile", "int8_select", "int8_heads",
                    "int8_budget", "name", "max_batch", "instances", "device"});
  const std::string format = args.str("format", "pth");
  if (format != "pth" && format != "onnx" && format != "ynas" && format != "triton")
    throw Error("format=" + clip(format, 40) + ": expected pth, onnx, ynas (the runtime's model file) or triton");
  const bool int8 = args.boolean("int8", false);
  if (int8 && format != "ynas") throw Error("int8=true: only format=ynas holds an INT8 model");
  if (int8 && !args.has("calib"))
    throw Error("int8=true needs calibration images like the ones the model will see: calib=DIR|GLOB|data.yaml");
  DetectorOptions o;
  o.model = args.str("model", "");  // from the checkpoint's metadata (yolo_nas_s for SG files)
  o.weights = args.str("weights", "");
  o.prefer_ema = args.boolean("ema", true);
  o.imgsz = args.imgsz(0);
  if (o.weights.empty()) throw Error("weights= is required (the checkpoint to export)");
  // A comma separates checkpoints to average, unless the whole value names a file.
  const std::vector<std::string> sources =
      std::filesystem::exists(o.weights) ? std::vector<std::string>{o.weights} : split_list(o.weights);
  if (sources.empty()) throw Error("weights=" + clip(o.weights, 80) + ": names no checkpoint");
  o.weights = sources[0];
  LoadedModel lm = sources.size() > 1 ? load_average(o, sources) : load_model(o);
  std::string out = args.str("out", "");
  if (out.empty())
    out = std::filesystem::path(o.weights).stem().string() +
          (format == "onnx" ? ".onnx" : format == "ynas" ? (int8 ? "_int8.ynas" : ".ynas") : "_export.pth");
  for (const std::string& source : sources)
    if (std::filesystem::absolute(out) == std::filesystem::absolute(source))
      throw Error("out= must differ from weights= (the source is never overwritten)");
  const auto& pp = lm.meta.preprocessing;

  if (format == "ynas") {
    set_threads(args.integer_in("threads", 0, 0, 1024));
    fuse_for_inference(lm.model, "full");
    const DnnGraph graph = build_dnn_graph(lm.model);
    std::optional<DnnInt8> plan;
    std::string note, report_json;
    if (int8) {
      const std::vector<std::string> images = calibration_images(args.str("calib", ""));
      QuantizeOptions q = quantize_options(args);
      const std::shared_ptr<const EvalSet> eval = quantize_eval(args);
      q.eval = eval.get();
      QuantizeReport report;
      plan = quantize_graph(graph, lm.meta, images, q, &report);
      note = report.note() + " of " + args.str("calib", "");
      report_json = report.to_json().dump();
    }
    write_model_file(out, graph, plan ? &*plan : nullptr, lm.meta.to_json(), note, "yolonas 0.1.0", report_json);
    std::printf("exported %s -> %s (yolonas model file, %s, %.1f MB, %d classes, input %dx%d%s%s)\n", lm.source.c_str(),
                out.c_str(), int8 ? "INT8" : "FP32", std::filesystem::file_size(out) / 1e6, lm.meta.arch.num_classes,
                pp.input_h, pp.input_w, note.empty() ? "" : ", ", note.c_str());
    return 0;
  }

  if (format == "triton") {
    // A Triton model repository: <out>/<name>/{config.pbtxt, labels.txt, 1/model.onnx}.
    if (args.boolean("nms", false)) throw Error("format=triton: nms=true is not batchable in Triton; NMS runs on the client");
    if (args.boolean("half", false)) throw Error("format=triton: half=true is not offered (export format=onnx half=true yourself)");
    const std::string name = args.str("name", std::filesystem::path(o.weights).stem().string());
    const std::string repo = args.str("out", "triton_models");
    fuse_for_inference(lm.model, "full");
    OnnxExportOptions eo;
    eo.height = pp.input_h;
    eo.width = pp.input_w;
    eo.batch = 0;  // dynamic: Triton batches
    eo.producer_version = "0.1.0";
    eo.metadata = {{"names", nlohmann::json(lm.meta.names).dump()},
                   {"imgsz", nlohmann::json({pp.input_h, pp.input_w}).dump()},
                   {"preprocessing", pp.describe()},
                   {"yolonas_meta", lm.meta.to_json()}};
    TritonConfigOptions tc;
    tc.name = name;
    tc.height = pp.input_h;
    tc.width = pp.input_w;
    tc.num_anchors = count_anchors(pp.input_h, pp.input_w, lm.meta.arch.strides());
    tc.num_classes = lm.meta.arch.num_classes;
    tc.max_batch_size = args.integer_in("max_batch", 8, 1, 4096);
    tc.instances = args.integer_in("instances", 1, 1, 64);
    tc.gpu = args.str("device", "cpu") != "cpu";
    const std::string config = triton_config(tc);
    const std::filesystem::path dir = std::filesystem::path(repo) / name;
    std::filesystem::create_directories(dir / "1");
    const std::string bytes = export_onnx(build_dnn_graph(lm.model), eo);
    write_file_atomic((dir / "1" / "model.onnx").string(), bytes);
    std::string labels;
    for (const auto& n : lm.meta.names) labels += n + "\n";
    write_file_atomic((dir / "labels.txt").string(), labels);
    write_file_atomic((dir / "config.pbtxt").string(), config);
    std::printf("exported %s -> %s (Triton model repository: config.pbtxt, labels.txt, 1/model.onnx %.1f MB; "
                "input images [-1, 3, %d, %d], outputs boxes [-1, %d, 4] and scores [-1, %d, %d], max_batch_size %d)\n",
                lm.source.c_str(), dir.string().c_str(), bytes.size() / 1e6, pp.input_h, pp.input_w, tc.num_anchors,
                tc.num_anchors, tc.num_classes, tc.max_batch_size);
    return 0;
  }

  if (format == "onnx") {
    const int batch = args.integer("batch", 0);
    if (batch < 0) throw Error("batch=" + std::to_string(batch) + ": expected 0 (dynamic) or a positive size");
    fuse_for_inference(lm.model, "full");
    OnnxExportOptions eo;
    eo.height = pp.input_h;
    eo.width = pp.input_w;
    eo.batch = batch;
    eo.half = args.boolean("half", false);
    eo.nms = args.boolean("nms", false);
    eo.conf = static_cast<float>(args.real_in("conf", lm.meta.conf, 0, 1));
    eo.iou = static_cast<float>(args.real_in("iou", lm.meta.iou, 0, 1));
    eo.top_k = args.integer_in("top_k", eo.top_k, 1, 1000000);
    eo.max_det = args.integer_in("max_det", eo.max_det, 1, 100000);
    eo.producer_version = "0.1.0";
    eo.metadata = {{"names", nlohmann::json(lm.meta.names).dump()},
                   {"imgsz", nlohmann::json({pp.input_h, pp.input_w}).dump()},
                   {"preprocessing", pp.describe()},
                   {"yolonas_meta", lm.meta.to_json()},
                   {"outputs", eo.nms ? "detections [N, 7]: batch index, x1, y1, x2, y2 (input pixels), score, class; "
                                        "NMS inside (conf " + std::to_string(eo.conf) + ", iou " + std::to_string(eo.iou) +
                                        ", top_k " + std::to_string(eo.top_k) + " candidates per image, max_det " +
                                        std::to_string(eo.max_det) + " per image)"
                                      : "boxes [batch, anchors, 4] x1 y1 x2 y2 in input pixels; scores [batch, anchors, "
                                        "classes] sigmoid; no NMS"},
                   {"precision", eo.half ? "float16 compute, float32 input and outputs" : "float32"}};
    const std::string bytes = export_onnx(build_dnn_graph(lm.model), eo);
    write_file_atomic(out, bytes);
    std::printf("exported %s -> %s (ONNX opset 13%s, %.1f MB, %d classes, input [%s, 3, %d, %d], outputs %s)\n",
                lm.source.c_str(), out.c_str(), eo.half ? ", float16" : "", bytes.size() / 1e6, lm.meta.arch.num_classes,
                batch > 0 ? std::to_string(batch).c_str() : "batch", pp.input_h, pp.input_w,
                eo.nms ? "detections [N, 7] (NMS inside)" : "boxes + scores");
    return 0;
  }

  StateDict sd = state_dict(*lm.model);
  CheckpointWrite w;
  w.net = &sd;
  w.meta_json = lm.meta.to_json();
  write_checkpoint(out, w);
  std::printf("exported %s -> %s (%.1f MB, %zu tensors, %d classes, %dx%d)\n", lm.source.c_str(), out.c_str(),
              std::filesystem::file_size(out) / 1e6, sd.size(), lm.meta.arch.num_classes, pp.input_h, pp.input_w);
  return 0;
}

}  // namespace yolonas::cli
