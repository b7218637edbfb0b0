#include "yolonas/core/files.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>
#include <sstream>
#include <filesystem>
#include <fstream>

#include "yolonas/core/error.h"
#include "yolonas/core/text.h"

namespace fs = std::filesystem;

namespace yolonas {

std::string make_run_dir(const std::string& project, const std::string& name, bool exist_ok) {
  const fs::path base = project.empty() ? fs::path("runs/detect") : fs::path(project);
  if (name.empty()) throw Error("name= must not be empty");
  fs::path dir = base / name;
  if (!exist_ok) {
    // Ultralytics: predict, predict2, predict3, ...
    for (int n = 2; fs::exists(dir); ++n) dir = base / (name + std::to_string(n));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create output folder " + clip(dir.string()) + ": " + ec.message());
  return dir.string();
}

namespace {

std::string os_error() { return std::strerror(errno); }

// `<name>.tmp<PID>` files left by a process that was killed during a write (kill -9, power loss).
// Only files of processes that no longer exist are removed: a concurrent writer keeps its own.
void remove_stale_temps(const fs::path& target) {
  const std::string prefix = target.filename().string() + ".tmp";
  std::error_code ec;
  fs::directory_iterator it(target.parent_path().empty() ? fs::path(".") : target.parent_path(), ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (EPERM: alive, another user's)
    std::error_code rm;
    fs::remove(it->path(), rm);
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  remove_stale_temps(path);
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write " + clip(tmp) + ": " + os_error());
  auto fail = [&](const std::string& what) {
    const std::string err = os_error();
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(what + " " + clip(tmp) + ": " + err + "; " + clip(path) + " is unchanged");
  };
  for (size_t off = 0; off < content.size();) {
    const ssize_t w = ::write(fd, content.data() + off, content.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write failed for");
    off += static_cast<size_t>(w);
  }
  // fsync so that a crash after rename never leaves an empty file behind the final name.
  if (::fsync(fd) != 0 && errno != EINVAL) fail("fsync failed for");
  if (::close(fd) != 0) {
    const std::string err = os_error();
    ::unlink(tmp.c_str());
    throw Error("write failed for " + clip(tmp) + ": " + err);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = os_error();
    ::unlink(tmp.c_str());
    throw Error("cannot rename " + clip(tmp) + " to " + clip(path) + ": " + err);
  }
}

namespace {

std::string megabytes(uintmax_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MB";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1u << 20));
  return buf;
}

// file_problem() and whether the file is simply absent.
std::string check_file(const std::string& path, uintmax_t max_bytes, bool& missing) {
  missing = false;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);  // follows symlinks
  switch (st.type()) {
    case fs::file_type::regular: break;
    case fs::file_type::not_found: missing = true; return "does not exist";
    case fs::file_type::directory: return "is a folder, not a file";
    case fs::file_type::fifo: return "is a FIFO (named pipe), not a regular file";
    case fs::file_type::socket: return "is a socket, not a regular file";
    case fs::file_type::block:
    case fs::file_type::character: return "is a device, not a regular file";
    case fs::file_type::none: return "cannot be read (" + (ec ? ec.message() : std::string("unknown error")) + ")";
    default: return "is not a regular file";
  }
  if (max_bytes > 0) {
    const uintmax_t size = fs::file_size(path, ec);
    if (ec) return "cannot be read (" + ec.message() + ")";
    if (size > max_bytes) return "is " + megabytes(size) + ", more than the " + megabytes(max_bytes) + " limit";
  }
  return "";
}

// Reads a file check_file() accepted; false with `problem` set when it cannot be read after all.
bool read_checked_file(const std::string& path, std::string& text, std::string& problem) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problem = std::string("cannot be read (") + std::strerror(errno) + ")";
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    problem = "cannot be read (read error)";
    return false;
  }
  text = ss.str();
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // UTF-8 BOM
  return true;
}

}  // namespace

std::string file_problem(const std::string& path, uintmax_t max_bytes) {
  bool missing = false;
  return check_file(path, max_bytes, missing);
}

std::string read_text_file(const std::string& path, const std::string& what, uintmax_t max_bytes) {
  bool missing = false;
  std::string problem = check_file(path, max_bytes, missing);
  if (missing) throw Error("cannot open " + what + " '" + clip(path) + "'");
  std::string text;
  if (problem.empty() && read_checked_file(path, text, problem)) return text;
  throw Error("cannot open " + what + " '" + clip(path) + "': it " + problem);
}

std::string try_read_text_file(const std::string& path, uintmax_t max_bytes, std::string& text, bool& missing) {
  std::string problem = check_file(path, max_bytes, missing);
  if (problem.empty()) read_checked_file(path, text, problem);
  return problem;
}

Error filesystem_error_message(const std::string& context, const fs::filesystem_error& e) {
  std::string msg = context.empty() ? "" : context + ": ";
  if (!e.path1().empty()) msg += "'" + clip(e.path1().string()) + "': ";
  if (e.code() == std::errc::too_many_symbolic_link_levels) msg += "symlink loop: ";
  return Error(msg + e.code().message());
}

bool read_jpeg_size(const std::string& path, int& w, int& h) {
  std::ifstream f(path, std::ios::binary);
  unsigned char b[4];
  if (!f.read(reinterpret_cast<char*>(b), 2) || b[0] != 0xFF || b[1] != 0xD8) return false;
  for (int guard = 0; guard < 1000; ++guard) {
    int c = f.get();
    while (c == 0xFF) c = f.get();  // fill bytes
    if (c == EOF) return false;
    const int marker = c;
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (!f.read(reinterpret_cast<char*>(b), 2)) return false;
    const int len = (b[0] << 8) | b[1];
    if (len < 2) return false;
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      unsigned char d[5];
      if (!f.read(reinterpret_cast<char*>(d), 5)) return false;
      h = (d[1] << 8) | d[2];
      w = (d[3] << 8) | d[4];
      return w > 0 && h > 0;
    }
    if (marker == 0xDA || marker == 0xD9) return false;  // start of scan / end: no SOF before it
    f.seekg(len - 2, std::ios::cur);
  }
  return false;
}

const std::vector<std::string>& image_extensions() {
  static const std::vector<std::string> kExt = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jpe",
                                                ".mpo", ".pfm", ".pgm", ".ppm", ".pbm", ".pnm", ".dng", ".heic"};
  return kExt;
}

bool is_image_file(const fs::path& path) {
  const std::string ext = lower(path.extension().string());
  for (const std::string& e : image_extensions())
    if (ext == e) return true;
  return false;
}

}  // namespace yolonas
