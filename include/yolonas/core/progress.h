// A one-line terminal progress bar with rate and ETA: `predict  37/120 [=====>    ] 4.1 it/s ETA 0:20`.
// Redraws at most every 100 ms; writes to stderr so stdout stays parseable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace yolonas {

class Progress {
 public:
  // total <= 0 means unknown (no bar, no ETA).
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();
  void update(int64_t done, const std::string& suffix = "");
  void finish();

 private:
  void draw(bool final);
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::string suffix_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace yolonas
