// Atomic writes: stale temp files of killed writers are cleaned up, and failures say why (OS error).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "yolonas/core/error.h"
#include "yolonas/core/files.h"

namespace fs = std::filesystem;
using namespace yolonas;

namespace {
pid_t dead_pid() {  // a process that has exited and been reaped
  const pid_t p = fork();
  if (p == 0) _exit(0);
  int st = 0;
  waitpid(p, &st, 0);
  return p;
}
std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST(WriteFileAtomic, RemovesTempFilesOfKilledWriters) {
  yolonas::test::TempRoot t("atomic_stale");
  const std::string last = t.str("last.pth");
  const std::string stale = last + ".tmp" + std::to_string(dead_pid());
  const std::string live = last + ".tmp" + std::to_string(::getppid());  // a running process: kept
  const std::string other = t.str("best.pth.tmp1");                       // another file's: not ours to judge
  for (const auto& p : {stale, live, other}) std::ofstream(p) << "partial";
  write_file_atomic(last, "new content");
  EXPECT_EQ(slurp(last), "new content");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_FALSE(fs::exists(last + ".tmp" + std::to_string(::getpid())));
}

TEST(WriteFileAtomic, FailuresNameTheFileAndTheOsError) {
  yolonas::test::TempRoot t("atomic_fail");
  try {
    write_file_atomic(t.str("no/such/dir/x.json"), "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.json.tmp"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
  // The target is a non-empty folder: rename(2) fails; the message says why, the temp file is gone.
  fs::create_directories(t.str("taken/inside"));
  try {
    write_file_atomic(t.str("taken"), "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot rename"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Is a directory"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(t.str("taken.tmp") + std::to_string(::getpid())));
  EXPECT_TRUE(fs::is_directory(t.str("taken/inside")));
}
