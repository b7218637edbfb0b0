// COCO json and Pascal VOC datasets read into the YOLO split the loader, the trainer and check-data
// use; open_dataset() for data= of any kind. See dataset.h.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <opencv2/imgcodecs.hpp>

#include "yolonas/data/dataset.h"
#include "yolonas/core/error.h"
#include "yolonas/core/files.h"
#include "yolonas/core/text.h"
#include "yolonas/data/voc.h"

namespace fs = std::filesystem;

namespace yolonas {

const char* data_format_name(DataFormat format) {
  switch (format) {
    case DataFormat::Yolo: return "yolo";
    case DataFormat::Coco: return "coco";
    case DataFormat::Voc: return "voc";
  }
  return "unknown";
}

namespace {

std::string fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// The size of an image whose annotation file does not record it (from a JPEG's header, else by
// decoding it; without EXIF rotation either way, as cv::IMREAD_UNCHANGED). {0, 0} when it cannot be
// read: check-data reports the image itself.
ImageSize read_image_size(const std::string& path) {
  if (!file_problem(path).empty()) return {};  // cv::imread would wait forever on a FIFO
  int w = 0, h = 0;
  if (read_jpeg_size(path, w, h)) return {w, h};
  const cv::Mat im = cv::imread(path, cv::IMREAD_UNCHANGED);
  return im.empty() ? ImageSize{} : ImageSize{im.cols, im.rows};
}

// Adds a pixel box (x1, y1, x2, y2 in 0-based pixel coordinates) of class `cls` to a sample,
// normalized by its size, with the checks every format shares. `where` prefixes messages
// ("object 'dog'", "annotations[17] (id 5)"); returns false when the box is dropped.
struct BoxAdder {
  LabeledImage& sample;
  std::vector<DatasetIssue>& issues;
  std::set<std::vector<long long>> seen;  // (ignored?, class, box in 1/100 px) per image

