#include "yolonas/core/args.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "yolonas/core/error.h"
#include "yolonas/core/text.h"

namespace yolonas {

Args Args::parse(int argc, const char* const* argv) {
  std::vector<std::string> tokens;
  for (int i = 2; i < argc; ++i) tokens.emplace_back(argv[i]);
  return from_tokens(argc > 1 ? argv[1] : "", tokens);
}

Args Args::from_tokens(const std::string& mode, const std::vector<std::string>& tokens) {
  Args a;
  a.mode_ = mode;
  for (const auto& t : tokens) {
    const auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("argument '" + clip(t) + "' is not of the form key=value (e.g. conf=0.25)");
    std::string key = t.substr(0, eq);
    // Ultralytics accepts --key=value too.
    while (!key.empty() && key[0] == '-') key.erase(0, 1);
    if (a.values_.count(key)) throw Error("argument '" + clip(key) + "' given twice");
    a.values_[key] = t.substr(eq + 1);
  }
  return a;
}

std::optional<std::string> Args::opt_str(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::str(const std::string& key, const std::string& def) const { return opt_str(key).value_or(def); }

int Args::integer(const std::string& key, int def) const {
  auto v = opt_str(key);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  const long x = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE || x < INT32_MIN || x > INT32_MAX)
    throw Error("argument " + key + "=" + clip(*v) + ": expected an integer");
  return static_cast<int>(x);
}

int Args::integer_in(const std::string& key, int def, int lo, int hi) const {
  const int x = integer(key, def);
  if (has(key) && (x < lo || x > hi))
    throw Error("argument " + key + "=" + clip(*opt_str(key)) + ": must be between " + std::to_string(lo) + " and " +
                std::to_string(hi));
  return x;
}

int Args::imgsz(int def) const {
  if (!has("imgsz")) return def;
  const int x = integer("imgsz", def);
  if (x < 32 || x > 8192 || x % 32 != 0)
    throw Error("argument imgsz=" + clip(*opt_str("imgsz")) +
                ": must be a multiple of 32 between 32 and 8192 (YOLO-NAS downsamples by 32; e.g. 320, 640)");
  return x;
}

double Args::real(const std::string& key, double def) const {
  auto v = opt_str(key);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  const double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || errno == ERANGE) throw Error("argument " + key + "=" + clip(*v) + ": expected a number");
  // strtod reads "nan" and "inf": no option means either, and NaN slips through every range check.
  if (!std::isfinite(x)) throw Error("argument " + key + "=" + clip(*v) + ": expected a finite number");
  return x;
}

double Args::real_in(const std::string& key, double def, double lo, double hi) const {
  const double x = real(key, def);
  if (has(key) && (x < lo || x > hi)) {
    std::ostringstream m;
    m << "argument " << key << "=" << clip(*opt_str(key)) << ": must be between " << lo << " and " << hi;
    throw Error(m.str());
  }
  return x;
}

bool Args::boolean(const std::string& key, bool def) const {
  auto v = opt_str(key);
  if (!v) return def;
  const std::string s = lower(*v);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  throw Error("argument " + key + "=" + clip(*v) + ": expected true or false");
}

std::vector<int> Args::int_list(const std::string& key) const {
  std::vector<int> out;
  auto v = opt_str(key);
  if (!v) return out;
  std::string s = trim(*v);
  if (!s.empty() && s.front() == '[') s.erase(0, 1);
  if (!s.empty() && s.back() == ']') s.pop_back();
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    char* end = nullptr;
    errno = 0;
    const long x = std::strtol(item.c_str(), &end, 10);
    if (*end != '\0' || errno == ERANGE || x < INT32_MIN || x > INT32_MAX)
      throw Error("argument " + key + "=" + clip(*v) + ": expected integers like 0,2,5");
    out.push_back(static_cast<int>(x));
  }
  return out;
}

void Args::check_known(const std::vector<std::string>& known) const {
  std::vector<std::string> unknown;
  for (const auto& kv : values_)
    if (std::find(known.begin(), known.end(), kv.first) == known.end()) unknown.push_back(kv.first);
  if (unknown.empty()) return;
  std::string msg = "unknown argument";
  msg += unknown.size() > 1 ? "s " : " ";
  for (size_t i = 0; i < unknown.size(); ++i) msg += (i ? ", '" : "'") + clip(unknown[i], 60) + "'";
  msg += " for mode '" + mode_ + "'; accepted: ";
  for (size_t i = 0; i < known.size(); ++i) msg += (i ? " " : "") + known[i];
  throw Error(msg);
}

}  // namespace yolonas
