// NumPy .npy reader: load_npy() (path only: the input goes to one file per process), then the
// dtype conversions the tests and tools call on what it returns.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "yolonas/core/error.h"
#include "yolonas/core/npy.h"

using namespace yolonas;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (yolonas_fuzz::scratch_dir("npy") / "array.npy").string();
  yolonas_fuzz::write_file(path, data, size);
  try {
    const NpyArray a = load_npy(path);
    FUZZ_CHECK(a.item_size() > 0);
    for (const int64_t d : a.shape) FUZZ_CHECK(d >= 0);
    // The data holds exactly numel items (the reader checked the file has them). Written so that
    // no product can wrap: numel * item_size overflowing size_t would hide a short file.
    FUZZ_CHECK(a.numel() >= 0);
    FUZZ_CHECK(a.data.size() % a.item_size() == 0);
    FUZZ_CHECK(static_cast<uint64_t>(a.numel()) == a.data.size() / a.item_size());
    if (a.numel() <= (1 << 16)) {
      FUZZ_CHECK(a.to_float().size() == static_cast<size_t>(a.numel()));
      FUZZ_CHECK(a.to_double().size() == static_cast<size_t>(a.numel()));
      FUZZ_CHECK(a.to_int64().size() == static_cast<size_t>(a.numel()));
    }
  } catch (const Error&) {
  }
  return 0;
}
