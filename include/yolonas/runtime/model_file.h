// The yolonas model file (.ynas): the one file a deployment needs. It holds the fully fused
// network as the runtime's op graph, its weights (FP32; or, for an INT8 model, the quantized
// convolutions' weights as s8 with one scale per output channel, and the activation scales), the
// preprocessing, the class names and the default conf/iou, behind a version header and checksums.
// Written by `yolonas export format=ynas [int8=true calib=...]`; read by the runtime library
// without LibTorch.
//
// Layout (little-endian; every offset and size is checked against the file before use):
//    0  8  magic "YOLONAS\x1a"
//    8  4  format version (1)
//   12  4  header size (64)
//   16  8  JSON offset          24  8  JSON size
//   32  8  data offset          40  8  data size
//   48  8  file size
//   56  4  CRC-32 of bytes [64, file size)
//   60  4  CRC-32 of bytes [0, 60)
// JSON: {"format": "yolonas-model", "version": 1, "meta": <yolonas_meta: names, preprocessing,
//        conf, iou, arch>, "precision": "fp32"|"int8", "int8_note": ..., "producer": ...,
//        "graph": {ops with their tensors as [offset, count] into the data section}, "int8": plan}
// Data: the tensors, each 64-byte aligned; the reader maps the file and the runtime reads them in
// place (the only copy is the one into oneDNN's weight layouts).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "yolonas/detect/model_meta.h"
#include "yolonas/runtime/dnn_graph.h"
#include "yolonas/runtime/int8.h"

namespace yolonas {

constexpr uint32_t kModelFileVersion = 1;
constexpr const char* kModelFileExtension = ".ynas";

struct ModelFile {
  DnnGraph graph;                // tensors are views into the mapped file
  std::optional<DnnInt8> int8;   // the INT8 plan; none for an FP32 model
  DetectionInfo info;            // names, preprocessing, conf, iou, model name
  std::string meta_json;         // the whole yolonas_meta document (with "arch", for ModelMeta)
  std::string int8_note;         // how the INT8 model was calibrated
  std::string int8_report;       // the quantization scan (JSON), when one was made
  std::string producer;          // "yolonas 0.1.0"
  uint64_t file_bytes = 0;
};

// Writes the file atomically. `int8` (a plan for `graph`) makes an INT8 model: the convolutions it
// runs quantized are stored as s8 (quantize_weights()). `meta_json` is ModelMeta::to_json().
// int8_report: how the INT8 plan was made (the quantization scan as JSON), kept in the file.
void write_model_file(const std::string& path, const DnnGraph& graph, const DnnInt8* int8, const std::string& meta_json,
                      const std::string& int8_note = "", const std::string& producer = "yolonas",
                      const std::string& int8_report = "");

// Maps and checks the file (header, sizes, checksums, every op and tensor reference) and returns its
// graph, plan and description. Throws yolonas::Error naming the file and the problem: not a model
// file, written by a newer yolonas, truncated, altered (checksum), or inconsistent.
ModelFile read_model_file(const std::string& path);

// Whether `path` names a model file by its extension (.ynas, any letter case).
bool is_model_file(const std::string& path);

}  // namespace yolonas
