// Dataset readers: YOLO data.yaml + label files, and COCO instances json. See dataset.h.
#include "yolonas/data/dataset.h"

#include <yaml-cpp/yaml.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/text.h"
#include "yolonas/core/yaml_check.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace yolonas {

// ---------------------------------------------------------------------------------------------
// Issues
// ---------------------------------------------------------------------------------------------

const char* issue_kind_name(IssueKind kind) {
  switch (kind) {
    case IssueKind::BadRow: return "bad_row";
    case IssueKind::BadClass: return "bad_class";
    case IssueKind::OutOfBounds: return "out_of_bounds";
    case IssueKind::ZeroSize: return "zero_size";
    case IssueKind::Duplicate: return "duplicate";
    case IssueKind::MissingImage: return "missing_image";
    case IssueKind::UnreadableImage: return "unreadable_image";
    case IssueKind::DefaultedField: return "defaulted_field";
    case IssueKind::BoxOutsideImage: return "box_outside_image";
    case IssueKind::MissingLabel: return "missing_label";
    case IssueKind::TruncatedJpeg: return "truncated_jpeg";
    case IssueKind::LabelWithoutImage: return "label_without_image";
    case IssueKind::SplitOverlap: return "split_overlap";
    case IssueKind::EmptySplit: return "empty_split";
  }
  return "unknown";
}

bool issue_is_error(IssueKind kind) {
  switch (kind) {
    case IssueKind::BadRow:
    case IssueKind::BadClass:
    case IssueKind::OutOfBounds:
    case IssueKind::ZeroSize:
    case IssueKind::MissingImage:
    case IssueKind::UnreadableImage:
    case IssueKind::EmptySplit:
      return true;
    default:
      return false;  // the data stays usable: kept once, clipped, defaulted, or simply unused
  }
}

std::string DatasetIssue::str() const {
  std::ostringstream os;
  os << clip(file);
  if (line > 0) os << ":" << line;
  os << ": " << issue_kind_name(kind) << ": " << message;
  return os.str();
}

namespace {

// ---- data.yaml ------------------------------------------------------------------------------

std::vector<std::string> read_names(const YAML::Node& node, const std::string& file) {
  std::vector<std::string> names;
  if (node.IsSequence()) {
    for (const auto& n : node) names.push_back(n.as<std::string>());
    return names;
  }
  if (!node.IsMap()) throw Error(clip(file) + ": 'names' must be a list or a {index: name} map");
  std::map<long, std::pair<std::string, std::string>> by_index;  // index -> (key as written, name)
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    char* end = nullptr;
    errno = 0;
    const long idx = std::strtol(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || idx < 0 || errno == ERANGE)
      throw Error(clip(file) + ": names: key '" + clip(key) + "' is not a class index");
    // "1" and "01" are different YAML keys but the same class.
    const auto [it, fresh] = by_index.emplace(idx, std::make_pair(key, kv.second.as<std::string>()));
    if (!fresh)
      throw Error(clip(file) + ": names: class index " + std::to_string(idx) + " is given twice (keys '" +
                  clip(it->second.first) + "' and '" + clip(key) + "')");
  }
  long expected = 0;
  for (const auto& [idx, entry] : by_index) {
    if (idx != expected)
      throw Error(clip(file) + ": names: class indices must be 0.." + std::to_string(by_index.size() - 1) +
                  " (index " + std::to_string(expected) + " is missing)");
    names.push_back(entry.second);
    ++expected;
  }
  return names;
}

// A split entry relative to the dataset root; Roboflow exports write "../train/images" next to a
// data.yaml that already sits in the dataset root, so Ultralytics retries without the "../".
std::string resolve_split_source(const fs::path& root, const std::string& entry) {
  fs::path p = fs::path(entry);
  if (p.is_relative()) p = root / p;
  std::error_code ec;  // a name too long for the system is reported as missing by list_split_images
  if (!fs::exists(p, ec) && entry.rfind("../", 0) == 0) {
    const fs::path retry = root / entry.substr(3);
    if (fs::exists(retry, ec)) p = retry;
  }
  return p.lexically_normal().string();
}

// A folder's identity (device, inode), symlinks followed; false when it cannot be read.
bool folder_id(const fs::path& p, std::pair<dev_t, ino_t>& id) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return false;
  id = {st.st_dev, st.st_ino};
  return true;
}