  bool add(int cls, double x1, double y1, double x2, double y2, bool ignored, const std::string& file, int line,
           const std::string& where) {
    const double W = sample.size.width, H = sample.size.height;
    auto report = [&](IssueKind kind, const std::string& msg) { issues.push_back({file, line, kind, where + ": " + msg}); };
    const std::string box = "x " + fmt(x1) + ".." + fmt(x2) + ", y " + fmt(y1) + ".." + fmt(y2);
    if (!(x2 > x1) || !(y2 > y1)) {
      report(IssueKind::ZeroSize, "box has zero or negative width or height (" + box + ")");
      return false;
    }
    if (W <= 0 || H <= 0) return false;  // unreadable image without a recorded size: reported elsewhere
    const double cx1 = std::clamp(x1, 0.0, W), cx2 = std::clamp(x2, 0.0, W);
    const double cy1 = std::clamp(y1, 0.0, H), cy2 = std::clamp(y2, 0.0, H);
    const std::string size = std::to_string(sample.size.width) + "x" + std::to_string(sample.size.height);
    if (cx2 <= cx1 || cy2 <= cy1) {
      report(IssueKind::OutOfBounds, "box " + box + " lies outside the " + size + " image");
      return false;
    }
    // Up to a pixel past the border is rounding (VOC's 1-based corners, float exports): clipped silently.
    constexpr double kTolPx = 1.0;
    if (x1 < -kTolPx || y1 < -kTolPx || x2 > W + kTolPx || y2 > H + kTolPx)
      report(IssueKind::BoxOutsideImage, "box " + box + " reaches past the " + size + " image; it is clipped");
    const std::vector<long long> key = {ignored, cls, std::llround(cx1 * 100), std::llround(cy1 * 100),
                                        std::llround(cx2 * 100), std::llround(cy2 * 100)};
    if (!seen.insert(key).second) {
      report(IssueKind::Duplicate, "the same box twice in one image (kept once)");
      return false;
    }
    BoxLabel l;
    l.cls = cls;
    l.cx = (cx1 + cx2) / 2 / W, l.cy = (cy1 + cy2) / 2 / H;
    l.w = (cx2 - cx1) / W, l.h = (cy2 - cy1) / H;
    l.line = line;
    (ignored ? sample.ignored : sample.labels).push_back(l);
    return true;
  }
};

// ---- COCO -------------------------------------------------------------------------------------

// The parsed json of a split, read tolerantly (bad annotations in `notes`); open_dataset() keeps
// it in the DataYaml so that a big json is parsed once.
std::shared_ptr<const CocoDataset> coco_split_json(const DataYaml& data, const std::string& split) {
  auto it = data.coco.find(split);
  if (it != data.coco.end()) return it->second;
  const std::vector<std::string>& sources = data.splits.at(split);
  if (sources.size() != 1)
    throw Error(clip(data.yaml_path) + ": " + split + ": a COCO split is one json file (got " +
                std::to_string(sources.size()) + " entries)");
  const std::string& path = sources.front();
  if (const std::string problem = file_problem(path); !problem.empty())
    throw Error(clip(data.yaml_path) + ": " + split + ": '" + clip(path) + "' " + problem);
  std::vector<DatasetIssue> issues;
  auto ds = std::make_shared<CocoDataset>(load_coco_json(path, &issues));
  issues.insert(issues.end(), ds->notes.begin(), ds->notes.end());
  ds->notes = std::move(issues);
  return ds;
}

std::string describe_categories(const CocoDataset& d) {
  std::string s;
  for (size_t k = 0; k < d.categories.size() && k < 8; ++k)
    s += (k ? ", " : "") + std::to_string(d.categories[k].id) + ":" + clip(d.categories[k].name, 40);
  if (d.categories.size() > 8) s += ", ...";
  return s;
}

void resolve_coco_names(DataYaml& data) {
  std::string first_split;
  std::shared_ptr<const CocoDataset> first;
  for (const auto& [split, sources] : data.splits) {
    (void)sources;
    auto ds = coco_split_json(data, split);
    data.coco[split] = ds;
    if (!first) {
      first = ds, first_split = split;
      continue;
    }
    bool same = ds->categories.size() == first->categories.size();
    for (size_t k = 0; same && k < ds->categories.size(); ++k)
      same = ds->categories[k].id == first->categories[k].id && ds->categories[k].name == first->categories[k].name;
    if (!same)
      throw Error(clip(data.yaml_path) + ": the categories of '" + split + "' (" + clip(data.splits.at(split).front()) + ": " +
                  describe_categories(*ds) + ") differ from those of '" + first_split + "' (" +
                  describe_categories(*first) + "); class indices would not agree");
  }
  if (!first) throw Error(data.yaml_path + ": no split (train/val/test)");
  const std::vector<std::string> json_names = first->names();
  if (data.names.empty()) {
    data.names = json_names;
  } else if (data.names.size() != json_names.size()) {
    throw Error(clip(data.yaml_path) + ": 'names' has " + std::to_string(data.names.size()) + " entries but the COCO json has " +
                std::to_string(json_names.size()) + " categories");
  }
  if (data.names.empty()) throw Error(clip(data.yaml_path) + ": the COCO json has no categories");
}

DataSplit load_coco_split(const DataYaml& data, const std::string& split) {
  const auto ds = coco_split_json(data, split);
  const std::string json_path = data.splits.at(split).front();
  auto dir = data.image_dirs.find(split);
  const std::string root = resolve_coco_image_root(*ds, json_path, dir == data.image_dirs.end() ? "" : dir->second);

  DataSplit out;
  out.format = DataFormat::Coco;
  out.names = data.names;
  out.issues = ds->notes;
  std::vector<std::vector<const CocoAnnotation*>> anns_of(ds->images.size());
  for (const CocoAnnotation& a : ds->annotations) anns_of[static_cast<size_t>(ds->image_index(a.image_id))].push_back(&a);
  int measured = 0;
  for (size_t i = 0; i < ds->images.size(); ++i) {
    const CocoImage& im = ds->images[i];
    LabeledImage s;
    s.image = (fs::path(root) / im.file_name).lexically_normal().string();
    s.label = json_path;
    s.has_label_file = true;
    s.image_id = im.id;
    s.size = {im.width, im.height};
    if (s.size.width <= 0 || s.size.height <= 0) {
      s.size = read_image_size(s.image);
      ++measured;
    }
    BoxAdder adder{s, out.issues, {}};
    for (const CocoAnnotation* a : anns_of[i]) {
      const std::string where = "annotation id " + std::to_string(a->id) + " of '" + clip(im.file_name) + "'";
      adder.add(ds->class_index(a->category_id), a->bbox[0], a->bbox[1], a->bbox[0] + a->bbox[2],
                a->bbox[1] + a->bbox[3], a->iscrowd, json_path, a->line, where);
    }
    out.samples.push_back(std::move(s));
  }
  if (measured > 0)
    out.issues.push_back({json_path, 0, IssueKind::DefaultedField,
                          std::to_string(measured) + " images have no width/height in the json: read from the files"});
  return out;
}

// ---- VOC --------------------------------------------------------------------------------------

// <root>/JPEGImages/<id>.<ext>: the first image extension that exists (lower, then upper case);
// <id>.jpg when none does (reported later as a missing image).
fs::path voc_image_path(const fs::path& voc_root, const std::string& id) {
  std::error_code ec;
  for (const std::string& ext : image_extensions())
    for (const std::string& e : {ext, upper(ext)}) {
      const fs::path p = voc_root / "JPEGImages" / (id + e);
      if (fs::exists(p, ec)) return p;
    }
  return voc_root / "JPEGImages" / (id + ".jpg");
}

// The folder holding ImageSets when `list` lies inside one ("" otherwise).
fs::path imagesets_root(const fs::path& list) {
  for (fs::path p = fs::absolute(list).parent_path(); p.has_relative_path(); p = p.parent_path())
    if (p.filename() == "ImageSets") return p.parent_path();
  return {};
}

struct VocEntry {
  std::string image, xml;  // xml "" when none was found
};

// The (image, xml) pairs of one split, sorted by image, duplicates removed.
std::vector<VocEntry> voc_entries(const DataYaml& data, const std::string& split) {
  auto it = data.splits.find(split);
  if (it == data.splits.end()) throw Error(clip(data.yaml_path) + ": no '" + clip(split) + "' split");
  std::vector<VocEntry> out;
  std::error_code ec;  // exists(): a name too long for the system is "not found"
  for (const std::string& source : it->second) {
    const fs::path p(source);
    const fs::path voc_root = fs::is_regular_file(p, ec) && p.extension() == ".txt" ? imagesets_root(p) : fs::path();
    if (!voc_root.empty()) {
      std::istringstream in(read_text_file(source, "VOC image set"));
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string id;
        if (!(ls >> id)) continue;
        // Class lists ("2008_000008 -1") name every image; the flag is about one class only.
        const fs::path image = voc_image_path(voc_root, id);
        const fs::path xml = voc_root / "Annotations" / (id + ".xml");
        out.push_back({image.lexically_normal().string(), fs::exists(xml, ec) ? xml.lexically_normal().string() : ""});
      }
      continue;
    }
    // Folders and image lists, as in the YOLO format; the xml is found beside or in a parallel folder.
    DataYaml one = data;
    one.splits = {{split, {source}}};
    for (const std::string& image : list_split_images(one, split)) out.push_back({image, voc_xml_path(image)});
  }
  std::sort(out.begin(), out.end(), [](const VocEntry& a, const VocEntry& b) { return a.image < b.image; });
  out.erase(std::unique(out.begin(), out.end(), [](const VocEntry& a, const VocEntry& b) { return a.image == b.image; }),
            out.end());
  return out;
}

// Turns a thrown "path:line: what" from the xml reader into an issue with that line.
DatasetIssue xml_error_issue(const std::string& path, const std::string& message) {
  DatasetIssue is{path, 0, IssueKind::BadRow, message};
  const std::string prefix = clip(path) + ":";  // the xml reader clips the paths it names
  if (message.rfind(prefix, 0) == 0) {
    const std::string rest = message.substr(prefix.size());
    size_t digits = 0;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
    if (digits > 0 && digits <= 9 && digits < rest.size() && rest[digits] == ':') {
      is.line = std::stoi(rest.substr(0, digits));
      is.message = rest.substr(digits + 1);
      while (!is.message.empty() && is.message.front() == ' ') is.message.erase(0, 1);
    } else {
      is.message = rest;
    }
  }
  if (is.message.rfind("cannot open ", 0) != 0) is.message = "not a valid VOC annotation: " + is.message;
  return is;
}

void resolve_voc_names(DataYaml& data) {
  if (!data.names.empty()) return;
  std::set<std::string> found;
  for (const auto& [split, sources] : data.splits) {
    (void)sources;
    for (const VocEntry& e : voc_entries(data, split)) {
      if (e.xml.empty()) continue;
      std::vector<DatasetIssue> ignore;
      try {
        for (const VocObject& o : read_voc_xml(e.xml, ignore).objects) found.insert(o.name);
      } catch (const Error&) {
        // Reported when the split is loaded.
      }
    }
  }
  const std::vector<std::string>& voc = voc_class_names();
  const bool all_voc = std::all_of(found.begin(), found.end(), [&](const std::string& n) {
    return std::find(voc.begin(), voc.end(), n) != voc.end();
  });
  data.names = all_voc ? voc : std::vector<std::string>(found.begin(), found.end());
}

DataSplit load_voc_split(const DataYaml& data, const std::string& split) {
  DataSplit out;
  out.format = DataFormat::Voc;
  out.names = data.names;
  std::map<std::string, int> class_of;
  for (size_t k = 0; k < data.names.size(); ++k) class_of.emplace(data.names[k], static_cast<int>(k));
  int measured = 0;
  std::string measured_example;
  for (const VocEntry& e : voc_entries(data, split)) {
    LabeledImage s;
    s.image = e.image;
    s.label = e.xml;
    s.has_label_file = !e.xml.empty();
    if (!s.has_label_file) {
      ++out.missing_label_files;
      out.issues.push_back({e.image, 0, IssueKind::MissingLabel, "no VOC xml for this image: used as a background image"});
      out.samples.push_back(std::move(s));
      continue;
    }
    VocAnnotation ann;
    try {
      ann = read_voc_xml(e.xml, out.issues);
    } catch (const Error& err) {
      out.issues.push_back(xml_error_issue(e.xml, err.what()));
      continue;  // the image is left out: its objects are unknown, so it is no background image either
    }
    s.size = {ann.width, ann.height};
    if (s.size.width <= 0 || s.size.height <= 0) {
      s.size = read_image_size(s.image);
      if (measured++ == 0) measured_example = e.xml;
    }
    BoxAdder adder{s, out.issues, {}};
    for (const VocObject& o : ann.objects) {
      const std::string where = "object '" + clip(o.name) + "'";
      auto c = class_of.find(o.name);
      if (c == class_of.end()) {
        std::string known;
        for (size_t k = 0; k < data.names.size() && k < 6; ++k) known += (k ? ", " : "") + clip(data.names[k], 40);
        if (data.names.size() > 6) known += ", ...";
        out.issues.push_back({e.xml, o.line, IssueKind::BadClass,
                              where + ": unknown class (names: " + known + "; list every class under 'names' in a data.yaml)"});
        continue;
      }
      // VOC corners are 1-based pixel indices: the box spans xmin-1 .. xmax-1 in 0-based pixels (as
      // Ultralytics' and SG's VOC conversions compute it).
      adder.add(c->second, o.xmin - 1, o.ymin - 1, o.xmax - 1, o.ymax - 1, o.difficult, e.xml, o.line, where);
    }
    out.samples.push_back(std::move(s));
  }
  if (measured > 0)
    out.issues.push_back({measured_example, 0, IssueKind::DefaultedField,
                          std::to_string(measured) + " xml files (this one among them) have no <size>: read from the images"});
  return out;
}

// ---- open_dataset helpers --------------------------------------------------------------------

std::string split_of_name(const std::string& stem) {
  const std::string s = lower(stem);
  if (s.find("train") != std::string::npos) return "train";
  if (s.find("test") != std::string::npos) return "test";
  if (s.find("val") != std::string::npos) return "val";
  return "";
}

// A dataset given as a folder: its paths and format; the splits are the caller's.
DataYaml folder_dataset(const fs::path& dir, DataFormat format) {
  DataYaml data;
  data.yaml_path = dir.string();
  data.root = dir.string();
  data.format = format;
  return data;
}

bool is_voc_root(const fs::path& dir) { return fs::is_directory(dir / "ImageSets" / "Main"); }

DataYaml voc_folder(const fs::path& dir) {
  DataYaml data = folder_dataset(dir, DataFormat::Voc);
  std::vector<fs::path> roots;
  if (is_voc_root(dir)) {
    roots.push_back(dir);
  } else {  // VOCdevkit: VOC2007, VOC2012, ...
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && is_voc_root(e.path())) roots.push_back(e.path());
    std::sort(roots.begin(), roots.end());
  }
  auto list = [](const fs::path& root, const char* name) { return root / "ImageSets" / "Main" / (std::string(name) + ".txt"); };
  bool any_test = false;
  for (const fs::path& r : roots) any_test = any_test || fs::exists(list(r, "test"));
  for (const fs::path& r : roots) {
    auto add = [&](const char* split, const fs::path& l) { data.splits[split].push_back(l.string()); };
    const bool train = fs::exists(list(r, "train")), trainval = fs::exists(list(r, "trainval"));
    const bool val = fs::exists(list(r, "val")), test = fs::exists(list(r, "test"));
    if (roots.size() > 1 && any_test) {  // 07+12: train on every trainval, validate on the test lists
      if (trainval) add("train", list(r, "trainval"));
      if (test) add("val", list(r, "test"));
      continue;
    }
    if (train && val) {
      add("train", list(r, "train"));
      add("val", list(r, "val"));
      if (test) add("test", list(r, "test"));
    } else {
      if (trainval) add("train", list(r, "trainval"));
      else if (train) add("train", list(r, "train"));
      if (test) add("val", list(r, "test"));
      else if (val) add("val", list(r, "val"));
    }
  }
  if (data.splits.empty())
    throw Error(clip(dir.string()) + ": a VOC folder, but ImageSets/Main has no train.txt, trainval.txt, val.txt or test.txt");
  return data;
}

