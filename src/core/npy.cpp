// NumPy .npy reader/writer. Only what the golden data and our debug dumps need: format versions
// 1.0/2.0/3.0, little-endian (or byte-order-free) numeric dtypes. Fortran-order files (which np.save
// writes for F-contiguous arrays, e.g. some golden [1,8400,80] score tensors) are reordered to C order.
// Format reference: numpy/lib/format.py (magic "\x93NUMPY", major, minor, header length as uint16
// for v1 or uint32 for v2+, then an ASCII Python dict literal padded with spaces and ending in '\n').
#include "yolonas/core/npy.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "yolonas/core/error.h"

namespace yolonas {
namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("npy file '" + path + "': " + what);
}

// Bytes per element for the dtypes we understand; 0 for anything else.
size_t dtype_size(const std::string& d) {
  if (d == "<f4" || d == "<i4") return 4;
  if (d == "<f8" || d == "<i8") return 8;
  if (d == "|u1" || d == "|b1") return 1;
  return 0;
}

// Returns the text of the value that follows 'key': in the header dict (up to the next top-level ','
// or '}'), or throws when the key is absent.
std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  const std::string quoted = "'" + key + "'";
  size_t pos = header.find(quoted);
  if (pos == std::string::npos) fail(path, "header has no '" + key + "' entry");
  pos = header.find(':', pos + quoted.size());
  if (pos == std::string::npos) fail(path, "malformed header entry '" + key + "'");
  ++pos;
  int depth = 0;  // a shape tuple contains commas, so only stop at a comma outside parentheses
  size_t end = pos;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  std::string v = header.substr(pos, end - pos);
  const size_t b = v.find_first_not_of(" \t");
  const size_t e = v.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
}

std::string parse_descr(const std::string& header, const std::string& path) {
  std::string v = dict_value(header, "descr", path);
  if (v.size() < 2 || v.front() != '\'' || v.back() != '\'') fail(path, "malformed 'descr' " + v);
  v = v.substr(1, v.size() - 2);
  // A single byte has no byte order; numpy writes '|' but accept '<' too.
  if (v == "<u1") v = "|u1";
  if (v == "<b1") v = "|b1";
  if (dtype_size(v) == 0)
    fail(path, "unsupported dtype '" + v + "' (supported: <f4, <f8, <i4, <i8, |u1, |b1; little-endian only)");
  return v;
}

std::vector<int64_t> parse_shape(const std::string& header, const std::string& path) {
  const std::string v = dict_value(header, "shape", path);
  if (v.size() < 2 || v.front() != '(' || v.back() != ')') fail(path, "malformed 'shape' " + v);
  std::vector<int64_t> shape;
  std::stringstream ss(v.substr(1, v.size() - 2));
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t b = item.find_first_not_of(" \t");
    if (b == std::string::npos) continue;  // trailing comma of a 1-tuple "(3,)"
    try {
      size_t used = 0;
      const long long d = std::stoll(item.substr(b), &used);
      if (d < 0) throw std::invalid_argument("negative");
      shape.push_back(d);
    } catch (const std::exception&) {
      fail(path, "malformed 'shape' " + v);
    }
  }
  return shape;
}

// numpy writes an F-contiguous array (for example a permuted torch tensor with batch 1) with
// fortran_order True: the first index varies fastest. Reorder the bytes to C order.
// The element count of a shape: 0 when any dimension is 0 (whatever the others), else the product,
// which must fit int64 (load_npy has checked it against the file's size).
int64_t element_count(const std::vector<int64_t>& shape) {
  for (int64_t d : shape)
    if (d == 0) return 0;
  int64_t n = 1;  // a 0-d array holds one element
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) throw Error("npy: the shape's element count overflows int64");
  return n;
}

std::vector<char> fortran_to_c(const std::vector<char>& f, const std::vector<int64_t>& shape, size_t item) {
  const size_t nd = shape.size();
  const int64_t n = element_count(shape);
  if (n == 0 || nd < 2) return f;  // 0-d and 1-d arrays are laid out the same either way
  std::vector<char> c(f.size());
  std::vector<int64_t> f_stride(nd);  // in elements
  int64_t s = 1;
  for (size_t k = 0; k < nd; ++k) {
    f_stride[k] = s;
    s *= shape[k];
  }
  std::vector<int64_t> idx(nd, 0);
  int64_t f_off = 0;
  for (int64_t ci = 0; ci < n; ++ci) {
    std::memcpy(c.data() + ci * item, f.data() + f_off * item, item);
    // Advance the C-order multi-index (last dimension fastest), keeping the Fortran offset in step.
    for (size_t k = nd; k-- > 0;) {
      if (++idx[k] < shape[k]) {
        f_off += f_stride[k];
        break;
      }
      f_off -= (shape[k] - 1) * f_stride[k];
      idx[k] = 0;
    }
  }
  return c;
}