// Symlinked folders are followed (datasets often link their image folders); a link that leads back
// to a folder being listed (a loop) would be walked until the path is too long, so it is an error.
void collect_images_from_folder(const fs::path& dir, std::vector<std::string>& out, const std::string& context) {
  // The folders from `dir` down to the one being listed: (identity, path).
  std::vector<std::pair<std::pair<dev_t, ino_t>, fs::path>> open;
  std::pair<dev_t, ino_t> id;
  if (folder_id(dir, id)) open.emplace_back(id, dir);
  const fs::recursive_directory_iterator end;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink); it != end; ++it) {
    const fs::directory_entry& entry = *it;
    std::error_code ec;
    if (entry.is_directory(ec)) {
      open.resize(std::min(open.size(), static_cast<size_t>(it.depth()) + 1));
      if (!folder_id(entry.path(), id)) continue;
      for (const auto& [above, above_path] : open)
        if (above == id)
          throw Error(context + ": symlink loop: '" + clip(entry.path().string()) + "' leads back to '" +
                      clip(above_path.string()) + "' (remove the link or point the split at a folder without it)");
      open.emplace_back(id, entry.path());
    } else if (entry.is_regular_file(ec) && is_image_file(entry.path())) {
      out.push_back(entry.path().string());
    }
  }
}

void collect_images_from_list(const fs::path& list_file, std::vector<std::string>& out) {
  std::istringstream in(read_text_file(list_file.string(), "image list"));
  const fs::path parent = list_file.parent_path();
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty()) continue;
    fs::path p(line);
    if (p.is_relative()) p = parent / p;
    out.push_back(p.lexically_normal().string());
  }
}

// ---- label rows -----------------------------------------------------------------------------

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Whitespace-separated values of one line, at most `max` + 1 of them (more are not split: a 16 MB
// line of values would cost a string each). `count` is the full number of values.
std::vector<std::string> split_whitespace(std::string_view line, size_t max, size_t& count) {
  std::vector<std::string> tokens;
  count = 0;
  for (size_t i = 0; i < line.size();) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) break;
    const size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (++count <= max + 1) tokens.emplace_back(line.substr(start, i - start));
  }
  return tokens;
}

// Tolerance for coordinates a hair outside [0,1] (float formatting in exporters); they are clipped.
constexpr double kCoordSlack = 1e-6;

// Collects the issues of one file: at most kMaxIssuesPerKind of each kind are listed, the rest are
// counted in one summary entry per kind (added by finish()), so that a file of a million bad rows
// costs neither memory nor a million printed lines.
class IssueLimiter {
 public:
  IssueLimiter(const std::string& file, std::vector<DatasetIssue>& out) : file_(file), out_(out) {}

  void add(int line, IssueKind kind, const std::string& message) {
    if (listed_[kind]++ < kMaxIssuesPerKind) {
      out_.push_back({file_, line, kind, message});
      return;
    }
    Extra& e = extra_[kind];
    if (e.count++ == 0) e.first_line = line;
    e.last_line = line;
  }

  void finish() {
    for (const auto& [kind, e] : extra_)
      out_.push_back({file_, e.first_line, kind,
                      "... and " + std::to_string(e.count) + " more " + issue_kind_name(kind) +
                          " problems in this file (lines " + std::to_string(e.first_line) + ".." +
                          std::to_string(e.last_line) + "), not listed",
                      "", e.count});
    extra_.clear();
  }

 private:
  struct Extra {
    int first_line = 0, last_line = 0, count = 0;
  };
  const std::string& file_;
  std::vector<DatasetIssue>& out_;
  std::map<IssueKind, int> listed_;
  std::map<IssueKind, Extra> extra_;
};

