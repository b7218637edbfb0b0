#include "yolonas/core/zip_check.h"

#include <zlib.h>

#include <cstdint>
#include <algorithm>
#include <map>
#include <cstring>

#include "yolonas/core/error.h"
#include "yolonas/core/pickle_check.h"

namespace yolonas {
namespace {

uint16_t rd16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t rd32(const unsigned char* p) { return rd16(p) | (static_cast<uint32_t>(rd16(p + 2)) << 16); }
uint64_t rd64(const unsigned char* p) { return rd32(p) | (static_cast<uint64_t>(rd32(p + 4)) << 32); }

constexpr uint32_t kEocdSig = 0x06054b50, kZip64LocSig = 0x07064b50, kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;

// `len` bytes starting at `off` lie inside a buffer of `n` bytes. Written so that no sum can wrap:
// zip64 fields are attacker-controlled 64-bit values (a size near 2^64 made `off + len` wrap).
bool fits(uint64_t off, uint64_t len, uint64_t n) { return off <= n && len <= n - off; }

}  // namespace

std::vector<ZipRecord> verify_zip_archive(const std::vector<char>& bytes, const std::string& origin, bool allow_deflated) {
  const auto* d = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  auto corrupt = [&](const std::string& what) -> Error {
    return Error(origin + ": checkpoint is truncated or corrupt (" + what + ")");
  };
  if (n < 22) throw corrupt("file too short");

  // End of central directory: the last signature within the final 64 KiB + 22 bytes.
  size_t eocd = std::string::npos;
  const size_t lo = n > 65557 ? n - 65557 : 0;
  for (size_t i = n - 22 + 1; i-- > lo;)
    if (rd32(d + i) == kEocdSig) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) throw corrupt("no end-of-central-directory record; the file was cut short");

  uint64_t count = rd16(d + eocd + 10), cd_size = rd32(d + eocd + 12), cd_off = rd32(d + eocd + 16);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {  // zip64
    if (eocd < 20 || rd32(d + eocd - 20) != kZip64LocSig) throw corrupt("zip64 locator missing");
    const uint64_t z64 = rd64(d + eocd - 20 + 8);
    if (!fits(z64, 56, n) || rd32(d + z64) != kZip64EocdSig) throw corrupt("zip64 directory record missing");
    count = rd64(d + z64 + 32);
    cd_size = rd64(d + z64 + 40);
    cd_off = rd64(d + z64 + 48);
  }
  if (!fits(cd_off, cd_size, n)) throw corrupt("central directory outside the file");

  std::vector<ZipRecord> out;
  size_t p = cd_off;
  for (uint64_t i = 0; i < count; ++i) {
    if (!fits(p, 46, n) || rd32(d + p) != kCentralSig) throw corrupt("bad central directory entry " + std::to_string(i));
    const uint16_t method = rd16(d + p + 10);
    const uint32_t crc = rd32(d + p + 16);
    uint64_t csize = rd32(d + p + 20), usize = rd32(d + p + 24);
    const uint16_t name_len = rd16(d + p + 28), extra_len = rd16(d + p + 30), comment_len = rd16(d + p + 32);
    uint64_t local = rd32(d + p + 42);
    if (!fits(p + 46, uint64_t{name_len} + extra_len, n)) throw corrupt("central directory entry runs past the end");
    ZipRecord r;
    r.name.assign(reinterpret_cast<const char*>(d + p + 46), name_len);
    // zip64 extra field (id 1) carries the 64-bit values that are 0xFFFFFFFF above, in this order.
    const size_t extra_end = p + 46 + name_len + extra_len;
    for (size_t e = p + 46 + name_len; e + 4 <= extra_end;) {
      const uint16_t id = rd16(d + e), len = rd16(d + e + 2);
      const size_t field_end = std::min<size_t>(e + 4 + len, extra_end);  // a field may claim more than is there
      if (id == 1) {
        size_t q = e + 4;
        if (usize == 0xFFFFFFFF && q + 8 <= field_end) usize = rd64(d + q), q += 8;
        if (csize == 0xFFFFFFFF && q + 8 <= field_end) csize = rd64(d + q), q += 8;
        if (local == 0xFFFFFFFF && q + 8 <= field_end) local = rd64(d + q);
      }
      e += 4 + len;
    }
    // torch.save writes every record stored; torch::serialize archives (TorchScript) deflate their code.
    const bool deflated = method == 8 && allow_deflated;
    if (method != 0 && !deflated)
      throw corrupt("record '" + clip(r.name) + "' is compressed; torch.save writes stored records");
    if (!deflated && csize != usize) throw corrupt("record '" + clip(r.name) + "' has inconsistent sizes");
    if (!fits(local, 30, n) || rd32(d + local) != kLocalSig)
      throw corrupt("record '" + clip(r.name) + "' has no local header");
    const uint64_t data_off = local + 30 + rd16(d + local + 26) + rd16(d + local + 28);  // local + 30 <= n: no wrap
    if (!fits(data_off, csize, n)) throw corrupt("record '" + clip(r.name) + "' runs past the end of the file");
    r.offset = data_off;
    r.size = csize;
    r.stored = !deflated;
    if (deflated) {  // its CRC covers the inflated bytes: bounds only (LibTorch inflates with its own checks)
      out.push_back(r);
      p += 46 + name_len + extra_len + comment_len;
      continue;
    }
    uLong c = crc32(0L, Z_NULL, 0);
    // zlib's crc32 takes a uInt length: feed large records in chunks.
    for (uint64_t off = 0; off < usize;) {
      const uInt chunk = static_cast<uInt>(std::min<uint64_t>(usize - off, 1u << 30));
      c = crc32(c, d + data_off + off, chunk);
      off += chunk;
    }
    if (static_cast<uint32_t>(c) != crc) throw corrupt("record '" + clip(r.name) + "' fails its CRC-32 check");
    r.offset = data_off;
    r.size = usize;
    out.push_back(r);
    p += 46 + name_len + extra_len + comment_len;
  }
  return out;
}

std::vector<ZipRecord> verify_torch_archive(const std::vector<char>& bytes, const std::string& origin,
                                            bool allow_deflated) {
  std::vector<ZipRecord> records = verify_zip_archive(bytes, origin, allow_deflated);
  // Like LibTorch's PyTorchStreamReader: the archive's name is the first record's folder.
  if (records.empty()) throw Error(origin + ": checkpoint archive is empty");
  const std::string& first = records.front().name;
  const std::string prefix = first.substr(0, first.find('/')) + "/";
  std::map<std::string, const ZipRecord*> by_name;
  for (const auto& r : records) by_name.emplace(r.name, &r);
  auto pkl = by_name.find(prefix + "data.pkl");
  if (pkl == by_name.end())
    throw Error(origin + ": not a torch.save checkpoint (the archive has no " + clip(prefix) + "data.pkl)");
  if (!pkl->second->stored) throw Error(origin + ": checkpoint is truncated or corrupt (its data.pkl is compressed)");
  const auto* d = reinterpret_cast<const unsigned char*>(bytes.data());
  verify_torch_pickle(
      d + pkl->second->offset, pkl->second->size,
      [&](const std::string& key) -> std::optional<uint64_t> {
        auto it = by_name.find(prefix + "data/" + key);
        if (it == by_name.end()) return std::nullopt;
        return it->second->size;
      },
      origin);
  return records;
}

}  // namespace yolonas