template <typename Out>
std::vector<Out> convert(const NpyArray& a) {
  const int64_t n = a.numel();
  std::vector<Out> out(static_cast<size_t>(n));
  const char* p = a.data.data();
  // memcpy per element: the byte buffer has no alignment guarantee for the element type.
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, p + i * sizeof(T), sizeof(T));
      if constexpr (std::is_floating_point_v<T> && std::is_integral_v<Out>) {
        // NaN, inf or a value beyond the integer type would be undefined behaviour in the cast.
        if (!(v >= static_cast<T>(std::numeric_limits<Out>::min()) && v < -static_cast<T>(std::numeric_limits<Out>::min())))
          throw Error("npy: value " + std::to_string(v) + " at element " + std::to_string(i) + " is not a valid integer");
      }
      out[i] = static_cast<Out>(v);
    }
  };
  if (a.dtype == "<f4") fill(float{});
  else if (a.dtype == "<f8") fill(double{});
  else if (a.dtype == "<i8") fill(int64_t{});
  else if (a.dtype == "<i4") fill(int32_t{});
  else if (a.dtype == "|u1") fill(uint8_t{});
  else if (a.dtype == "|b1") {  // any non-zero byte is true (a byte other than 0/1 in a bool is UB)
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<Out>(p[i] != 0);
  }
  else throw Error("npy: cannot convert dtype '" + a.dtype + "'");
  return out;
}

}  // namespace

// A zero dimension anywhere means no elements, whatever the others (load_npy accepts (2^61, 4, 0)).
int64_t NpyArray::numel() const { return element_count(shape); }

size_t NpyArray::item_size() const { return dtype_size(dtype); }

std::vector<float> NpyArray::to_float() const { return convert<float>(*this); }
std::vector<double> NpyArray::to_double() const { return convert<double>(*this); }
std::vector<int64_t> NpyArray::to_int64() const { return convert<int64_t>(*this); }

NpyArray load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open (missing file or no permission)");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());

  if (bytes.size() < kMagicLen + 2 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    fail(path, "not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    if (bytes.size() < 10) fail(path, "truncated header");
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(path, "truncated header");
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
    header_start = 12;
  } else {
    fail(path, "unsupported format version " + std::to_string(major));
  }
  if (bytes.size() < header_start + header_len) fail(path, "truncated header");
  const std::string header(bytes.data() + header_start, header_len);

  NpyArray a;
  a.dtype = parse_descr(header, path);
  const std::string fortran = dict_value(header, "fortran_order", path);
  if (fortran != "True" && fortran != "False") fail(path, "malformed 'fortran_order' " + fortran);
  a.shape = parse_shape(header, path);
  // The element count must fit what the file holds before anything multiplies it: a shape like
  // (2, 4294967296, 43009213) overflows int64, and numel * item_size can wrap to a small number.
  {
    const uint64_t cap = (bytes.size() - (header_start + header_len)) / std::max<size_t>(a.item_size(), 1);
    uint64_t n = 1;
    for (int64_t d : a.shape) {
      if (d < 0) fail(path, "negative dimension in 'shape'");
      if (d == 0) { n = 0; break; }
      if (static_cast<uint64_t>(d) > cap || n > cap / static_cast<uint64_t>(d)) n = cap + 1;
      else n *= static_cast<uint64_t>(d);
    }
    if (n > cap) fail(path, "truncated data: the shape claims more elements than the file holds");
  }

  const size_t data_start = header_start + header_len;
  const size_t need = static_cast<size_t>(a.numel()) * a.item_size();
  const size_t have = bytes.size() - data_start;
  if (have < need)
    fail(path, "truncated data: expected " + std::to_string(need) + " bytes, file has " + std::to_string(have));
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_start),
                bytes.begin() + static_cast<std::ptrdiff_t>(data_start + need));
  if (fortran == "True") a.data = fortran_to_c(a.data, a.shape, a.item_size());
  return a;
}

void save_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape) {
  const int64_t n = element_count(shape);  // the same overflow-checked count as the reader's
  if (n != static_cast<int64_t>(data.size()))
    throw Error("save_npy '" + path + "': shape holds " + std::to_string(n) + " elements but data has " +
                std::to_string(data.size()));

  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // "(3,)" for 1-d, "(2, 3)" otherwise, "()" for 0-d
  else if (shape.size() == 1) dims.resize(dims.size() - 1);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Like numpy: pad with spaces so that magic + version + length + header is a multiple of 64, end in '\n'.
  const size_t unpadded = kMagicLen + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  if (header.size() > 65535) throw Error("save_npy '" + path + "': header too long for format 1.0");

  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error("save_npy: cannot write '" + path + "'");
  f.write(kMagic, kMagicLen);
  const char version[2] = {1, 0};
  f.write(version, 2);
  const char len[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>((header.size() >> 8) & 0xff)};
  f.write(len, 2);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  // The host is little-endian (x86-64/aarch64), which is what '<f4' promises.
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(float)));
  if (!f) throw Error("save_npy: write failed for '" + path + "'");
}

}  // namespace yolonas
