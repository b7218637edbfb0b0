// Minimal XML reader and Pascal VOC annotation reader. See voc.h.
#include "yolonas/data/voc.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "yolonas/core/error.h"
#include "yolonas/core/text.h"

namespace yolonas {

const XmlElement* XmlElement::child(const std::string& child_name) const {
  for (const XmlElement& c : children)
    if (c.name == child_name) return &c;
  return nullptr;
}

namespace {

// Deeper nesting than this is not a real annotation; the limit keeps a hostile file from costing
// unbounded memory in the open-element stack (the parser itself does not recurse).
constexpr size_t kMaxDepth = 256;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// XML name characters, restricted to ASCII; any byte >= 0x80 is accepted so that UTF-8 names pass
// without decoding them.
bool is_name_start(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) || c == '_' || c == ':' || u >= 0x80;
}
bool is_name_char(char c) {
  return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

// A character for an error message: printable ASCII quoted, anything else as a byte value (the
// message must stay readable when the input is binary junk).
std::string describe_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
  if (c == ' ') return "a space";
  if (c == '\n') return "a line end";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02X", u);
  return buf;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The characters XML allows (its Char production); a reference to anything else is an error.
bool is_xml_char(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
         (cp >= 0x10000 && cp <= 0x10FFFF);
}

// Drops a UTF-8 BOM and turns CRLF and lone CR into LF (XML's end-of-line handling), so that the
// parser only ever counts '\n' and text never carries a stray '\r'.
std::string normalize_input(const std::string& text) {
  size_t start = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) start = 3;
  std::string out;
  out.reserve(text.size() - start);
  for (size_t i = start; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

class XmlParser {
 public:
  XmlParser(const std::string& text, const std::string& source) : s_(normalize_input(text)), source_(source) {}

  XmlElement parse_document() {
    if (std::all_of(s_.begin(), s_.end(), is_space)) fail(1, "empty file");
    bool have_root = false;
    XmlElement root;
    for (;;) {
      skip_space();
      if (at_end()) break;
      if (starts_with("<?")) {
        skip_past("?>", "a processing instruction '<?'");
      } else if (starts_with("<!--")) {
        skip_past("-->", "a comment '<!--'", 4);
      } else if (starts_with("<!DOCTYPE")) {
        if (have_root) fail(line_, "<!DOCTYPE after the root element");
        skip_doctype();
      } else if (have_root) {
        if (starts_with("<") && pos_ + 1 < s_.size() && is_name_start(s_[pos_ + 1]))
          fail(line_, "second root element <" + peek_name(pos_ + 1) + "> after the root element <" + clip(root.name) +
                          "> (a document has one root element)");
        fail(line_, "unexpected " + describe_char(s_[pos_]) + " after the root element <" + clip(root.name) + ">");
      } else if (s_[pos_] == '<') {
        root = parse_tree();
        have_root = true;
      } else {
        fail(line_, "expected '<' to start the root element, found " + describe_char(s_[pos_]));
      }
    }
    if (!have_root) fail(line_, "no root element");
    return root;
  }

 private:
  std::string s_;
  const std::string& source_;
  size_t pos_ = 0;
  int line_ = 1;

  [[noreturn]] void fail(int line, const std::string& what) const {
    throw Error(clip(source_) + ":" + std::to_string(line) + ": " + what);
  }

  bool at_end() const { return pos_ >= s_.size(); }
  bool starts_with(const char* lit) const { return s_.compare(pos_, std::strlen(lit), lit) == 0; }
  std::string found() const { return at_end() ? std::string("end of file") : describe_char(s_[pos_]); }

  // Moves to `to`, counting the line ends passed.
  void advance_to(size_t to) {
    line_ += static_cast<int>(std::count(s_.begin() + static_cast<long>(pos_), s_.begin() + static_cast<long>(to), '\n'));
    pos_ = to;
  }

  bool skip_space() {
    const size_t start = pos_;
    while (!at_end() && is_space(s_[pos_])) {
      if (s_[pos_] == '\n') ++line_;
      ++pos_;
    }
    return pos_ > start;
  }

  // Skips a construct ending in `terminator` (comment, PI, CDATA); `open_len` is the length of its
  // opening so that "<!-->" is not read as a complete comment.
  std::string skip_past(const char* terminator, const std::string& what, size_t open_len = 2) {
    const int open_line = line_;
    const size_t body = pos_ + open_len;
    const size_t end = s_.find(terminator, body);
    if (end == std::string::npos) {
      advance_to(s_.size());
      fail(line_, "unexpected end of file inside " + what + " (opened at line " + std::to_string(open_line) + ")");
    }
    std::string content = s_.substr(body, end - body);
    advance_to(end + std::strlen(terminator));
    return content;
  }

  // <!DOCTYPE name PUBLIC "..." "..." [ internal subset ]> — skipped; quotes and brackets are
  // tracked so that a '>' inside them does not end it.
  void skip_doctype() {
    const int open_line = line_;
    size_t i = pos_ + 9;
    int brackets = 0;
    char quote = 0;
    for (; i < s_.size(); ++i) {
      const char c = s_[i];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '[') {
        ++brackets;
      } else if (c == ']') {
        --brackets;
      } else if (c == '>' && brackets <= 0) {
        advance_to(i + 1);
        return;
      }
    }
    advance_to(s_.size());
    fail(line_, "unexpected end of file inside <!DOCTYPE (opened at line " + std::to_string(open_line) + ")");
  }

  std::string peek_name(size_t at) const {
    size_t e = at;
    while (e < s_.size() && is_name_char(s_[e]) && e - at < 64) ++e;
    return s_.substr(at, e - at);
  }

  std::string read_name() {
    const size_t start = pos_;
    if (at_end() || !is_name_start(s_[pos_])) return {};
    while (!at_end() && is_name_char(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  // At '&': decodes one entity or character reference into `out`. References never span lines, so
  // the line count is unaffected.
  void decode_reference(std::string& out) {
    size_t semi = pos_ + 1;
    while (semi < s_.size() && semi - pos_ <= 32 && s_[semi] != ';' && !is_space(s_[semi]) && s_[semi] != '<' &&
           s_[semi] != '&')
      ++semi;
    if (semi >= s_.size() || s_[semi] != ';')
      fail(line_, "'&' is not followed by an entity name and ';' (write &amp; for a literal '&')");
    const std::string ref = s_.substr(pos_ + 1, semi - pos_ - 1);
    if (ref == "lt") out += '<';
    else if (ref == "gt") out += '>';
    else if (ref == "amp") out += '&';
    else if (ref == "quot") out += '"';
    else if (ref == "apos") out += '\'';
    else if (!ref.empty() && ref[0] == '#') {
      const bool hex = ref.size() > 1 && ref[1] == 'x';
      const size_t first = hex ? 2 : 1;
      uint32_t cp = 0;
      bool ok = ref.size() > first;
      for (size_t i = first; ok && i < ref.size(); ++i) {
        const auto c = static_cast<unsigned char>(ref[i]);
        int digit = -1;
        if (std::isdigit(c)) digit = c - '0';
        else if (hex && std::isxdigit(c)) digit = std::tolower(c) - 'a' + 10;
        if (digit < 0) ok = false;
        else cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(digit);
        if (cp > 0x10FFFF) ok = false;  // also stops the accumulation before it could overflow
      }
      if (!ok || !is_xml_char(cp)) fail(line_, "invalid character reference '&" + ref + ";'");
      append_utf8(out, cp);
    } else {
      fail(line_, "unknown entity '&" + ref + ";'");
    }
    pos_ = semi + 1;
  }

  // Character data up to the next '<' (or the end), appended to `out` with references decoded.
  void read_text(std::string& out) {
    while (!at_end() && s_[pos_] != '<') {
      const size_t stop = std::min(s_.find_first_of("<&", pos_), s_.size());
      out.append(s_, pos_, stop - pos_);
      advance_to(stop);
      if (!at_end() && s_[pos_] == '&') decode_reference(out);
    }
  }

  // At '<' of a start tag: reads name and attributes into `el`. Returns true for "<name/>".
  bool read_start_tag(XmlElement& el) {
    el.line = line_;
    ++pos_;
    el.name = read_name();
    if (el.name.empty()) fail(line_, "expected a tag name after '<', found " + found());
    for (;;) {
      const bool spaced = skip_space();
      if (at_end())
        fail(line_, "unexpected end of file inside the tag <" + clip(el.name) + " (opened at line " +
                        std::to_string(el.line) + ")");
      if (s_[pos_] == '>') {
        ++pos_;
        return false;
      }
      if (starts_with("/>")) {
        pos_ += 2;
        return true;
      }
      if (!spaced || !is_name_start(s_[pos_]))
        fail(line_, "unexpected " + found() + " in the tag <" + clip(el.name) + ">");
      read_attribute(el);
    }
  }

  void read_attribute(XmlElement& el) {
    const std::string name = read_name();
    for (const auto& a : el.attributes)
      if (a.first == name) fail(line_, "duplicate attribute '" + clip(name) + "' in <" + clip(el.name) + ">");
    skip_space();
    if (at_end() || s_[pos_] != '=')
      fail(line_, "expected '=' after attribute '" + clip(name) + "' in <" + clip(el.name) + ">, found " + found());
    ++pos_;
    skip_space();
    if (at_end() || (s_[pos_] != '"' && s_[pos_] != '\''))
      fail(line_, "the value of attribute '" + clip(name) + "' in <" + clip(el.name) + "> must be in quotes, found " + found());
    const char quote = s_[pos_++];
    const int open_line = line_;
    std::string value;
    for (;;) {
      if (at_end())
        fail(line_, "unexpected end of file inside the value of attribute '" + clip(name) + "' (opened at line " +
                        std::to_string(open_line) + ")");
      const char c = s_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c == '<')  // not allowed in a value; nearly always a missing closing quote
        fail(line_, "'<' inside the value of attribute '" + clip(name) + "' (missing closing quote? value opened at line " +
                        std::to_string(open_line) + ")");
      if (c == '&') {
        decode_reference(value);
        continue;
      }
      // XML attribute-value normalization: literal whitespace characters become spaces.
      value += (c == '\n' || c == '\t') ? ' ' : c;
      if (c == '\n') ++line_;
      ++pos_;
    }
    el.attributes.emplace_back(name, std::move(value));
  }

  // At "</": returns the name of the end tag.
  std::string read_end_tag() {
    pos_ += 2;
    const std::string name = read_name();
    if (name.empty()) fail(line_, "expected a tag name after '</', found " + found());
    skip_space();
    if (at_end() || s_[pos_] != '>') fail(line_, "expected '>' to end </" + clip(name) + ", found " + found());
    ++pos_;
    return name;
  }

  // At '<' of the root's start tag: reads the whole element tree. Open elements live on an explicit
  // stack instead of the call stack, so nesting depth costs heap memory only (and is capped anyway).
  XmlElement parse_tree() {
    std::vector<XmlElement> open;
    XmlElement done;
    // Attaches a finished element to its parent; true when it was the root.
    auto finish = [&](XmlElement el) {
      el.text = trim(el.text);
      if (open.empty()) {
        done = std::move(el);
        return true;
      }
      open.back().children.push_back(std::move(el));
      return false;
    };
    auto start_element = [&]() {
      if (open.size() >= kMaxDepth)
        fail(line_, "elements nested deeper than " + std::to_string(kMaxDepth) + " levels");
      XmlElement el;
      if (read_start_tag(el)) return finish(std::move(el));
      open.push_back(std::move(el));
      return false;
    };

    if (start_element()) return done;
    for (;;) {
      XmlElement& top = open.back();
      if (at_end())
        fail(line_, "unexpected end of file inside <" + clip(top.name) + "> (opened at line " + std::to_string(top.line) + ")");
      if (s_[pos_] != '<') {
        read_text(top.text);
      } else if (starts_with("</")) {
        const int end_line = line_;
        const std::string name = read_end_tag();
        if (name != top.name) fail(end_line, "expected </" + clip(top.name) + ">, found </" + clip(name) + ">");
        XmlElement el = std::move(open.back());
        open.pop_back();
        if (finish(std::move(el))) return done;
      } else if (starts_with("<!--")) {
        skip_past("-->", "a comment '<!--'", 4);
      } else if (starts_with("<![CDATA[")) {
        top.text += skip_past("]]>", "a CDATA section", 9);
      } else if (starts_with("<?")) {
        skip_past("?>", "a processing instruction '<?'");
      } else if (starts_with("<!")) {
        fail(line_, "unexpected '<!' markup inside <" + clip(top.name) + ">");
      } else {
        start_element();  // `top` is not used after this: the push may move it
      }
    }
  }
};

// ---- VOC ------------------------------------------------------------------------------------

// <size> fields: a positive integer, else 0. "500.0" counts as 500 (float-writing exporters).
int positive_int(const XmlElement* el) {
  double v = 0;
  if (!el || !parse_double(el->text, v)) return 0;
  if (v < 1 || v != std::floor(v) || v > std::numeric_limits<int>::max()) return 0;
  return static_cast<int>(v);
}

// <difficult>/<truncated>: absent or "0" is false, "1" true. Non-numeric text is read as a word,
// because a few exporters write "true"/"false".
bool flag(const XmlElement* el) {
  if (!el) return false;
  double v = 0;
  if (parse_double(el->text, v)) return v != 0;
  const std::string t = lower(el->text);
  return t == "true" || t == "yes";
}

// Reads one <object>; returns false (and records why) when it must be dropped.
bool read_object(const XmlElement& obj, const std::string& path, VocObject& out, std::vector<DatasetIssue>& issues) {
  auto report = [&](int line, const std::string& msg) {
    issues.push_back({path, line, IssueKind::BadRow, msg});
    return false;
  };
  out.line = obj.line;
  const XmlElement* name = obj.child("name");
  if (!name) return report(obj.line, "<object> has no <name>");
  if (name->text.empty()) return report(name->line, "<object> has an empty <name>");
  out.name = name->text;
  const XmlElement* box = obj.child("bndbox");
  if (!box) return report(obj.line, "<object> '" + clip(out.name) + "' has no <bndbox>");
  const char* fields[4] = {"xmin", "ymin", "xmax", "ymax"};
  double* values[4] = {&out.xmin, &out.ymin, &out.xmax, &out.ymax};
  for (int i = 0; i < 4; ++i) {
    const XmlElement* f = box->child(fields[i]);
    if (!f) return report(box->line, "<bndbox> of '" + clip(out.name) + "' has no <" + fields[i] + ">");
    if (!parse_double(f->text, *values[i]))
      return report(f->line, std::string("<") + fields[i] + "> of '" + clip(out.name) + "' is not a number: '" +
                                 clip(f->text) + "'");
  }
  out.difficult = flag(obj.child("difficult"));
  out.truncated = flag(obj.child("truncated"));
  return true;
}

}  // namespace

XmlElement parse_xml(const std::string& text, const std::string& source) {
  return XmlParser(text, source).parse_document();
}

VocAnnotation parse_voc_xml(const std::string& text, const std::string& path, std::vector<DatasetIssue>& issues) {
  const XmlElement root = parse_xml(text, path);
  if (root.name != "annotation")
    throw Error(clip(path) + ":" + std::to_string(root.line) + ": root element is <" + clip(root.name) +
                ">, expected <annotation> (not a Pascal VOC annotation)");
  VocAnnotation ann;
  ann.path = path;
  if (const XmlElement* f = root.child("folder")) ann.folder = f->text;
  if (const XmlElement* f = root.child("filename")) ann.filename = f->text;
  if (const XmlElement* size = root.child("size")) {
    ann.width = positive_int(size->child("width"));
    ann.height = positive_int(size->child("height"));
    ann.depth = positive_int(size->child("depth"));
  }
  for (const XmlElement& c : root.children) {
    if (c.name != "object") continue;
    VocObject obj;
    if (read_object(c, path, obj, issues)) ann.objects.push_back(std::move(obj));
  }
  return ann;
}

VocAnnotation read_voc_xml(const std::string& path, std::vector<DatasetIssue>& issues) {
  // Regular files only (a FIFO would block), at most kMaxLabelFileBytes (an annotation of one image).
  return parse_voc_xml(read_text_file(path, "VOC annotation", kMaxLabelFileBytes), path, issues);
}

const std::vector<std::string>& voc_class_names() {
  static const std::vector<std::string> kNames = {
      "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",         "car",
      "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",       "motorbike",
      "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};
  return kNames;
}

}  // namespace yolonas
