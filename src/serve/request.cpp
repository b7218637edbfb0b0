#include "yolonas/serve/request.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "yolonas/core/error.h"

namespace yolonas::serve {

using json = nlohmann::json;


namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

double parse_real(const std::string& key, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  const std::string t = trim(v);
  const double x = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0' || !std::isfinite(x) || x < lo || x > hi)
  {
    char range[64];
    std::snprintf(range, sizeof range, "[%g, %g]", lo, hi);
    throw RequestError(400, key + "=" + clip(v, 40) + ": expected a number in " + range);
  }
  return x;
}

int parse_int(const std::string& key, const std::string& v, int lo, int hi) {
  char* end = nullptr;
  const std::string t = trim(v);
  const long x = std::strtol(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0' || x < lo || x > hi)
    throw RequestError(400, key + "=" + clip(v, 40) + ": expected an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  return static_cast<int>(x);
}

bool parse_bool(const std::string& key, const std::string& v) {
  const std::string t = lower(trim(v));
  if (t == "1" || t == "true" || t == "yes") return true;
  if (t == "0" || t == "false" || t == "no" || t.empty()) return false;
  throw RequestError(400, key + "=" + clip(v, 40) + ": expected true or false");
}

// "0,2", "dog,person", "[0, 2]" -> class ids.
std::vector<int> parse_classes(const std::string& v, const std::vector<std::string>& names) {
  std::string s = v;
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '[' || c == ']' || c == '"'; }), s.end());
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = std::min(s.find(',', pos), s.size());
    const std::string item = trim(s.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    const bool numeric = std::all_of(item.begin(), item.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (numeric) {
      out.push_back(parse_int("classes", item, 0, static_cast<int>(names.size()) - 1));
    } else {
      auto it = std::find(names.begin(), names.end(), item);
      if (it == names.end()) throw RequestError(400, "classes: '" + clip(item, 60) + "' is not a class of this model");
      out.push_back(static_cast<int>(it - names.begin()));
    }
  }
  return out;
}

void apply_option(NmsParams& nms, const std::string& key, const std::string& value, const std::vector<std::string>& names) {
  if (key == "conf") nms.conf = static_cast<float>(parse_real(key, value, 0, 1));
  else if (key == "iou") nms.iou = static_cast<float>(parse_real(key, value, 0, 1));
  else if (key == "max_det") nms.max_det = parse_int(key, value, 1, 10000);
  else if (key == "agnostic") nms.agnostic = parse_bool(key, value);
  else if (key == "classes") nms.classes = parse_classes(value, names);
}

const char* const kOptionKeys[] = {"conf", "iou", "max_det", "agnostic", "classes"};

std::string json_value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : ",") + json_value_text(e);
    return s;
  }
  return v.dump();
}

cv::Mat decode_image(const std::string& bytes, double max_pixels) {
  int w = 0, h = 0;
  if (max_pixels > 0 && image_size_from_header(bytes, &w, &h) && static_cast<double>(w) * h > max_pixels)
    throw RequestError(413, "image is " + std::to_string(w) + "x" + std::to_string(h) + " pixels: more than max_pixels=" +
                                std::to_string(static_cast<long long>(max_pixels)));
  if (bytes.empty()) throw RequestError(400, "empty body: send the image bytes, a multipart file, or JSON {\"image\": base64}");
  cv::Mat img;
  try {
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    img = cv::imdecode(buf, cv::IMREAD_COLOR);
  } catch (const cv::Exception&) {
    img.release();
  }
  if (img.empty())
    throw RequestError(400, "cannot decode the image (" + std::to_string(bytes.size()) +
                                " bytes): not a JPEG, PNG, BMP, TIFF or WebP image, truncated, or too large");
  return img;
}

}  // namespace

bool image_size_from_header(const std::string& b, int* width, int* height) {
  auto u8 = [&](size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(b[i])); };
  auto be16 = [&](size_t i) { return (u8(i) << 8) | u8(i + 1); };
  auto be32 = [&](size_t i) { return (u8(i) << 24) | (u8(i + 1) << 16) | (u8(i + 2) << 8) | u8(i + 3); };
  // PNG: signature, then the IHDR chunk: width and height, big-endian.
  if (b.size() >= 24 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0 && b.compare(12, 4, "IHDR") == 0) {
    const unsigned w = be32(16), h = be32(20);
    *width = static_cast<int>(std::min(w, 0x7fffffffu));
    *height = static_cast<int>(std::min(h, 0x7fffffffu));
    return true;
  }
  // JPEG: walk the markers to the first start-of-frame (SOF0..SOF15 except DHT, JPG, DAC).
  if (b.size() >= 4 && u8(0) == 0xFF && u8(1) == 0xD8) {
    size_t i = 2;
    while (i + 9 < b.size()) {
      if (u8(i) != 0xFF) return false;
      const unsigned marker = u8(i + 1);
      if (marker == 0xFF) { ++i; continue; }
      if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) { i += 2; continue; }
      const unsigned len = be16(i + 2);
      if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
        *height = static_cast<int>(be16(i + 5));
        *width = static_cast<int>(be16(i + 7));
        return true;
      }
      if (len < 2) return false;
      i += 2 + len;
    }
  }
  return false;
}

