// Dataset validation. See check_data.h.
#include "yolonas/data/check_data.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <sstream>
#include <thread>

#include <opencv2/imgcodecs.hpp>

#include "yolonas/core/error.h"
#include "yolonas/core/text.h"
#include "yolonas/core/progress.h"

namespace fs = std::filesystem;

namespace yolonas {

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

int DataReport::count(IssueKind kind) const {
  int n = 0;
  for (const DatasetIssue& p : problems)
    if (p.kind == kind) n += p.count;
  return n;
}

std::map<IssueKind, int> DataReport::counts() const {
  std::map<IssueKind, int> out;
  for (const DatasetIssue& p : problems) out[p.kind] += p.count;
  return out;
}

int DataReport::errors() const {
  int n = 0;
  for (const DatasetIssue& p : problems)
    if (issue_is_error(p.kind)) n += p.count;
  return n;
}

int DataReport::warnings() const {
  int n = 0;
  for (const DatasetIssue& p : problems)
    if (!issue_is_error(p.kind)) n += p.count;
  return n;
}

std::string DataReport::summary() const {
  std::ostringstream os;
  os << clip(data) << " (" << data_format_name(format) << "): " << names.size() << " classes";
  if (!names.empty()) {
    os << " (";
    for (size_t i = 0; i < names.size() && i < 10; ++i) os << (i ? ", " : "") << clip(names[i], 40);
    if (names.size() > 10) os << ", ...";
    os << ")";
  }
  os << "\n";
  // The ignored column only where a split has ignored boxes (crowd, difficult, ignore/).
  const bool any_ignored = std::any_of(splits.begin(), splits.end(), [](const SplitStats& s) { return s.ignored > 0; });
  os << std::left << std::setw(8) << "split" << std::right << std::setw(8) << "images" << std::setw(8) << "labels"
     << std::setw(12) << "background" << std::setw(9) << "boxes" << std::setw(12) << "bad images"
     << (any_ignored ? "     ignored" : "") << "\n";
  for (const SplitStats& s : splits) {
    os << std::left << std::setw(8) << s.split << std::right << std::setw(8) << s.images << std::setw(8)
       << s.label_files << std::setw(12) << s.background << std::setw(9) << s.boxes << std::setw(12) << s.bad_images;
    if (any_ignored) os << std::setw(12) << s.ignored;
    os << "\n";
  }
  const auto by_kind = counts();
  if (!by_kind.empty()) {
    os << "problems by kind:\n";
    for (const auto& [kind, n] : by_kind)
      os << "  " << std::left << std::setw(20) << issue_kind_name(kind) << std::right << std::setw(7) << n << "  "
         << (issue_is_error(kind) ? "error" : "warning") << "\n";
  }
  os << errors() << " error(s), " << warnings() << " warning(s)";
  return os.str();
}

std::string DataReport::details(size_t max_lines) const {
  std::ostringstream os;
  size_t n = 0;
  for (const DatasetIssue& p : problems) {
    if (max_lines > 0 && n == max_lines) {
      os << "... and " << problems.size() - n << " more\n";
      break;
    }
    os << p.str() << "\n";
    ++n;
  }
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

namespace {

std::string fmt(double v) {
  std::ostringstream os;
  os << std::setprecision(6) << v;
  return os.str();
}

// Checks the reader cannot make, on the rows it kept (its `labels`, with their lines): a box
// reaching past the image, and the same box written twice with different text (the reader drops
// rows repeated with the same text, so equal values here were written differently).
void check_label_geometry(const LabeledImage& sample, const std::string& split, std::vector<DatasetIssue>& out) {
  // Beyond this (in image fractions) a box is reported; smaller overshoots are float formatting.
  constexpr double kTol = 1e-3;
  std::map<std::array<long long, 5>, int> first_line;
  for (const BoxLabel& l : sample.labels) {
    const double x1 = l.cx - l.w / 2, x2 = l.cx + l.w / 2, y1 = l.cy - l.h / 2, y2 = l.cy + l.h / 2;
    if (x1 < -kTol || y1 < -kTol || x2 > 1 + kTol || y2 > 1 + kTol)
      out.push_back({sample.label, l.line, IssueKind::BoxOutsideImage,
                     "box spans x " + fmt(x1) + ".." + fmt(x2) + ", y " + fmt(y1) + ".." + fmt(y2) +
                         " (outside [0, 1]); it is clipped to the image",
                     split});
    const std::array<long long, 5> key = {l.cls, std::llround(l.cx * 1e6), std::llround(l.cy * 1e6),
                                          std::llround(l.w * 1e6), std::llround(l.h * 1e6)};
    const auto [it, fresh] = first_line.emplace(key, l.line);
    if (!fresh)
      out.push_back({sample.label, l.line, IssueKind::Duplicate,
                     "same box as line " + std::to_string(it->second) + " (written differently)", split});
  }
}

bool is_jpeg(const std::string& path) {
  const std::string ext = lower(fs::path(path).extension().string());
  return ext == ".jpg" || ext == ".jpeg";
}

enum class ImageStatus { Ok, Missing, NotAFile, Unreadable, TruncatedJpeg };

ImageStatus check_image(const std::string& path, bool decode) {
  std::error_code ec;
  const fs::file_type type = fs::status(path, ec).type();
  if (type == fs::file_type::not_found) return ImageStatus::Missing;
  if (type != fs::file_type::regular) return ImageStatus::NotAFile;  // reading a FIFO would block
  if (!decode) return ImageStatus::Ok;
  std::ifstream in(path, std::ios::binary);
  std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) return ImageStatus::Unreadable;
  cv::Mat img;
  try {
    img = cv::imdecode(bytes, cv::IMREAD_COLOR);
  } catch (const cv::Exception&) {
    return ImageStatus::Unreadable;
  }
  if (img.empty()) return ImageStatus::Unreadable;
  // Ultralytics' test: a complete JPEG ends with the EOI marker FF D9.
  if (is_jpeg(path) && (bytes.size() < 2 || bytes[bytes.size() - 2] != 0xFF || bytes.back() != 0xD9))
    return ImageStatus::TruncatedJpeg;
  return ImageStatus::Ok;
}

// Checks every image on `workers` threads; statuses in input order.
std::vector<ImageStatus> check_images(const std::vector<std::string>& paths, const CheckOptions& opt,
                                      const std::string& split) {
  std::vector<ImageStatus> status(paths.size(), ImageStatus::Ok);
  if (paths.empty()) return status;
  std::atomic<size_t> next{0}, done{0};
  auto work = [&] {
    for (size_t i = next++; i < paths.size(); i = next++) {
      status[i] = check_image(paths[i], opt.decode_images);
      ++done;
    }
  };
  const int n_threads = std::max(1, std::min<int>(opt.workers, static_cast<int>(paths.size())));
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t) threads.emplace_back(work);
  {
    Progress bar("check " + split, static_cast<int64_t>(paths.size()), opt.progress);
    while (done < paths.size()) {
      bar.update(static_cast<int64_t>(done));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    bar.update(static_cast<int64_t>(done));
    bar.finish();
  }
  for (std::thread& t : threads) t.join();
  return status;
}

// Where a split's label files live: the label folder of every image, and for a folder source its
// images/ -> labels/ counterpart (searched recursively, so that label files of images that are gone
// are found too).
void label_folders(const DataYaml& data, const std::string& split, const DataSplit& ys, std::set<std::string>& flat,
                   std::set<std::string>& recursive) {
  for (const LabeledImage& s : ys.samples) flat.insert(fs::path(s.label).parent_path().string());
  for (const std::string& src : data.splits.at(split)) {
    std::error_code ec;
    if (!fs::is_directory(src, ec)) continue;
    std::string p = src;
    while (!p.empty() && p.back() == '/') p.pop_back();
    p += "/";
    const size_t pos = p.rfind("/images/");
    if (pos == std::string::npos) continue;
    p.replace(pos, 8, "/labels/");
    if (fs::is_directory(p, ec)) recursive.insert(fs::path(p).lexically_normal().string());
  }
}

// Best effort: a folder that cannot be listed (further) ends its scan; symlinked folders are not
// followed, so a symlink loop is not walked.
void collect_txt(const std::string& dir, bool recursive, std::set<std::string>& out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  auto take = [&](const fs::directory_entry& e) {
    std::error_code e_ec;
    if (e.is_regular_file(e_ec) && e.path().extension() == ".txt") out.insert(e.path().lexically_normal().string());
  };
  if (recursive) {
    const fs::recursive_directory_iterator end;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec); !ec && it != end;
         it.increment(ec))
      take(*it);
  } else {
    const fs::directory_iterator end;
    for (fs::directory_iterator it(dir, ec); !ec && it != end; it.increment(ec)) take(*it);
  }
}