// Roboflow's "COCO JSON" export: train/, valid/, test/ each with _annotations.coco.json beside the images.
bool is_roboflow_coco(const fs::path& dir) {
  for (const char* sub : {"train", "valid", "val", "test"})
    if (fs::is_regular_file(dir / sub / "_annotations.coco.json")) return true;
  return false;
}

DataYaml roboflow_coco_folder(const fs::path& dir) {
  DataYaml data = folder_dataset(dir, DataFormat::Coco);
  for (const char* sub : {"train", "valid", "val", "test"}) {
    const fs::path json = dir / sub / "_annotations.coco.json";
    if (!fs::is_regular_file(json)) continue;
    const std::string split = std::string(sub) == "valid" ? "val" : sub;
    if (data.splits.count(split))
      throw Error(clip(dir.string()) + ": both valid/ and val/ hold a COCO json: write a data.yaml naming the one to use");
    data.splits[split] = {json.string()};
    data.image_dirs[split] = (dir / sub).string();
  }
  return data;
}

DataYaml coco_folder(const fs::path& dir) {
  DataYaml data = folder_dataset(dir, DataFormat::Coco);
  for (const auto& e : fs::directory_iterator(dir / "annotations")) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.rfind("instances_", 0) != 0 || e.path().extension() != ".json") continue;
    const std::string split = split_of_name(e.path().stem().string().substr(10));
    if (split.empty()) continue;
    auto& sources = data.splits[split];
    if (!sources.empty())
      throw Error(clip(dir.string()) + ": two COCO json files for the '" + split + "' split (" + clip(sources.front()) + ", " +
                  clip(e.path().string()) + "): write a data.yaml naming the ones to use");
    sources.push_back(e.path().string());
  }
  if (data.splits.empty())
    throw Error(clip(dir.string()) + ": annotations/ has no instances_<split>*.json with train, val or test in its name");
  return data;
}

}  // namespace

