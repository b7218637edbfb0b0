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

}  // namespace yolonas
