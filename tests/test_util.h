// Shared helpers for the test suite: where the test data lives, and skipping cleanly when the
// SuperGradients golden data (../shared/golden) is not beside the checkout.
#pragma once
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "yolonas/core/error.h"

namespace yolonas::test {

inline std::string data_dir() { return YOLONAS_TEST_DATA; }            // tests/data (in the repo)
inline std::string tiny_dir() { return data_dir() + "/tiny"; }           // copy of golden/tiny
inline std::string golden_dir() { return YOLONAS_SHARED_GOLDEN; }       // ../shared/golden (optional)
inline std::string repo_dir() { return data_dir() + "/../.."; }         // the checkout
inline bool have_golden() { return std::filesystem::exists(golden_dir() + "/README.md"); }

// A fresh folder under the system temp dir, removed with the object: <tmp>/yolonas_<name>_<pid>.
struct TempRoot {
  std::filesystem::path root;
  explicit TempRoot(const std::string& name) {
    root = std::filesystem::temp_directory_path() / ("yolonas_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root);
    std::filesystem::create_directories(root);
  }
  ~TempRoot() { std::filesystem::remove_all(root); }
  TempRoot(const TempRoot&) = delete;
  TempRoot& operator=(const TempRoot&) = delete;
  std::string str(const std::string& rel) const { return (root / rel).lexically_normal().string(); }
  // Writes `content` to <root>/<rel> (folders created) and returns its path.
  std::string write(const std::string& rel, const std::string& content) const {
    const std::filesystem::path p = root / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.lexically_normal().string();
  }
};

// Writes `text` to `p` (folders created), byte for byte.
inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// Runs f and returns the yolonas::Error message it throws ("" if nothing was thrown; any other
// exception propagates and fails the test).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const yolonas::Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace yolonas::test

// Use at the top of a test that needs ../shared/golden.
#define REQUIRE_GOLDEN()                                                                     \
  do {                                                                                       \
    if (!yolonas::test::have_golden())                                                       \
      GTEST_SKIP() << "SuperGradients golden data not found at " << yolonas::test::golden_dir() \
                   << " (it lives in ../shared/golden beside the checkout)";                 \
  } while (0)
