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
  size_t size = 0;     // bytes in the archive (the data's size for stored records)
  bool stored = true;  // false: deflated (allowed only with allow_deflated; its CRC is not checked)
};

// Throws yolonas::Error naming `origin` and the problem. Returns the records in directory order.
std::vector<ZipRecord> verify_zip_archive(const std::vector<char>& data, const std::string& origin,
                                          bool allow_deflated = false);

// The whole pre-check of a torch.save file: verify_zip_archive, then verify_torch_pickle
// (pickle_check.h) on `<archive>/data.pkl` against the `<archive>/data/<key>` storage records, so
// that nothing the file claims is allocated before it has been checked against the archive.
// allow_deflated: torch::serialize (TorchScript) archives, e.g. the optimizer state inside our training
// checkpoints, deflate their code records; their data.pkl must still be stored.
std::vector<ZipRecord> verify_torch_archive(const std::vector<char>& data, const std::string& origin,
                                            bool allow_deflated = false);

}  // namespace yolonas
