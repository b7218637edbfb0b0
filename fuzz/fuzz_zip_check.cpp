// The checks a checkpoint passes before LibTorch unpickles it: verify_zip_archive() on the whole
// file, and verify_torch_archive(): the same plus verify_torch_pickle() on the archive's data.pkl
// against its storage records.
//
// The CRC check stops almost every mutation of a zip before it reaches data.pkl, so an input that
// does not start with a zip signature ("PK") is also fed to verify_torch_pickle() directly, as a
// bare data.pkl whose storage records all hold kBareRecordBytes bytes.
//
// To add another pre-check: write a function like check_archive() below and call it from
// LLVMFuzzerTestOneInput, catching yolonas::Error only.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "yolonas/core/error.h"
#include "yolonas/core/zip_check.h"
#include "yolonas/core/pickle_check.h"

using namespace yolonas;

namespace {

// Every record returned lies inside the file.
void check_records(const std::vector<char>& bytes, const std::vector<ZipRecord>& records) {
  for (const ZipRecord& r : records) FUZZ_CHECK(r.offset <= bytes.size() && r.size <= bytes.size() - r.offset);
}

void check_archive(const std::vector<char>& bytes) {
  std::vector<ZipRecord> zip;
  try {
    zip = verify_zip_archive(bytes, "fuzz.pth");
    check_records(bytes, zip);
  } catch (const Error&) {
    return;  // verify_torch_archive() starts with the same check
  }
  try {
    const std::vector<ZipRecord> torch = verify_torch_archive(bytes, "fuzz.pth");
    FUZZ_CHECK(torch.size() == zip.size());
  } catch (const Error&) {
  }
}

constexpr uint64_t kBareRecordBytes = 64;

void check_bare_pickle(const uint8_t* data, size_t size) {
  try {
    verify_torch_pickle(data, size, [](const std::string&) { return std::optional<uint64_t>(kBareRecordBytes); },
                        "fuzz.pkl");
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_archive(std::vector<char>(data, data + size));
  if (size < 2 || std::memcmp(data, "PK", 2) != 0) check_bare_pickle(data, size);
  return 0;
}