// At most kMaxIssuesPerKind problems of one kind per file (sorted by file and line); the rest become
// one summary entry carrying their count, so that a label file of a million bad rows prints a few
// dozen lines.
void limit_per_file(std::vector<DatasetIssue>& problems) {
  std::map<std::pair<std::string, IssueKind>, int> listed;
  for (const DatasetIssue& p : problems) ++listed[{p.file, p.kind}];
  if (std::all_of(listed.begin(), listed.end(), [](const auto& kv) { return kv.second <= kMaxIssuesPerKind; })) return;
  listed.clear();
  std::map<std::pair<std::string, IssueKind>, std::vector<DatasetIssue>> extra;
  std::vector<DatasetIssue> kept;
  for (DatasetIssue& p : problems) {
    const auto key = std::make_pair(p.file, p.kind);
    if (listed[key]++ < kMaxIssuesPerKind) kept.push_back(std::move(p));
    else extra[key].push_back(std::move(p));
  }
  for (auto& [key, more] : extra) {
    if (more.size() == 1) {  // a summary from the reader, or one problem: nothing to gain
      kept.push_back(std::move(more.front()));
      continue;
    }
    DatasetIssue sum = more.front();
    sum.count = 0;
    for (const DatasetIssue& p : more) sum.count += p.count;
    sum.message = "... and " + std::to_string(sum.count) + " more " + issue_kind_name(key.second) +
                  " problems in this file (lines " + std::to_string(more.front().line) + ".." +
                  std::to_string(more.back().line) + "), not listed";
    kept.push_back(std::move(sum));
  }
  std::stable_sort(kept.begin(), kept.end(), [](const DatasetIssue& a, const DatasetIssue& b) {
    return a.file != b.file ? a.file < b.file : a.line < b.line;
  });
  problems = std::move(kept);
}