std::string voc_xml_path(const std::string& image_path) {
  const fs::path img(image_path);
  fs::path beside = img;
  beside.replace_extension(".xml");
  std::error_code ec;  // a name too long for the system is "not found"
  if (fs::exists(beside, ec)) return beside.string();
  for (const char* from : {"/JPEGImages/", "/images/"})
    for (const char* to : {"/Annotations/", "/annotations/", "/labels/"}) {
      std::string p = image_path;
      const size_t pos = p.rfind(from);
      if (pos == std::string::npos) continue;
      p.replace(pos, std::strlen(from), to);
      fs::path x(p);
      x.replace_extension(".xml");
      if (fs::exists(x, ec)) return x.string();
    }
  return "";
}

void resolve_dataset_names(DataYaml& data) {
  if (data.format == DataFormat::Coco) resolve_coco_names(data);
  else if (data.format == DataFormat::Voc) resolve_voc_names(data);
}

namespace {

DataYaml open_dataset_impl(const std::string& arg) {
  const fs::path p(arg);
  if (arg.empty()) throw Error("data= is empty: give a data.yaml, a COCO or VOC dataset folder, or a COCO json");
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    // Any data.yaml (a FIFO or a folder too): load_data_yaml() says what is wrong with it.
    if (fs::exists(fs::symlink_status(p / "data.yaml", ec))) return load_data_yaml((p / "data.yaml").string());
    DataYaml data;
    bool devkit = false;
    if (!is_voc_root(p) && fs::exists(p))
      for (const auto& e : fs::directory_iterator(p)) devkit = devkit || (e.is_directory() && is_voc_root(e.path()));
    if (is_voc_root(p) || devkit) data = voc_folder(p);
    else if (fs::is_directory(p / "annotations")) data = coco_folder(p);
    else if (is_roboflow_coco(p)) data = roboflow_coco_folder(p);
    else
      throw Error(clip(arg) + ": not a dataset folder: expected data.yaml (YOLO), annotations/instances_*.json or "
                        "train/_annotations.coco.json (COCO), or ImageSets/Main + Annotations + JPEGImages (Pascal VOC)");
    resolve_dataset_names(data);
    return data;
  }
  if (lower(p.extension().string()) == ".json") {
    if (const std::string problem = file_problem(arg); !problem.empty())
      throw Error("cannot open COCO json '" + clip(arg) + "': it " + problem);
    DataYaml data;
    data.yaml_path = arg;
    data.root = fs::absolute(p).parent_path().string();
    data.format = DataFormat::Coco;
    std::string split = split_of_name(p.stem().string());
    data.splits[split.empty() ? "val" : split] = {arg};
    resolve_dataset_names(data);
    return data;
  }
  if (!fs::exists(fs::symlink_status(p, ec))) throw Error("data=" + clip(arg) + ": no such file or folder");
  return load_data_yaml(arg);
}

}  // namespace

DataYaml open_dataset(const std::string& arg) {
  try {
    return open_dataset_impl(arg);
  } catch (const fs::filesystem_error& e) {
    throw filesystem_error_message("data=" + clip(arg), e);
  }
}

DataSplit load_split(const DataYaml& data, const std::string& split) {
  if (!data.splits.count(split)) {
    std::string have;
    for (const auto& kv : data.splits) have += (have.empty() ? "" : ", ") + kv.first;
    throw Error(clip(data.yaml_path) + ": no '" + clip(split) + "' split" + (have.empty() ? "" : " (has: " + have + ")"));
  }
  try {
    switch (data.format) {
      case DataFormat::Coco: return load_coco_split(data, split);
      case DataFormat::Voc: return load_voc_split(data, split);
      case DataFormat::Yolo: break;
    }
    return load_yolo_split(data, split);
  } catch (const fs::filesystem_error& e) {
    throw filesystem_error_message(clip(data.yaml_path) + ": " + split, e);
  }
}

}  // namespace yolonas
