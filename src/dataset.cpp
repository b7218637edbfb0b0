// Dataset readers: YOLO data.yaml + label files, and COCO instances json. See dataset.h.
#include "yolonas/dataset.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "yolonas/error.h"

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
  }
  return "unknown";
}

bool issue_is_error(IssueKind kind) {
  return kind != IssueKind::Duplicate && kind != IssueKind::DefaultedField && kind != IssueKind::BoxOutsideImage &&
         kind != IssueKind::MissingLabel;
}

std::string DatasetIssue::str() const {
  std::ostringstream os;
  os << file;
  if (line > 0) os << ":" << line;
  os << ": " << issue_kind_name(kind) << ": " << message;
  return os.str();
}

namespace {

std::string read_text_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(std::string("cannot open ") + what + " '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Ultralytics' IMG_FORMATS.
bool has_image_extension(const fs::path& p) {
  static const std::set<std::string> kExt = {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png",
                                             ".tif", ".tiff", ".webp", ".pfm", ".heic"};
  return kExt.count(lower(p.extension().string())) > 0;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Strict number parsing: the whole token must be a finite number.
bool parse_double(const std::string& token, double& out) {
  if (token.empty()) return false;
  char* end = nullptr;
  out = std::strtod(token.c_str(), &end);
  return end == token.c_str() + token.size() && std::isfinite(out);
}

// ---- data.yaml ------------------------------------------------------------------------------

std::vector<std::string> read_names(const YAML::Node& node, const std::string& file) {
  std::vector<std::string> names;
  if (node.IsSequence()) {
    for (const auto& n : node) names.push_back(n.as<std::string>());
    return names;
  }
  if (!node.IsMap()) throw Error(file + ": 'names' must be a list or a {index: name} map");
  std::map<long, std::string> by_index;
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    char* end = nullptr;
    const long idx = std::strtol(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || idx < 0)
      throw Error(file + ": names: key '" + key + "' is not a class index");
    by_index[idx] = kv.second.as<std::string>();
  }
  long expected = 0;
  for (const auto& [idx, name] : by_index) {
    if (idx != expected)
      throw Error(file + ": names: class indices must be 0.." + std::to_string(by_index.size() - 1) +
                  " (index " + std::to_string(expected) + " is missing)");
    names.push_back(name);
    ++expected;
  }
  return names;
}

// A split entry relative to the dataset root; Roboflow exports write "../train/images" next to a
// data.yaml that already sits in the dataset root, so Ultralytics retries without the "../".
std::string resolve_split_source(const fs::path& root, const std::string& entry) {
  fs::path p = fs::path(entry);
  if (p.is_relative()) p = root / p;
  if (!fs::exists(p) && entry.rfind("../", 0) == 0) {
    const fs::path retry = root / entry.substr(3);
    if (fs::exists(retry)) p = retry;
  }
  return p.lexically_normal().string();
}

void collect_images_from_folder(const fs::path& dir, std::vector<std::string>& out) {
  for (const auto& entry : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink)) {
    if (entry.is_regular_file() && has_image_extension(entry.path())) out.push_back(entry.path().string());
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

std::vector<std::string> split_whitespace(const std::string& line) {
  std::vector<std::string> tokens;
  std::istringstream in(line);
  std::string t;
  while (in >> t) tokens.push_back(t);
  return tokens;
}

// Tolerance for coordinates a hair outside [0,1] (float formatting in exporters); they are clipped.
constexpr double kCoordSlack = 1e-6;

// Parses one row into `label`; returns false (and records why) when the row must be dropped.
bool parse_label_row(const std::vector<std::string>& tokens, int num_classes, const std::string& file, int line_no,
                     YoloLabel& label, std::vector<DatasetIssue>& issues) {
  auto report = [&](IssueKind kind, const std::string& msg) {
    issues.push_back({file, line_no, kind, msg});
    return false;
  };
  const size_t n = tokens.size();
  const bool is_box = n == 5;
  const bool is_polygon = n >= 7 && (n - 1) % 2 == 0;
  if (!is_box && !is_polygon)
    return report(IssueKind::BadRow, "expected 'class cx cy w h' (5 values) or a polygon, got " +
                                         std::to_string(n) + " values");
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i)
    if (!parse_double(tokens[i], v[i])) return report(IssueKind::BadRow, "'" + tokens[i] + "' is not a number");

  if (v[0] < 0 || v[0] != std::floor(v[0]))
    return report(IssueKind::BadClass, "class '" + tokens[0] + "' is not a non-negative integer");
  label.cls = static_cast<int>(v[0]);
  if (num_classes > 0 && label.cls >= num_classes)
    return report(IssueKind::BadClass, "class " + std::to_string(label.cls) + " >= " + std::to_string(num_classes) +
                                           " names");

  for (size_t i = 1; i < n; ++i) {
    if (v[i] < -kCoordSlack || v[i] > 1 + kCoordSlack)
      return report(IssueKind::OutOfBounds, "value " + tokens[i] + " (column " + std::to_string(i + 1) +
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

// ---- COCO json ------------------------------------------------------------------------------

// Field access that names the file, the entry and the field in every error.
struct JsonWhere {
  const std::string& source;
  std::string entry;  // "annotations[17]"
  std::string operator()(const std::string& msg) const { return source + ": " + entry + ": " + msg; }
};

const json& require_field(const json& obj, const char* field, const JsonWhere& where) {
  if (!obj.is_object()) throw Error(where("is not an object"));
  auto it = obj.find(field);
  if (it == obj.end()) throw Error(where(std::string("missing field '") + field + "'"));
  return *it;
}

int64_t as_id(const json& v, const char* field, const JsonWhere& where) {
  if (!v.is_number_integer()) throw Error(where(std::string("field '") + field + "' must be an integer"));
  return v.get<int64_t>();
}

double as_number(const json& v, const char* field, const JsonWhere& where) {
  if (!v.is_number()) throw Error(where(std::string("field '") + field + "' must be a number"));
  return v.get<double>();
}

const json& require_array(const json& root, const char* field, const std::string& source) {
  auto it = root.find(field);
  if (it == root.end()) throw Error(source + ": missing field '" + field + "'");
  if (!it->is_array()) throw Error(source + ": field '" + field + "' must be an array");
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

DataYaml load_data_yaml(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error("cannot open data file '" + path + "'");
  } catch (const YAML::Exception& e) {
    throw Error(path + ": invalid YAML: " + e.what());
  }
  if (!root.IsMap()) throw Error(path + ": expected a mapping with 'names' and splits");

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
        throw Error(path + ": format: '" + format + "' is not yolo, coco or voc");
    }
    bool any_json = false, any_imagesets = false;
    for (const char* split : {"train", "val", "test", "minival"}) {
      const YAML::Node node = root[split];
      if (!node || node.IsNull()) continue;
      std::vector<std::string> sources;
      if (node.IsMap()) {  // COCO: {json: ..., images: ...}
        const YAML::Node j = node["json"] ? node["json"] : node["annotations"];
        if (!j) throw Error(path + ": " + split + ": a mapping needs 'json' (the COCO annotation file) and 'images'");
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
      throw Error(path + ": missing field 'names'");
    }
    if (root["nc"] && root["names"] && root["nc"].as<int>() != static_cast<int>(data.names.size()))
      throw Error(path + ": nc is " + root["nc"].as<std::string>() + " but 'names' has " +
                  std::to_string(data.names.size()) + " entries");
  } catch (const YAML::Exception& e) {
    throw Error(path + ": " + e.what());
  }
  if (data.format != DataFormat::Yolo) resolve_dataset_names(data);
  return data;
}

std::vector<std::string> list_split_images(const DataYaml& data, const std::string& split) {
  auto it = data.splits.find(split);
  if (it == data.splits.end()) {
    std::string have;
    for (const auto& kv : data.splits) have += (have.empty() ? "" : ", ") + kv.first;
    throw Error(data.yaml_path + ": no '" + split + "' split" + (have.empty() ? "" : " (has: " + have + ")"));
  }
  std::vector<std::string> images;
  for (const std::string& source : it->second) {
    const fs::path p(source);
    if (fs::is_directory(p)) {
      collect_images_from_folder(p, images);
    } else if (fs::is_regular_file(p) && lower(p.extension().string()) == ".txt") {
      collect_images_from_list(p, images);
    } else if (fs::is_regular_file(p)) {
      images.push_back(p.string());
    } else {
      throw Error(data.yaml_path + ": " + split + ": '" + source + "' does not exist");
    }
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

bool read_yolo_label_file(const std::string& label_path, int num_classes, std::vector<YoloLabel>& labels,
                          std::vector<DatasetIssue>& issues) {
  labels.clear();
  std::ifstream in(label_path);
  if (!in) return false;
  std::set<std::vector<std::string>> seen;  // duplicate detection on the raw tokens
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::vector<std::string> tokens = split_whitespace(line);
    if (tokens.empty()) continue;
    YoloLabel label;
    if (!parse_label_row(tokens, num_classes, label_path, line_no, label, issues)) continue;
    if (!seen.insert(tokens).second) {
      issues.push_back({label_path, line_no, IssueKind::Duplicate, "duplicate row (kept once)"});
      continue;
    }
    labels.push_back(label);
  }
  return true;
}

YoloSplit load_yolo_split(const DataYaml& data, const std::string& split) {
  YoloSplit out;
  out.names = data.names;
  const int nc = static_cast<int>(data.names.size());
  for (const std::string& image : list_split_images(data, split)) {
    YoloSample s;
    s.image = image;
    s.label = image_to_label_path(image);
    s.has_label_file = read_yolo_label_file(s.label, nc, s.labels, out.issues);
    if (!s.has_label_file) ++out.missing_label_files;
    out.samples.push_back(std::move(s));
  }
  return out;
}

void yolo_to_pixel_xywh(const YoloLabel& label, ImageSize size, double xywh[4]) {
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
  } catch (const json::parse_error& e) {
    throw Error(source + ": invalid JSON: " + e.what());
  }
  if (!root.is_object()) throw Error(source + ": expected a COCO object with images, annotations, categories");

  CocoDataset data;
  data.source = source;

  const json& images = require_array(root, "images", source);
  data.images.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const JsonWhere where{source, "images[" + std::to_string(i) + "]"};
    const json& im = images[i];
    CocoImage img;
    img.id = as_id(require_field(im, "id", where), "id", where);
    if (auto f = im.find("file_name"); f != im.end() && f->is_string()) img.file_name = f->get<std::string>();
    if (auto w = im.find("width"); w != im.end() && w->is_number()) img.width = w->get<int>();
    if (auto h = im.find("height"); h != im.end() && h->is_number()) img.height = h->get<int>();
    data.images.push_back(std::move(img));
  }

  const json& categories = require_array(root, "categories", source);
  for (size_t k = 0; k < categories.size(); ++k) {
    const JsonWhere where{source, "categories[" + std::to_string(k) + "]"};
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
  std::vector<int> lines;
  if (issues) {
    lines = json_array_element_lines(text, "annotations");
    if (lines.size() != anns.size()) lines.clear();  // the scanner disagrees: report indices only
  }
  std::unordered_map<int64_t, size_t> seen_ids;
  int defaulted_area = 0, defaulted_crowd = 0;
  for (size_t i = 0; i < anns.size(); ++i) {
    const JsonWhere where{source, "annotations[" + std::to_string(i) + "]"};
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
      // The message is "<source>: annotations[i]: <what>"; keep <what>.
      std::string what = e.what();
      const std::string prefix = where("");
      if (what.rfind(prefix, 0) == 0) what = what.substr(prefix.size());
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

CocoDataset coco_from_yolo(const YoloSplit& split, const std::vector<ImageSize>& sizes) {
  if (sizes.size() != split.samples.size())
    throw Error("coco_from_yolo: " + std::to_string(sizes.size()) + " image sizes for " +
                std::to_string(split.samples.size()) + " images");
  CocoDataset data;
  data.source = "yolo labels";
  for (size_t k = 0; k < split.names.size(); ++k)
    data.categories.push_back({static_cast<int64_t>(k), split.names[k]});
  int64_t next_ann_id = 1;  // never 0: pycocotools reads a matched gt id of 0 as "unmatched"
  for (size_t i = 0; i < split.samples.size(); ++i) {
    const YoloSample& s = split.samples[i];
    CocoImage img;
    img.id = static_cast<int64_t>(i);
    img.file_name = s.image;
    img.width = sizes[i].width;
    img.height = sizes[i].height;
    data.images.push_back(img);
    for (const auto* list : {&s.labels, &s.ignored})
      for (const YoloLabel& l : *list) {
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
  if (!images_dir.empty()) {
    if (!fs::is_directory(images_dir)) throw Error("images folder '" + images_dir + "' does not exist");
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
    if (fs::exists(c / first)) return c.lexically_normal().string();
  std::string tried;
  for (const fs::path& c : candidates) tried += "\n  " + (c / first).lexically_normal().string();
  throw Error(data.source + ": cannot find image '" + first + "'; tried:" + tried + "\n(pass images=DIR)");
}

}  // namespace yolonas