// Parses one row into `label`; returns false (and records why) when the row must be dropped.
bool parse_label_row(const std::vector<std::string>& tokens, size_t n, int num_classes, int line_no, BoxLabel& label,
                     IssueLimiter& issues) {
  auto report = [&](IssueKind kind, const std::string& msg) {
    issues.add(line_no, kind, msg);
    return false;
  };
  const bool is_box = n == 5;
  const bool is_polygon = n >= 7 && (n - 1) % 2 == 0;
  if (!is_box && !is_polygon)
    return report(IssueKind::BadRow, "expected 'class cx cy w h' (5 values) or a polygon, got " +
                                         std::to_string(n) + " values");
  if (n > kMaxRowValues)
    return report(IssueKind::BadRow, "a polygon of " + std::to_string(n) + " values; a row has at most " +
                                         std::to_string(kMaxRowValues));
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i)
    if (!parse_double(tokens[i], v[i])) return report(IssueKind::BadRow, "'" + clip(tokens[i]) + "' is not a number");

  // The class is range-checked as a double, before the conversion: casting 2147483648 or 1e10 to
  // int is undefined behaviour (and gave a negative class index to the trainer).
  if (v[0] < 0 || v[0] != std::floor(v[0]))
    return report(IssueKind::BadClass, "class '" + clip(tokens[0]) + "' is not a non-negative integer");
  if (num_classes > 0 && v[0] >= num_classes)
    return report(IssueKind::BadClass, "class " + clip(tokens[0]) + " >= " + std::to_string(num_classes) + " names");
  if (v[0] > std::numeric_limits<int>::max())
    return report(IssueKind::BadClass, "class " + clip(tokens[0]) + " is too large");
  label.cls = static_cast<int>(v[0]);

  for (size_t i = 1; i < n; ++i) {
    if (v[i] < -kCoordSlack || v[i] > 1 + kCoordSlack)
      return report(IssueKind::OutOfBounds, "value " + clip(tokens[i]) + " (column " + std::to_string(i + 1) +
                                                ") is outside [0, 1]: labels must be normalized");
    v[i] = std::clamp(v[i], 0.0, 1.0);
  }
  if (is_box) {
    label.cx = v[1], label.cy = v[2], label.w = v[3], label.h = v[4];
  } else {
    double x0 = 1, y0 = 1, x1 = 0, y1 = 0;
    for (size_t i = 1; i + 1 < n; i += 2) {
      x0 = std::min(x0, v[i]), x1 = std::max(x1, v[i]);
      y0 = std::min(y0, v[i + 1]), y1 = std::max(y1, v[i + 1]);
    }
    label.cx = (x0 + x1) / 2, label.cy = (y0 + y1) / 2, label.w = x1 - x0, label.h = y1 - y0;
  }
  if (label.w <= 0 || label.h <= 0) return report(IssueKind::ZeroSize, "box has zero width or height");
  return true;
}

enum class LabelFile { Missing, Read, Unreadable };

// read_yolo_label_file(), telling a label file that cannot be used apart from a missing one.
LabelFile read_label_file(const std::string& label_path, int num_classes, std::vector<BoxLabel>& labels,
                          std::vector<DatasetIssue>& issues) {
  labels.clear();
  auto unusable = [&](int line, const std::string& why) {
    issues.push_back({label_path, line, IssueKind::BadRow, why + "; the image is left out"});
    return LabelFile::Unreadable;
  };
  bool missing = false;
  std::string text;
  const std::string problem = try_read_text_file(label_path, kMaxLabelFileBytes, text, missing);
  if (missing) return LabelFile::Missing;
  if (!problem.empty()) return unusable(0, "label file " + problem);

  // Lines as views into `text` (a final line without '\n' counts), walked twice: first to count the
  // rows, so that a file of a million rows is refused before any of them costs memory.
  auto for_each_line = [&text](const auto& f) {
    int line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      if (!f(++line_no, std::string_view(text.data() + pos, end - pos))) return;
      pos = end + 1;
    }
  };
  int rows = 0, too_many_at = 0;
  for_each_line([&](int line_no, std::string_view line) {
    if (std::all_of(line.begin(), line.end(), is_blank) || ++rows <= kMaxLabelRows) return true;
    too_many_at = line_no;
    return false;
  });
  if (too_many_at > 0)
    return unusable(too_many_at, "label file has more than " + std::to_string(kMaxLabelRows) +
                                     " rows (the limit on objects in one image)");

  IssueLimiter limited(label_path, issues);
  std::unordered_set<std::string> seen;  // duplicate detection on the raw tokens, joined by one space
  for_each_line([&](int line_no, std::string_view line) {
    size_t n = 0;
    const std::vector<std::string> tokens = split_whitespace(line, kMaxRowValues, n);
    BoxLabel label;
    if (n == 0 || !parse_label_row(tokens, n, num_classes, line_no, label, limited)) return true;
    std::string key;
    for (const std::string& t : tokens) key += (key.empty() ? "" : " ") + t;
    if (!seen.insert(std::move(key)).second) {
      limited.add(line_no, IssueKind::Duplicate, "duplicate row (kept once)");
      return true;
    }
    label.line = line_no;
    labels.push_back(label);
    return true;
  });
  limited.finish();
  return LabelFile::Read;
}

// ---- COCO json ------------------------------------------------------------------------------

// Field access that names the file, the entry and the field in every error:
// "instances.json: annotations[17]: missing field 'bbox'"; lined() adds the entry's line
// ("instances.json:30: images[3]: field 'width' must be ..."), for the number checks.
struct JsonWhere {
  const std::string& source;
  std::string entry;          // "annotations[17]"
  std::function<int()> line;  // the entry's 1-based line (0: unknown); only called for a message
  std::string operator()(const std::string& msg) const { return clip(source) + ": " + entry + ": " + msg; }
  std::string lined(const std::string& msg) const {
    const int l = line ? line() : 0;
    return clip(source) + (l > 0 ? ":" + std::to_string(l) : "") + ": " + entry + ": " + msg;
  }
};

