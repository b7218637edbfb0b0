#include "yolonas/core/pickle_check.h"

#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "yolonas/core/error.h"

namespace yolonas {
namespace {

// What the symbolic machine knows of a value: enough to check persistent ids and tensor rebuilds,
// nothing of dicts' or lists' contents (only how deeply they nest).
enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor, Object };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
    case Kind::Object: return "object";
  }
  return "?";
}

struct Val;
using V = std::shared_ptr<Val>;
struct Val {
  Kind kind = Kind::None;
  int64_t i = 0;         // Int, Bool
  std::string s;         // Str (first kMaxKeptString bytes), Global "module.name", Storage key
  std::vector<V> items;  // Tuple
  uint64_t numel = 0;    // Storage: elements
  int depth = 0;         // nesting of containers below and including this one
};
constexpr size_t kMaxKeptString = 256;  // longer strings are only ever keys or metadata: keep a prefix

V make(Kind k) {
  auto v = std::make_shared<Val>();
  v->kind = k;
  return v;
}

// Bytes per element of torch.save's storage types (torch/storage.py, _utils._rebuild_tensor_v2).
int storage_element_size(const std::string& global) {
  static const std::map<std::string, int> sizes = {
      {"torch.DoubleStorage", 8}, {"torch.FloatStorage", 4},         {"torch.HalfStorage", 2},
      {"torch.BFloat16Storage", 2}, {"torch.LongStorage", 8},        {"torch.IntStorage", 4},
      {"torch.ShortStorage", 2},  {"torch.CharStorage", 1},          {"torch.ByteStorage", 1},
      {"torch.BoolStorage", 1},   {"torch.ComplexFloatStorage", 8},  {"torch.ComplexDoubleStorage", 16},
      {"torch.QInt8Storage", 1},  {"torch.QUInt8Storage", 1},        {"torch.QInt32Storage", 4},
      {"torch.UntypedStorage", 1}};
  auto it = sizes.find(global);
  return it == sizes.end() ? 0 : it->second;
}

class Machine {
 public:
  Machine(const unsigned char* d, size_t n, const std::function<std::optional<uint64_t>(const std::string&)>& rs,
          const std::string& origin)
      : d_(d), n_(n), record_size_(rs), origin_(origin) {}

  void run() {
    while (true) {
      if (pos_ >= n_) fail("the stream ends without a STOP opcode");
      op_at_ = pos_;
      const unsigned char op = d_[pos_++];
      if (step(op)) break;
    }
    if (stack_.size() != 1 || !marks_.empty())
      fail("STOP leaves " + std::to_string(stack_.size()) + " values and " + std::to_string(marks_.size()) +
           " marks on the stack (expected one value)");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(origin_ + ": checkpoint is corrupt or not a torch.save file (data.pkl, byte " + std::to_string(op_at_) +
                "): " + what);
  }

  // --- reading arguments ----------------------------------------------------------------------
  const unsigned char* take(uint64_t k) {
    if (k > n_ - pos_) fail("an argument of " + std::to_string(k) + " bytes runs past the end of the stream");
    const unsigned char* p = d_ + pos_;
    pos_ += static_cast<size_t>(k);
    return p;
  }
  uint64_t le(int bytes) {
    const unsigned char* p = take(bytes);
    uint64_t v = 0;
    for (int b = bytes - 1; b >= 0; --b) v = (v << 8) | p[b];
    return v;
  }
  std::string line() {  // GLOBAL's module and name: newline-terminated, short
    const size_t start = pos_;
    while (pos_ < n_ && d_[pos_] != '\n') {
      if (pos_ - start > 1024) fail("a GLOBAL name is longer than 1024 bytes");
      ++pos_;
    }
    if (pos_ >= n_) fail("a GLOBAL name runs past the end of the stream");
    std::string s(reinterpret_cast<const char*>(d_ + start), pos_ - start);
    ++pos_;
    return s;
  }
  V text(Kind k, uint64_t len) {
    const unsigned char* p = take(len);
    V v = make(k);
    v->s.assign(reinterpret_cast<const char*>(p), static_cast<size_t>(std::min<uint64_t>(len, kMaxKeptString)));
    return v;
  }