std::string decode_base64(const std::string& text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  bool padding = false;
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isspace(c)) continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    else throw RequestError(400, "image: not base64 (unexpected character)");
    if (padding) throw RequestError(400, "image: not base64 (data after '=' padding)");
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (bits >= 6) throw RequestError(400, "image: not base64 (truncated)");
  return out;
}

DetectRequest parse_detect_request(const RawRequest& raw, const NmsParams& defaults,
                                   const std::vector<std::string>& names, const PreprocessParams& pp,
                                   double max_pixels) {
  DetectRequest r;
  r.nms = defaults;
  const std::string ct = lower(raw.content_type);
  std::map<std::string, std::string> options;  // body options first, query overrides
  std::string image_bytes;
  if (ct.rfind("multipart/form-data", 0) == 0) {
    auto it = raw.files.find("image");
    if (it == raw.files.end() && !raw.first_file.empty()) it = raw.files.find(raw.first_file);
    if (it == raw.files.end()) throw RequestError(400, "multipart body without a file: send the image in a field named 'image'");
    image_bytes = it->second;
    for (const char* k : kOptionKeys)
      if (raw.fields.count(k)) options[k] = raw.fields.at(k);
  } else if (ct.rfind("application/json", 0) == 0) {
    json j;
    try {
      j = json::parse(raw.body ? *raw.body : std::string());
    } catch (const json::exception& e) {
      throw RequestError(400, std::string("body is not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("image") || !j["image"].is_string())
      throw RequestError(400, "JSON body needs \"image\": the image as a base64 string");
    std::string b64 = j["image"].get<std::string>();
    if (b64.rfind("data:", 0) == 0) {
      const size_t comma = b64.find(',');
      if (comma == std::string::npos) throw RequestError(400, "image: malformed data URL (no comma)");
      b64 = b64.substr(comma + 1);
    }
    image_bytes = decode_base64(b64);
    for (const char* k : kOptionKeys)
      if (j.contains(k) && !j[k].is_null()) options[k] = json_value_text(j[k]);
  } else if (ct.empty() || ct.rfind("image/", 0) == 0 || ct.rfind("application/octet-stream", 0) == 0) {
    if (raw.body) image_bytes = *raw.body;
  } else {
    throw RequestError(415, "unsupported Content-Type '" + clip(raw.content_type, 60) +
                                "': send image/*, application/octet-stream, multipart/form-data or application/json");
  }
  for (const char* k : kOptionKeys)
    if (raw.query.count(k)) options[k] = raw.query.at(k);
  for (const auto& [k, v] : options) apply_option(r.nms, k, v, names);

  r.image = decode_image(image_bytes, max_pixels);
  try {
    compute_letterbox(r.image.rows, r.image.cols, pp);
  } catch (const std::exception& e) {
    throw RequestError(400, std::string("image cannot be fitted to the network input: ") + e.what());
  }
  return r;
}

std::string detections_json(const ImageResult& r, const std::vector<std::string>& names, const std::string& model,
                            int batch_size, const Timings& t) {
  const double w = r.letterbox.src_w, h = r.letterbox.src_h;
  json dets = json::array();
  auto round2 = [](double v) { return std::round(v * 100.0) / 100.0; };
  for (const Detection& d : r.detections) {
    const std::string name = d.cls >= 0 && d.cls < static_cast<int>(names.size()) ? names[d.cls] : std::to_string(d.cls);
    dets.push_back({{"class_id", d.cls},
                    {"name", name},
                    {"score", std::round(d.score * 1e4) / 1e4},
                    {"box",
                     {round2(std::clamp<double>(d.x1, 0, w)), round2(std::clamp<double>(d.y1, 0, h)),
                      round2(std::clamp<double>(d.x2, 0, w)), round2(std::clamp<double>(d.y2, 0, h))}}});
  }
  json j = {{"model", model},
            {"image", {{"width", r.letterbox.src_w}, {"height", r.letterbox.src_h}}},
            {"detections", std::move(dets)},
            {"batch_size", batch_size},
            {"timings_ms",
             {{"queue", round2(t.queue)},
              {"preprocess", round2(t.preprocess)},
              {"inference", round2(t.inference)},
              {"postprocess", round2(t.postprocess)},
              {"total", round2(t.total)}}}};
  return j.dump();
}

std::string error_json(int status, const std::string& message) {
  return json({{"error", message}, {"status", status}}).dump();
}

}  // namespace yolonas::serve