// A json value for a message: a number as written, anything else by its type (a value can be a
// 100 MB string).
std::string describe_json(const json& v) {
  if (v.is_number() || v.is_boolean() || v.is_null()) return v.dump();
  return std::string("a ") + v.type_name();
}

const json& require_field(const json& obj, const char* field, const JsonWhere& where) {
  if (!obj.is_object()) throw Error(where("is not an object"));
  auto it = obj.find(field);
  if (it == obj.end()) throw Error(where(std::string("missing field '") + field + "'"));
  return *it;
}

int64_t as_id(const json& v, const char* field, const JsonWhere& where) {
  if (!v.is_number_integer()) throw Error(where(std::string("field '") + field + "' must be an integer"));
  // nlohmann keeps 2^63 .. 2^64-1 as unsigned: get<int64_t>() would wrap them to negative ids.
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw Error(where.lined(std::string("field '") + field + "' is too large: " + v.dump()));
  return v.get<int64_t>();
}

// A json number that must be an integer in [lo, hi] (an integral float such as 640.0 counts),
// checked before any conversion: nlohmann's get<int>() wraps 4294967360 to 64 and is undefined
// behaviour for 5e83.
int as_int(const json& v, const char* field, int lo, int hi, const JsonWhere& where) {
  bool ok = false;
  double d = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    ok = hi >= 0 && u <= static_cast<uint64_t>(hi) && (lo <= 0 || u >= static_cast<uint64_t>(lo));
  } else if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    ok = i >= lo && i <= hi;
  } else if (v.is_number_float()) {
    d = v.get<double>();
    ok = d >= lo && d <= hi && d == std::floor(d);
  }
  if (!ok)
    throw Error(where.lined(std::string("field '") + field + "' must be an integer in " + std::to_string(lo) + ".." +
                      std::to_string(hi) + ", got " + describe_json(v)));
  return v.is_number_float() ? static_cast<int>(d) : static_cast<int>(v.get<int64_t>());
}

double as_number(const json& v, const char* field, const JsonWhere& where) {
  if (!v.is_number()) throw Error(where.lined(std::string("field '") + field + "' must be a number, got " + describe_json(v)));
  const double d = v.get<double>();
  if (!std::isfinite(d)) throw Error(where.lined(std::string("field '") + field + "' must be a finite number"));
  return d;
}

const json& require_array(const json& root, const char* field, const std::string& source) {
  auto it = root.find(field);
  if (it == root.end()) throw Error(clip(source) + ": missing field '" + field + "'");
  if (!it->is_array()) throw Error(clip(source) + ": field '" + field + "' must be an array");
  return *it;
}

