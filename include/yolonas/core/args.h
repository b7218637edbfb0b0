// Ultralytics-style `key=value` command-line arguments.
// `yolonas predict model=yolo_nas_s source=img.jpg conf=0.3` -> mode "predict" + a key/value map.
// Every getter validates the value and throws yolonas::Error naming the key on a bad value;
// check_known() rejects keys the mode does not accept (typos such as `cnof=0.3`).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace yolonas {

class Args {
 public:
  Args() = default;
  // argv[0] is the program, argv[1] the mode; the rest must be key=value tokens.
  static Args parse(int argc, const char* const* argv);
  static Args from_tokens(const std::string& mode, const std::vector<std::string>& tokens);

  const std::string& mode() const { return mode_; }
  bool has(const std::string& key) const { return values_.count(key) > 0; }
  void set(const std::string& key, const std::string& value) { values_[key] = value; }

  std::string str(const std::string& key, const std::string& def) const;
  std::optional<std::string> opt_str(const std::string& key) const;
  int integer(const std::string& key, int def) const;
  double real(const std::string& key, double def) const;  // finite: nan and inf are refused
  // The same, and a given value must lie in [lo, hi] (the error names the key and the range).
  int integer_in(const std::string& key, int def, int lo, int hi) const;
  double real_in(const std::string& key, double def, double lo, double hi) const;
  // imgsz=: when given, a multiple of 32 in [32, 8192]; `def` (e.g. 0 = the model's own) otherwise.
  int imgsz(int def) const;
  bool boolean(const std::string& key, bool def) const;
  // "0,2,5" or "[0, 2, 5]" -> {0,2,5}; empty when absent.
  std::vector<int> int_list(const std::string& key) const;

  // Throws yolonas::Error listing every key not in `known` (with the accepted keys).
  void check_known(const std::vector<std::string>& known) const;
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::string mode_;
  std::map<std::string, std::string> values_;
};

}  // namespace yolonas
