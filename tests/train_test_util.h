// A small training setup the training tests share: the tiny architecture at 128 px, no augmentation,
// no EMA, one loader thread; each test changes what it is about.
#pragma once
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"
#include "yolonas/train/trainer.h"

namespace yolonas::test {

// A fresh folder <tmp>/<prefix>_<pid>/<name> (the training tests keep their runs there).
inline std::string fresh_run_dir(const std::string& prefix, const std::string& name) {
  namespace fs = std::filesystem;
  fs::path d = fs::temp_directory_path() / (prefix + "_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// Runs `yolonas args...` as a child process (posix_spawn: no fork hazards in a threaded test);
// stdout and stderr go to `log`. Returns its pid.
inline pid_t spawn_cli(const std::vector<std::string>& args, const std::string& log) {
  std::string bin = YOLONAS_BINARY;
  std::vector<std::string> copy = args;
  std::vector<char*> argv{bin.data()};
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(rc, 0) << "cannot start " << bin;
  return pid;
}

// The exit code (128 + signal when killed).
inline int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline TrainConfig tiny_train_config(const std::string& data, const std::string& project, const std::string& name = "train") {
  TrainConfig c;
  c.data = data;
  c.model = tiny_dir() + "/tiny_arch.json";
  c.imgsz = 128;
  c.batch = 4;
  c.lr0 = 0.01;
  c.warmup_epochs = 1;
  c.augment = AugmentConfig::none();
  c.threads = 1;
  c.workers = 1;
  c.ema = false;
  c.plots = false;
  c.project = project;
  c.name = name;
  return c;
}

}  // namespace yolonas::test