void read_bbox(const json& v, double out[4], const JsonWhere& where) {
  if (!v.is_array() || v.size() != 4) throw Error(where("field 'bbox' must be [x, y, w, h]"));
  for (int i = 0; i < 4; ++i) out[i] = as_number(v[i], "bbox", where);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// YOLO
// ---------------------------------------------------------------------------------------------

namespace {

DataYaml read_data_yaml(const std::string& path) {
  // Read through read_text_file(): YAML::LoadFile() would wait forever on a FIFO.
  const std::string text = read_text_file(path, "data file", kMaxYamlFileBytes);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(clip(path) + ": invalid YAML: " + clip(e.what(), 400));
  }
  if (!root.IsMap()) throw Error(clip(path) + ": expected a mapping with 'names' and splits");
  check_yaml_unique_keys(root, path);

  DataYaml data;
  data.yaml_path = path;
  const fs::path yaml_dir = fs::absolute(fs::path(path)).parent_path();
  fs::path dataset_root = yaml_dir;
  try {
    if (root["path"] && !root["path"].IsNull()) {
      fs::path p(root["path"].as<std::string>());
      dataset_root = p.is_relative() ? yaml_dir / p : p;
    }
    data.root = dataset_root.lexically_normal().string();

    std::string format;
    if (root["format"] && !root["format"].IsNull()) {
      format = lower(root["format"].as<std::string>());
      if (format != "yolo" && format != "coco" && format != "voc")
        throw Error(clip(path) + ": format: '" + clip(format) + "' is not yolo, coco or voc");
    }
    bool any_json = false, any_imagesets = false;
    for (const char* split : {"train", "val", "test", "minival"}) {
      const YAML::Node node = root[split];
      if (!node || node.IsNull()) continue;
      std::vector<std::string> sources;
      if (node.IsMap()) {  // COCO: {json: ..., images: ...}
        const YAML::Node j = node["json"] ? node["json"] : node["annotations"];
        if (!j) throw Error(clip(path) + ": " + split + ": a mapping needs 'json' (the COCO annotation file) and 'images'");
        sources.push_back(resolve_split_source(dataset_root, j.as<std::string>()));
        if (node["images"]) data.image_dirs[split] = resolve_split_source(dataset_root, node["images"].as<std::string>());
      } else if (node.IsSequence()) {
        for (const auto& s : node) sources.push_back(resolve_split_source(dataset_root, s.as<std::string>()));
      } else {
        sources.push_back(resolve_split_source(dataset_root, node.as<std::string>()));
      }
      for (const std::string& src : sources) {
        any_json = any_json || lower(fs::path(src).extension().string()) == ".json";
        any_imagesets = any_imagesets || src.find("/ImageSets/") != std::string::npos;
      }
      data.splits[split] = sources;
    }
    if (format.empty()) format = any_json ? "coco" : any_imagesets ? "voc" : "yolo";
    data.format = format == "coco" ? DataFormat::Coco : format == "voc" ? DataFormat::Voc : DataFormat::Yolo;

    if (root["names"]) {
      data.names = read_names(root["names"], path);
    } else if (data.format == DataFormat::Yolo) {
      throw Error(clip(path) + ": missing field 'names'");
    }
    if (root["nc"] && root["names"]) {
      const YAML::Node nc = root["nc"];
      const std::string where = clip(path) + (nc.Mark().is_null() ? "" : ":" + std::to_string(nc.Mark().line + 1));
      int n = 0;
      try {
        n = nc.as<int>();  // yaml-cpp refuses what does not fit an int
      } catch (const YAML::Exception&) {
        throw Error(where + ": nc: '" + clip(nc.IsScalar() ? nc.Scalar() : std::string("(not a number)")) +
                    "' is not an integer");
      }
      if (n != static_cast<int>(data.names.size()))
        throw Error(clip(path) + ": nc is " + std::to_string(n) + " but 'names' has " +
                    std::to_string(data.names.size()) + " entries");
    }
  } catch (const YAML::Exception& e) {
    throw Error(clip(path) + ": " + clip(e.what(), 400));
  }
  if (data.format != DataFormat::Yolo) resolve_dataset_names(data);
  return data;
}

}  // namespace

DataYaml load_data_yaml(const std::string& path) {
  try {
    return read_data_yaml(path);
  } catch (const fs::filesystem_error& e) {
    throw filesystem_error_message(clip(path), e);
  }
}

std::vector<std::string> list_split_images(const DataYaml& data, const std::string& split) {
  auto it = data.splits.find(split);
  if (it == data.splits.end()) {
    std::string have;
    for (const auto& kv : data.splits) have += (have.empty() ? "" : ", ") + kv.first;
    throw Error(clip(data.yaml_path) + ": no '" + clip(split) + "' split" + (have.empty() ? "" : " (has: " + have + ")"));
  }
  const std::string context = clip(data.yaml_path) + ": " + split;
  std::vector<std::string> images;
  try {
    for (const std::string& source : it->second) {
      const fs::path p(source);
      std::error_code ec;
      const fs::file_type type = fs::status(p, ec).type();
      if (type == fs::file_type::directory) {
        collect_images_from_folder(p, images, context);
      } else if (type == fs::file_type::regular && lower(p.extension().string()) == ".txt") {
        collect_images_from_list(p, images);
      } else if (type == fs::file_type::regular) {
        images.push_back(p.string());
      } else {
        throw Error(context + ": '" + clip(source) + "' " + file_problem(source));
      }
    }
  } catch (const fs::filesystem_error& e) {
    throw filesystem_error_message(context, e);
  }
  std::sort(images.begin(), images.end());
  images.erase(std::unique(images.begin(), images.end()), images.end());
  return images;
}

std::string image_to_label_path(const std::string& image_path) {
  std::string p = image_path;
  const std::string from = "/images/", to = "/labels/";
  const size_t pos = p.rfind(from);
  if (pos != std::string::npos) p.replace(pos, from.size(), to);
  // Replace the extension of the file name only (a dot in a folder name is not an extension).
  const size_t slash = p.find_last_of('/');
  const size_t dot = p.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) p.erase(dot);
  return p + ".txt";
}

