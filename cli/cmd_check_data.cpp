// `yolonas check-data data=data.yaml [split=train,val strict=true workers=2 decode=true max_list=0]`
//
// Validates a dataset (data.yaml of any format, a COCO or VOC folder, a COCO json) before training and
// prints every problem with its file and line, then a
// table per split and the count per kind. Exit code 1 when the dataset has errors and strict=true
// (what `train` would refuse); with strict=false the errors are listed as rows/images that training
// would skip, and the exit code is 0.
#include <iostream>
#include <sstream>

#include <opencv2/core/utils/logger.hpp>

#include "commands.h"
#include "yolonas/data/check_data.h"
#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"

namespace yolonas::cli {
namespace {

const std::vector<std::string> kCheckDataKeys = {"data", "split", "strict", "workers", "decode", "max_list"};

// "train,val" or "[train, val]" -> {"train", "val"}.
std::vector<std::string> parse_split_list(const std::string& text) {
  std::string s;
  for (char c : text)
    if (c != '[' && c != ']' && c != ' ' && c != '\'' && c != '"') s += c;
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int cmd_check_data(const Args& args) {
  args.check_known(kCheckDataKeys);
  const auto data_path = args.opt_str("data");
  if (!data_path)
    throw Error("check-data: data= is required (a data.yaml, a COCO or Pascal VOC dataset folder, or a COCO json)");
  const bool strict = args.boolean("strict", true);
  const int max_list = args.integer("max_list", 0);
  if (max_list < 0) throw Error("argument max_list=" + std::to_string(max_list) + ": expected >= 0 (0 = all)");
  CheckOptions opt;
  opt.workers = args.integer("workers", 2);
  if (opt.workers < 1) throw Error("argument workers=" + std::to_string(opt.workers) + ": expected >= 1");
  opt.decode_images = args.boolean("decode", true);
  opt.progress = true;

  // libjpeg's "Corrupt JPEG data" chatter would interleave with the report; problems are reported below.
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);

  const DataYaml data = open_dataset(*data_path);
  const DataReport report = check_dataset(data, parse_split_list(args.str("split", "")), opt);

  if (!report.problems.empty()) std::cout << report.details(static_cast<size_t>(max_list)) << "\n";
  std::cout << report.summary() << "\n";
  if (report.ok()) {
    std::cout << "dataset OK" << (report.warnings() ? " (warnings only)" : "") << "\n";
    return 0;
  }
  if (strict) {
    std::cout << "dataset has errors: `train` refuses it with strict=true (strict=false skips the bad rows and "
                 "images)\n";
    return 1;
  }
  std::cout << "dataset has errors: with strict=false, training skips the bad rows and images listed above\n";
  return 0;
}

}  // namespace yolonas::cli
