// The one exception type yolonas throws for user-facing problems (bad file, bad argument, bad
// config). The CLI prints what() and exits non-zero; messages name the file and the problem.
#pragma once
#include <stdexcept>
#include <string>

namespace yolonas {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// A user-supplied string (path, name, value) shortened for an error message: at most `max` bytes,
// the middle replaced by "...(N bytes)...", so a 100 MB category name or a 100,000-character path
// never floods the terminal. Strings up to `max` bytes come back unchanged.
inline std::string clip(const std::string& s, size_t max = 200) {
  if (s.size() <= max || max < 16) return s;
  const size_t keep = (max - 16) / 2;
  return s.substr(0, keep) + "...(" + std::to_string(s.size() - 2 * keep) + " bytes)..." + s.substr(s.size() - keep);
}

}  // namespace yolonas