std::string image_to_ignore_path(const std::string& image_path) {
  const std::string from = "/images/";
  const size_t pos = image_path.rfind(from);
  if (pos == std::string::npos) return "";
  std::string p = image_to_label_path(image_path);  // ".../labels/<name>.txt", the same position
  return p.replace(pos, 8, "/ignore/");
}

bool read_yolo_label_file(const std::string& label_path, int num_classes, std::vector<BoxLabel>& labels,
                          std::vector<DatasetIssue>& issues) {
  return read_label_file(label_path, num_classes, labels, issues) != LabelFile::Missing;
}

DataSplit load_yolo_split(const DataYaml& data, const std::string& split) {
  DataSplit out;
  out.names = data.names;
  const int nc = static_cast<int>(data.names.size());
  for (const std::string& image : list_split_images(data, split)) {
    LabeledImage s;
    s.image = image;
    s.label = image_to_label_path(image);
    const LabelFile read = read_label_file(s.label, nc, s.labels, out.issues);
    // An unusable label file (a folder, a FIFO, too big): the image's objects are unknown, so it is
    // no background image either; the issue says so.
    if (read == LabelFile::Unreadable) continue;
    const std::string ignore = image_to_ignore_path(image);
    if (!ignore.empty() && read_label_file(ignore, nc, s.ignored, out.issues) == LabelFile::Unreadable) continue;
    s.has_label_file = read == LabelFile::Read;
    if (!s.has_label_file) ++out.missing_label_files;
    out.samples.push_back(std::move(s));
  }
  return out;
}

void yolo_to_pixel_xywh(const BoxLabel& label, ImageSize size, double xywh[4]) {
  const double W = size.width, H = size.height;
  xywh[0] = (label.cx - label.w / 2) * W;
  xywh[1] = (label.cy - label.h / 2) * H;
  xywh[2] = label.w * W;
  xywh[3] = label.h * H;
}

// ---------------------------------------------------------------------------------------------
// COCO
// ---------------------------------------------------------------------------------------------

void CocoDataset::build_index() {
  std::stable_sort(categories.begin(), categories.end(),
                   [](const CocoCategory& a, const CocoCategory& b) { return a.id < b.id; });
  class_of_category_.clear();
  index_of_image_.clear();
  for (size_t k = 0; k < categories.size(); ++k)
    if (!class_of_category_.emplace(categories[k].id, static_cast<int>(k)).second)
      throw Error(source + ": categories: duplicate id " + std::to_string(categories[k].id));
  for (size_t i = 0; i < images.size(); ++i)
    if (!index_of_image_.emplace(images[i].id, static_cast<long>(i)).second)
      throw Error(source + ": images: duplicate id " + std::to_string(images[i].id));
}

int CocoDataset::class_index(int64_t id) const {
  auto it = class_of_category_.find(id);
  return it == class_of_category_.end() ? -1 : it->second;
}

int64_t CocoDataset::category_id(int cls) const {
  if (cls < 0 || cls >= num_classes())
    throw Error(source + ": class index " + std::to_string(cls) + " outside 0.." + std::to_string(num_classes() - 1));
  return categories[static_cast<size_t>(cls)].id;
}

long CocoDataset::image_index(int64_t id) const {
  auto it = index_of_image_.find(id);
  return it == index_of_image_.end() ? -1 : it->second;
}

std::vector<std::string> CocoDataset::names() const {
  std::vector<std::string> out;
  for (const auto& c : categories) out.push_back(c.name);
  return out;
}

std::vector<int> json_array_element_lines(const std::string& text, const std::string& key) {
  std::vector<int> lines;
  int line = 1, depth = 0;
  bool in_target = false, expect_value = false;
  std::string last_key;  // the last string read at depth 1 (an object key of the root)
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') continue;
    // A value starts inside the target array: at depth 2 after '[' or ','.
    if (in_target && depth == 2 && expect_value && c != ']') {
      lines.push_back(line);
      expect_value = false;
    }
    if (c == '"') {
      const size_t start = i + 1;
      for (++i; i < n && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
        else if (text[i] == '\n') ++line;
      }
      if (depth == 1) last_key = text.substr(start, std::min(i, n) - start);
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
      if (depth == 2 && c == '[' && last_key == key) {
        in_target = true;
        expect_value = true;
      }
    } else if (c == '}' || c == ']') {
      if (depth == 2 && in_target) return lines;
      --depth;
    } else if (c == ',' && in_target && depth == 2) {
      expect_value = true;
    }
  }
  return lines;
}

