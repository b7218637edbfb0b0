// Minimal NumPy .npy reader/writer (format 1.0/2.0, little-endian): float32, float64, int64, int32,
// uint8, bool. Fortran-order files are reordered on load, so `data` is always C order. save_npy writes
// float32, format 1.0, C order. Used for golden reference data and debugging dumps.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace yolonas {

struct NpyArray {
  std::string dtype;              // "<f4", "<f8", "<i8", "<i4", "|u1", "|b1"
  std::vector<int64_t> shape;
  std::vector<char> data;         // raw bytes, C order (also for fortran_order files)
  int64_t numel() const;
  size_t item_size() const;
  // Copies converted to the requested type (any numeric dtype accepted).
  std::vector<float> to_float() const;
  std::vector<double> to_double() const;
  std::vector<int64_t> to_int64() const;
};

// Throws yolonas::Error naming the file on any problem.
NpyArray load_npy(const std::string& path);
void save_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape);

}  // namespace yolonas
