// Integrity check of a torch.save zip archive before it is unpickled: the central directory must
// be well-formed, every record in bounds, stored (uncompressed, as torch writes them) and matching
// its CRC-32. A truncated or bit-flipped checkpoint then fails fast with a precise message instead
// of reaching the unpickler (which can try to allocate gigabytes on a corrupted length field).
#pragma once
#include <string>
#include <vector>

namespace yolonas {

struct ZipRecord {
  std::string name;
  size_t offset = 0;  // of the data within the archive
  size_t size = 0;
};

// Throws yolonas::Error naming `origin` and the problem. Returns the records in directory order.
std::vector<ZipRecord> verify_zip_archive(const std::vector<char>& data, const std::string& origin);

}  // namespace yolonas