CocoDataset parse_coco_json(const std::string& text, const std::string& source, std::vector<DatasetIssue>* issues) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    throw Error(clip(source) + ": invalid JSON: " + clip(e.what(), 400));
  }
  if (!root.is_object()) throw Error(clip(source) + ": expected a COCO object with images, annotations, categories");

  CocoDataset data;
  data.source = source;

  // Lines of the entries of a top-level array, scanned the first time a message needs one.
  std::map<std::string, std::vector<int>> entry_lines;
  auto line_getter = [&](const char* array, size_t i) {
    return [&, array, i]() {
      auto it = entry_lines.find(array);
      if (it == entry_lines.end()) {
        std::vector<int> lines = json_array_element_lines(text, array);
        const auto r = root.find(array);
        if (r == root.end() || !r->is_array() || lines.size() != r->size()) lines.clear();  // scanner disagrees
        it = entry_lines.emplace(array, std::move(lines)).first;
      }
      return i < it->second.size() ? it->second[i] : 0;
    };
  };

  const json& images = require_array(root, "images", source);
  data.images.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const JsonWhere where{source, "images[" + std::to_string(i) + "]", line_getter("images", i)};
    const json& im = images[i];
    CocoImage img;
    img.id = as_id(require_field(im, "id", where), "id", where);
    if (auto f = im.find("file_name"); f != im.end() && f->is_string()) img.file_name = f->get<std::string>();
    constexpr int kMaxInt = std::numeric_limits<int>::max();
    if (auto w = im.find("width"); w != im.end() && !w->is_null()) img.width = as_int(*w, "width", 0, kMaxInt, where);
    if (auto h = im.find("height"); h != im.end() && !h->is_null()) img.height = as_int(*h, "height", 0, kMaxInt, where);
    data.images.push_back(std::move(img));
  }

  const json& categories = require_array(root, "categories", source);
  for (size_t k = 0; k < categories.size(); ++k) {
    const JsonWhere where{source, "categories[" + std::to_string(k) + "]", line_getter("categories", k)};
    const json& c = categories[k];
    CocoCategory cat;
    cat.id = as_id(require_field(c, "id", where), "id", where);
    if (auto n = c.find("name"); n != c.end() && n->is_string())
      cat.name = n->get<std::string>();
    else
      cat.name = "class" + std::to_string(cat.id);
    data.categories.push_back(std::move(cat));
  }
  data.build_index();

  // An empty 'annotations' list is valid (a split without objects); a missing key is not (a results
  // file passed as ground truth, for instance).
  const json& anns = require_array(root, "annotations", source);
  data.annotations.reserve(anns.size());
  // Tolerant mode records every annotation's line (empty when the scanner disagrees: indices only).
  static const std::vector<int> kNoLines;
  const std::vector<int>* line_list = &kNoLines;
  if (issues) {
    line_getter("annotations", 0)();
    line_list = &entry_lines.at("annotations");
  }
  const std::vector<int>& lines = *line_list;
  std::unordered_map<int64_t, size_t> seen_ids;
  int defaulted_area = 0, defaulted_crowd = 0;
  for (size_t i = 0; i < anns.size(); ++i) {
    const JsonWhere where{source, "annotations[" + std::to_string(i) + "]", line_getter("annotations", i)};
    // Tolerant mode: the entry is reported with its line and dropped; strict mode: throw.
    auto fail = [&](IssueKind kind, const std::string& msg) {
      if (!issues) throw Error(where(msg));
      issues->push_back({source, lines.empty() ? 0 : lines[i], kind, where.entry + ": " + msg});
    };
    const json& a = anns[i];
    CocoAnnotation ann;
    try {
      ann.id = as_id(require_field(a, "id", where), "id", where);
      ann.image_id = as_id(require_field(a, "image_id", where), "image_id", where);
      ann.category_id = as_id(require_field(a, "category_id", where), "category_id", where);
      read_bbox(require_field(a, "bbox", where), ann.bbox, where);
      if (auto ar = a.find("area"); ar != a.end()) {
        ann.area = as_number(*ar, "area", where);
      } else {
        ann.area = ann.bbox[2] * ann.bbox[3];
        ++defaulted_area;
      }
      if (auto c = a.find("iscrowd"); c != a.end()) {
        if (c->is_boolean()) ann.iscrowd = c->get<bool>();
        else ann.iscrowd = as_number(*c, "iscrowd", where) != 0;
      } else {
        ++defaulted_crowd;
      }
    } catch (const Error& e) {
      if (!issues) throw;
      // The message is "<source>[:line]: annotations[i]: <what>"; keep <what>.
      std::string what = e.what();
      for (const std::string& prefix : {where.lined(""), where("")})
        if (what.rfind(prefix, 0) == 0) {
          what = what.substr(prefix.size());
          break;
        }
      fail(IssueKind::BadRow, what);
      continue;
    }
    if (data.image_index(ann.image_id) < 0) {
      fail(IssueKind::BadRow, "image_id " + std::to_string(ann.image_id) + " is not in 'images'");
      continue;
    }
    if (data.class_index(ann.category_id) < 0) {
      fail(IssueKind::BadClass, "category_id " + std::to_string(ann.category_id) + " is not in 'categories'");
      continue;
    }
    // pycocotools indexes annotations by id: a repeated id makes it evaluate one box twice.
    if (!seen_ids.emplace(ann.id, i).second) {
      fail(IssueKind::Duplicate, "duplicate annotation id " + std::to_string(ann.id) + " (also annotations[" +
                                     std::to_string(seen_ids[ann.id]) + "]); dropped");
      continue;
    }
    ann.line = lines.empty() ? 0 : lines[i];
    data.annotations.push_back(ann);
  }
  if (defaulted_area > 0)
    data.notes.push_back({source, 0, IssueKind::DefaultedField,
                          std::to_string(defaulted_area) + " annotations have no 'area': used bbox w*h"});
  if (defaulted_crowd > 0)
    data.notes.push_back({source, 0, IssueKind::DefaultedField,
                          std::to_string(defaulted_crowd) + " annotations have no 'iscrowd': used 0"});
  return data;
}

