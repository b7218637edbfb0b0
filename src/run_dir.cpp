#include "yolonas/run_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "yolonas/error.h"

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

}  // namespace yolonas
