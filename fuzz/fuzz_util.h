// Helpers shared by the harnesses. A harness catches yolonas::Error (the documented outcome for a bad
// file) and nothing else: any other exception, a sanitizer report, a hang or a huge allocation is a
// finding.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace yolonas_fuzz {

// A private folder for this process, removed at exit: under $YOLONAS_FUZZ_TMP when set, else
// /dev/shm (tmpfs) when it exists, else $TMPDIR or /tmp. Made once per process and reused for every
// input, so that file-based readers stay fast. (On ext4, truncating and rewriting the same file
// makes close() start a write-back: /tmp on disk ran the label harness 10x slower than /dev/shm.)
inline std::filesystem::path scratch_base() {
  for (const char* env : {"YOLONAS_FUZZ_TMP"})
    if (const char* v = std::getenv(env); v && *v) return v;
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

// Folders left by processes that died without running atexit (a crash, libFuzzer's _Exit at the end
// of a -fork job) are removed when the next process of the same target starts.
inline void remove_stale_scratch(const std::filesystem::path& base, const std::string& prefix) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid = name.substr(prefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH) std::filesystem::remove_all(e.path(), ec);
  }
}

inline const std::filesystem::path& scratch_dir(const char* target) {
  static const std::filesystem::path dir = [target] {
    const std::filesystem::path base = scratch_base();
    const std::string prefix = "yolonas-fuzz-" + std::string(target) + "-";
    remove_stale_scratch(base, prefix);
    std::filesystem::path d = base / (prefix + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
  }();
  static const bool registered = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return true;
  }();
  (void)registered;
  return dir;
}

// Replaces the contents of `path` with the input (one write, no stream buffering).
inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();  // the harness itself is broken: not a finding in the code under test
  }
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) {
      std::perror(path.c_str());
      std::abort();
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

inline void write_file(const std::string& path, const std::string& text) {
  write_file(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

// An invariant of a reader's result that does not hold: report it as a crash with a message.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

}  // namespace yolonas_fuzz