  // --- the stack ------------------------------------------------------------------------------
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }  // items below a mark are out of reach
  void push(V v) {
    if (v->depth > kMaxPickleDepth)
      fail("containers nested deeper than " + std::to_string(kMaxPickleDepth) + " levels");
    stack_.push_back(std::move(v));
  }
  V pop(const char* op) {
    if (stack_.size() <= base()) fail(std::string(op) + " on an empty stack");
    V v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  V& top(const char* op) {
    if (stack_.size() <= base()) fail(std::string(op) + " on an empty stack");
    return stack_.back();
  }
  std::vector<V> pop_mark(const char* op) {
    if (marks_.empty()) fail(std::string(op) + " without a MARK");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<V> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                         std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  void nest(Val& parent, const Val& child) {
    parent.depth = std::max(parent.depth, child.depth + 1);
    if (parent.depth > kMaxPickleDepth)
      fail("containers nested deeper than " + std::to_string(kMaxPickleDepth) + " levels");
  }
  V container(Kind k, const std::vector<V>& children) {
    V v = make(k);
    v->depth = 1;
    for (const auto& c : children) nest(*v, *c);
    if (k == Kind::Tuple) v->items = children;
    return v;
  }

  // --- memo -------------------------------------------------------------------------------------
  void put(uint64_t idx) {
    // Python's and torch's picklers number memo entries 0, 1, 2, ...: an index can never exceed the
    // stream's length. LibTorch resizes its memo table to the index, so a huge one is a memory bomb.
    if (idx > n_) fail("memo index " + std::to_string(idx) + " is larger than the stream");
    memo_[idx] = top("PUT");
  }
  void get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("memo GET of index " + std::to_string(idx) + ", which was never PUT");
    push(it->second);
  }

  // --- torch-specific checks --------------------------------------------------------------------
  V persistent_load(const V& pid) {
    const auto& t = pid->items;
    if (pid->kind != Kind::Tuple || t.size() != 5 || t[0]->kind != Kind::Str || t[0]->s != "storage")
      fail("a persistent id is not a ('storage', type, key, location, numel) tuple");
    if (t[1]->kind != Kind::Global) fail("a storage record's type is a " + std::string(kind_name(t[1]->kind)));
    const int elem = storage_element_size(t[1]->s);
    if (elem == 0) fail("unknown storage type '" + clip(t[1]->s) + "'");
    if (t[2]->kind != Kind::Str || t[4]->kind != Kind::Int || t[4]->i < 0)
      fail("a storage record has a bad key or element count");
    const std::string& key = t[2]->s;
    const auto bytes = record_size_(key);
    if (!bytes) fail("storage '" + clip(key) + "' has no data record in the archive");
    const uint64_t numel = static_cast<uint64_t>(t[4]->i);
    if (numel > *bytes / elem || numel * elem != *bytes)
      fail("storage '" + clip(key) + "' claims " + std::to_string(numel) + " elements of " + std::to_string(elem) +
           " bytes, but its record holds " + std::to_string(*bytes) + " bytes");
    V s = make(Kind::Storage);
    s->s = key;
    s->numel = numel;
    return s;
  }

  void check_tensor_rebuild(const V& args) {
    const auto& a = args->items;
    if (a.size() < 4 || a[0]->kind != Kind::Storage || a[1]->kind != Kind::Int || a[2]->kind != Kind::Tuple ||
        a[3]->kind != Kind::Tuple)
      fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
    const auto& size = a[2]->items;
    const auto& stride = a[3]->items;
    if (size.size() != stride.size()) fail("a tensor's size and stride have different lengths");
    if (a[1]->i < 0) fail("a tensor has a negative storage offset");
    // Highest element index reached: offset + sum((size_i - 1) * stride_i), kept below 2^62 step by step.
    constexpr uint64_t kLimit = uint64_t{1} << 62;
    uint64_t last = static_cast<uint64_t>(a[1]->i);
    bool empty = false;
    for (size_t k = 0; k < size.size(); ++k) {
      if (size[k]->kind != Kind::Int || stride[k]->kind != Kind::Int || size[k]->i < 0 || stride[k]->i < 0)
        fail("a tensor has a negative or non-integer size or stride");
      if (size[k]->i == 0) empty = true;
      const uint64_t sz = static_cast<uint64_t>(size[k]->i), st = static_cast<uint64_t>(stride[k]->i);
      if (sz > 0 && st > 0 && (sz - 1) > (kLimit - last) / st) fail("a tensor's size and strides overflow");
      if (sz > 0) last += (sz - 1) * st;
    }
    const uint64_t numel = a[0]->numel;
    if (!empty && last >= numel)
      fail("a tensor reaches element " + std::to_string(last) + " of storage '" + clip(a[0]->s) + "', which has " +
           std::to_string(numel));
  }

  V reduce(const V& callable, const V& args, const char* op) {
    if (args->kind != Kind::Tuple) fail(std::string(op) + " arguments are a " + kind_name(args->kind) + ", not a tuple");
    if (callable->kind != Kind::Global)
      fail(std::string(op) + " calls a " + kind_name(callable->kind));
    V out;
    if (callable->s == "torch._utils._rebuild_tensor_v2") {
      check_tensor_rebuild(args);
      out = make(Kind::Tensor);
      out->depth = 1;
    } else {
      out = container(Kind::Object, args->items);
    }
    return out;
  }

  // One opcode; true at STOP.
  bool step(unsigned char op) {
    switch (op) {
      case 0x80: {  // PROTO
        const uint64_t p = le(1);
        if (p > 5) fail("pickle protocol " + std::to_string(p) + " is unknown");
        return false;
      }
      case 0x95: le(8); return false;  // FRAME (a hint only)
      case '.': return true;           // STOP
      case '(': marks_.push_back(stack_.size()); return false;
      case '0': pop("POP"); return false;
      case '1': pop_mark("POP_MARK"); return false;
      case '2': push(top("DUP")); return false;
      case 'N': push(make(Kind::None)); return false;
      case 0x88:
      case 0x89: {
        V b = make(Kind::Bool);
        b->i = op == 0x88;
        push(b);
        return false;
      }
      case 'J': case 'K': case 'M': {  // BININT (signed 4), BININT1, BININT2 (unsigned)
        V v = make(Kind::Int);
        v->i = op == 'J' ? static_cast<int32_t>(le(4)) : static_cast<int64_t>(le(op == 'K' ? 1 : 2));
        push(v);
        return false;
      }
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const uint64_t k = le(1);
        if (k > 8) fail("an integer of " + std::to_string(k) + " bytes (LibTorch reads at most 8)");
        const unsigned char* p = take(k);
        uint64_t u = 0;
        for (int b = static_cast<int>(k) - 1; b >= 0; --b) u = (u << 8) | p[b];
        if (k > 0 && k < 8 && (p[k - 1] & 0x80)) u |= ~uint64_t{0} << (8 * k);  // sign-extend
        V v = make(Kind::Int);
        v->i = static_cast<int64_t>(u);
        push(v);
        return false;
      }
      case 'G': take(8); push(make(Kind::Float)); return false;  // BINFLOAT
      case 'X': push(text(Kind::Str, le(4))); return false;      // BINUNICODE
      case 0x8c: push(text(Kind::Str, le(1))); return false;     // SHORT_BINUNICODE
      case 0x8d: push(text(Kind::Str, le(8))); return false;     // BINUNICODE8
      case 'U': push(text(Kind::Str, le(1))); return false;      // SHORT_BINSTRING
      case 'T': {                                                // BINSTRING (signed 4-byte length)
        const int64_t len = static_cast<int32_t>(le(4));
        if (len < 0) fail("a string has a negative length");
        push(text(Kind::Str, static_cast<uint64_t>(len)));
        return false;
      }
      case 'C': push(text(Kind::Bytes, le(1))); return false;  // SHORT_BINBYTES
      case 'B': push(text(Kind::Bytes, le(4))); return false;  // BINBYTES
      case 0x8e: push(text(Kind::Bytes, le(8))); return false;  // BINBYTES8
      case ')': push(container(Kind::Tuple, {})); return false;
      case 't': push(container(Kind::Tuple, pop_mark("TUPLE"))); return false;
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        const int k = op - 0x84;
        std::vector<V> items(k);
        for (int j = k - 1; j >= 0; --j) items[j] = pop("TUPLEn");
        push(container(Kind::Tuple, items));
        return false;
      }
      case ']': push(container(Kind::List, {})); return false;
      case '}': push(container(Kind::Dict, {})); return false;
      case 'l': push(container(Kind::List, pop_mark("LIST"))); return false;
      case 'd': {
        auto items = pop_mark("DICT");
        if (items.size() % 2) fail("DICT with an odd number of items");
        push(container(Kind::Dict, items));
        return false;
      }
      case 'a': {  // APPEND
        V v = pop("APPEND");
        V& list = top("APPEND");
        if (list->kind != Kind::List && list->kind != Kind::Object) fail(std::string("APPEND to a ") + kind_name(list->kind));
        nest(*list, *v);
        return false;
      }
      case 's': {  // SETITEM
        V v = pop("SETITEM");
        V k = pop("SETITEM");
        V& dict = top("SETITEM");
        if (dict->kind != Kind::Dict && dict->kind != Kind::Object) fail(std::string("SETITEM on a ") + kind_name(dict->kind));
        nest(*dict, *v);
        nest(*dict, *k);
        return false;
      }
      case 'e':    // APPENDS
      case 'u': {  // SETITEMS
        const char* name = op == 'e' ? "APPENDS" : "SETITEMS";
        auto items = pop_mark(name);
        V& target = top(name);
        const Kind want = op == 'e' ? Kind::List : Kind::Dict;
        if (target->kind != want && target->kind != Kind::Object) fail(std::string(name) + " on a " + kind_name(target->kind));
        if (op == 'u' && items.size() % 2) fail("SETITEMS with an odd number of items");
        for (const auto& v : items) nest(*target, *v);
        return false;
      }
      case 'h': get(le(1)); return false;  // BINGET
      case 'j': get(le(4)); return false;  // LONG_BINGET
      case 'q': put(le(1)); return false;  // BINPUT
      case 'r': put(le(4)); return false;  // LONG_BINPUT
      case 0x94: put(memo_.size()); return false;  // MEMOIZE
      case 'c': {  // GLOBAL
        std::string module = line();
        std::string name = line();
        V g = make(Kind::Global);
        g->s = module + "." + name;
        push(g);
        return false;
      }
      case 0x93: {  // STACK_GLOBAL
        V name = pop("STACK_GLOBAL"), module = pop("STACK_GLOBAL");
        if (name->kind != Kind::Str || module->kind != Kind::Str) fail("STACK_GLOBAL of non-strings");
        V g = make(Kind::Global);
        g->s = module->s + "." + name->s;
        push(g);
        return false;
      }
      case 'R': {  // REDUCE
        V args = pop("REDUCE");
        V callable = pop("REDUCE");
        push(reduce(callable, args, "REDUCE"));
        return false;
      }
      case 0x81: {  // NEWOBJ
        V args = pop("NEWOBJ");
        V cls = pop("NEWOBJ");
        push(reduce(cls, args, "NEWOBJ"));
        return false;
      }
      case 'b': {  // BUILD
        V state = pop("BUILD");
        V& obj = top("BUILD");
        if (obj->kind == Kind::Tensor || obj->kind == Kind::Object || obj->kind == Kind::Dict || obj->kind == Kind::List) {
          nest(*obj, *state);
        } else {
          fail(std::string("BUILD on a ") + kind_name(obj->kind));
        }
        return false;
      }
      case 'Q': {  // BINPERSID
        V pid = pop("BINPERSID");
        push(persistent_load(pid));
        return false;
      }
      default: break;
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", op);
    fail(std::string("opcode ") + hex + " is not one torch.save writes");
  }

  const unsigned char* d_;
  size_t n_;
  size_t pos_ = 0, op_at_ = 0;
  const std::function<std::optional<uint64_t>(const std::string&)>& record_size_;
  const std::string& origin_;
  std::vector<V> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, V> memo_;
};

}  // namespace

void verify_torch_pickle(const unsigned char* data, size_t size,
                         const std::function<std::optional<uint64_t>(const std::string& key)>& record_size,
                         const std::string& origin) {
  Machine(data, size, record_size, origin).run();
}

}  // namespace yolonas