const std::vector<std::string>& split_order() {
  static const std::vector<std::string> order = {"train", "val", "test", "minival"};
  return order;
}

}  // namespace

namespace {

DataReport check_splits(const DataYaml& data, const std::vector<std::string>& splits_in, const CheckOptions& opt,
                        std::map<std::string, DataSplit>* loaded) {
  DataReport rep;
  rep.data = data.yaml_path;
  rep.format = data.format;
  rep.names = data.names;
  const bool yolo = data.format == DataFormat::Yolo;
  std::vector<std::string> splits = splits_in;
  if (splits.empty())
    for (const std::string& s : split_order())
      if (data.splits.count(s)) splits.push_back(s);
  if (splits.empty()) throw Error(clip(data.yaml_path) + ": no split (train/val/test) to check");

  const int nc = static_cast<int>(data.names.size());
  // A file shared by several splits (val pointing at train, .txt lists over one folder) is checked
  // and reported once; the overlap itself is one warning per pair of splits.
  std::map<std::string, std::string> split_of_image;
  std::map<std::string, ImageStatus> image_status;
  std::set<std::string> checked_labels;
  std::set<std::string> expected_labels, flat_dirs, recursive_dirs, split_sources;

  for (const std::string& split : splits) {
    DataSplit ys = load_split(data, split);  // throws when the split or a source is missing
    for (const std::string& src : data.splits.at(split)) split_sources.insert(fs::path(src).lexically_normal().string());
    SplitStats st;
    st.split = split;
    st.images = static_cast<int>(ys.samples.size());
    st.boxes_per_class.assign(static_cast<size_t>(std::max(nc, 0)), 0);
    std::vector<DatasetIssue> found;

    if (ys.samples.empty())
      found.push_back({data.yaml_path, 0, IssueKind::EmptySplit, "split '" + split + "' has no images", split});

    // Label rows: the reader's findings, plus geometry / textual duplicates.
    for (const DatasetIssue& is : ys.issues) {
      // A YOLO label file or a VOC xml shared by two splits is reported once; a COCO json is one
      // file per split.
      if (!yolo || !checked_labels.count(is.file)) {
        found.push_back(is);
        found.back().split = split;
      }
      // A label file the reader could not use left its image out; it is no label without an image.
      if (yolo) expected_labels.insert(fs::path(is.file).lexically_normal().string());
    }
    for (const LabeledImage& s : ys.samples) {
      expected_labels.insert(fs::path(s.label).lexically_normal().string());
      if (s.has_label_file) {
        ++st.label_files;
        if (yolo && checked_labels.insert(s.label).second) check_label_geometry(s, split, found);
      }
      if (s.labels.empty()) ++st.background;
      st.boxes += static_cast<int>(s.labels.size());
      st.ignored += static_cast<int>(s.ignored.size());
      for (const BoxLabel& l : s.labels)
        if (l.cls >= 0 && l.cls < nc) ++st.boxes_per_class[static_cast<size_t>(l.cls)];
    }

    // Images not seen in an earlier split.
    std::vector<std::string> fresh;
    for (const LabeledImage& s : ys.samples)
      if (!image_status.count(s.image)) fresh.push_back(s.image);
    const std::vector<ImageStatus> fresh_status = check_images(fresh, opt, split);
    for (size_t i = 0; i < fresh.size(); ++i) {
      image_status[fresh[i]] = fresh_status[i];
      switch (fresh_status[i]) {
        case ImageStatus::Missing:
          found.push_back({fresh[i], 0, IssueKind::MissingImage, "image file does not exist", split});
          break;
        case ImageStatus::NotAFile:
          found.push_back({fresh[i], 0, IssueKind::UnreadableImage, "the image " + file_problem(fresh[i]), split});
          break;
        case ImageStatus::Unreadable:
          found.push_back({fresh[i], 0, IssueKind::UnreadableImage, "cannot decode the image (corrupt or not an image)",
                           split});
          break;
        case ImageStatus::TruncatedJpeg:
          found.push_back({fresh[i], 0, IssueKind::TruncatedJpeg,
                           "JPEG has no end marker (truncated file?); it decodes, but the missing part is grey",
                           split});
          break;
        case ImageStatus::Ok:
          break;
      }
    }
    std::map<std::string, std::pair<int, std::string>> overlap;  // other split -> count, first image
    for (const LabeledImage& s : ys.samples) {
      const ImageStatus status = image_status[s.image];
      if (status == ImageStatus::Missing || status == ImageStatus::NotAFile || status == ImageStatus::Unreadable) {
        rep.bad_images.insert(s.image);
        ++st.bad_images;
      }
      auto [it, inserted] = split_of_image.emplace(s.image, split);
      if (!inserted && it->second != split) {
        auto& o = overlap[it->second];
        if (o.first++ == 0) o.second = s.image;
      }
    }
    for (const auto& [other, o] : overlap)
      found.push_back({o.second, 0, IssueKind::SplitOverlap,
                       std::to_string(o.first) + " image(s) of split '" + split + "' are also in split '" + other +
                           "' (this one among them)",
                       split});

    if (yolo) label_folders(data, split, ys, flat_dirs, recursive_dirs);
    std::stable_sort(found.begin(), found.end(), [](const DatasetIssue& a, const DatasetIssue& b) {
      return a.file != b.file ? a.file < b.file : a.line < b.line;
    });
    limit_per_file(found);
    rep.problems.insert(rep.problems.end(), found.begin(), found.end());
    rep.splits.push_back(std::move(st));
    if (loaded) (*loaded)[split] = std::move(ys);
  }

  // Label files that no image uses. Images of splits not checked here still count as users, so that a
  // folder shared by train and val (split by .txt lists) is not reported.
  if (!yolo) return rep;  // COCO: no label files; VOC: Annotations/ also serves other tasks' images
  for (const auto& [split, sources] : data.splits) {
    if (std::find(splits.begin(), splits.end(), split) != splits.end()) continue;
    try {
      for (const std::string& img : list_split_images(data, split))
        expected_labels.insert(fs::path(image_to_label_path(img)).lexically_normal().string());
    } catch (const Error&) {
      // An unchecked split that does not resolve is not this check's business.
    }
  }
  std::set<std::string> label_files;
  for (const std::string& d : flat_dirs) collect_txt(d, false, label_files);
  for (const std::string& d : recursive_dirs) collect_txt(d, true, label_files);
  for (const std::string& f : label_files) {
    if (expected_labels.count(f) || split_sources.count(f)) continue;
    if (fs::path(f).filename() == "classes.txt") continue;  // class list written by labelling tools
    rep.problems.push_back({f, 0, IssueKind::LabelWithoutImage, "label file has no matching image", ""});
  }
  return rep;
}

}  // namespace

DataReport check_dataset(const DataYaml& data, const std::vector<std::string>& splits, const CheckOptions& opt,
                         std::map<std::string, DataSplit>* loaded) {
  try {
    return check_splits(data, splits, opt, loaded);
  } catch (const fs::filesystem_error& e) {
    throw filesystem_error_message(clip(data.yaml_path), e);
  }
}

std::vector<std::string> enforce_data_report(const DataReport& report, bool strict, size_t max_listed) {
  if (strict && !report.ok())
    throw Error("the dataset has errors (strict=true refuses it; strict=false skips the bad rows and images):\n" +
                report.details(max_listed) + report.summary());
  std::vector<std::string> lines;
  if (report.problems.empty()) return lines;
  std::istringstream in(report.details(max_listed));
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  if (report.errors() > 0)
    lines.push_back(std::to_string(report.errors()) + " error(s) above: their rows / images are skipped (strict=false)");
  return lines;
}

void drop_bad_images(DataSplit& split, const DataReport& report) {
  auto& v = split.samples;
  v.erase(std::remove_if(v.begin(), v.end(), [&](const LabeledImage& s) { return report.bad_images.count(s.image) > 0; }),
          v.end());
}

}  // namespace yolonas