CocoDataset load_coco_json(const std::string& path, std::vector<DatasetIssue>* issues) {
  // Strict mode (val) names the file; tolerant mode (check-data, training) gives the path, as the
  // other problems of a dataset report do.
  return parse_coco_json(read_text_file(path, "COCO json"), issues ? path : fs::path(path).filename().string(), issues);
}

CocoDataset coco_from_yolo(const DataSplit& split, const std::vector<ImageSize>& sizes) {
  if (sizes.size() != split.samples.size())
    throw Error("coco_from_yolo: " + std::to_string(sizes.size()) + " image sizes for " +
                std::to_string(split.samples.size()) + " images");
  CocoDataset data;
  data.source = "yolo labels";
  for (size_t k = 0; k < split.names.size(); ++k)
    data.categories.push_back({static_cast<int64_t>(k), split.names[k]});
  int64_t next_ann_id = 1;  // never 0: pycocotools reads a matched gt id of 0 as "unmatched"
  for (size_t i = 0; i < split.samples.size(); ++i) {
    const LabeledImage& s = split.samples[i];
    CocoImage img;
    img.id = static_cast<int64_t>(i);
    img.file_name = s.image;
    img.width = sizes[i].width;
    img.height = sizes[i].height;
    data.images.push_back(img);
    for (const auto* list : {&s.labels, &s.ignored})
      for (const BoxLabel& l : *list) {
        CocoAnnotation ann;
        ann.id = next_ann_id++;
        ann.image_id = img.id;
        ann.category_id = l.cls;
        yolo_to_pixel_xywh(l, sizes[i], ann.bbox);
        ann.area = ann.bbox[2] * ann.bbox[3];
        ann.iscrowd = list == &s.ignored;
        data.annotations.push_back(ann);
      }
  }
  data.build_index();
  return data;
}

std::string resolve_coco_image_root(const CocoDataset& data, const std::string& json_path,
                                    const std::string& images_dir) {
  std::error_code ec;  // a name too long for the system is "not found" here
  if (!images_dir.empty()) {
    if (!fs::is_directory(images_dir, ec)) throw Error("images folder '" + clip(images_dir) + "' does not exist");
    return images_dir;
  }
  const fs::path json_dir = fs::absolute(fs::path(json_path)).parent_path();
  std::string stem = fs::path(json_path).stem().string();
  if (stem.rfind("instances_", 0) == 0) stem = stem.substr(10);
  const std::vector<fs::path> candidates = {json_dir, json_dir / "images", json_dir.parent_path() / "images" / stem,
                                            json_dir.parent_path() / stem, json_dir.parent_path() / "images"};
  if (data.images.empty()) return json_dir.string();
  const std::string& first = data.images.front().file_name;
  for (const fs::path& c : candidates)
    if (fs::exists(c / first, ec)) return c.lexically_normal().string();
  std::string tried;
  for (const fs::path& c : candidates) tried += "\n  " + clip((c / first).lexically_normal().string());
  throw Error(clip(data.source) + ": cannot find image '" + clip(first) + "'; tried:" + tried + "\n(pass images=DIR)");
}

}  // namespace yolonas
