// Safety check of a torch.save pickle (`data.pkl`) before LibTorch's unpickler sees it.
//
// LibTorch trusts the stream: REDUCE on an empty stack crashes it, a LONG_BINPUT index of 2^30
// makes it resize its memo table to gigabytes, and a storage record's element count is taken as
// given. verify_torch_pickle() runs the stream on a symbolic stack machine that builds no objects
// and allocates at most a few bytes per opcode, and rejects, with the offset and the problem:
//   - unknown or unsupported opcodes, arguments that run past the end, a missing STOP;
//   - stack or mark underflow, a memo GET of an index never PUT, a memo index past the stream size;
//   - containers nested deeper than kMaxPickleDepth (LibTorch frees them recursively);
//   - persistent ids that are not ('storage', torch.<T>Storage, key, location, numel) with a known
//     storage type, whose record `<prefix>/data/<key>` is missing or holds other than numel
//     elements, and tensors (`_rebuild_tensor_v2`) whose sizes, strides and offset reach outside
//     their storage.
// Everything torch.save writes for a state_dict or an SG checkpoint passes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace yolonas {

constexpr int kMaxPickleDepth = 1000;

// record_size(key) gives the byte size of the archive record holding storage `key`, or nullopt.
// Throws yolonas::Error naming `origin`, the byte offset in data.pkl and the problem.
void verify_torch_pickle(const unsigned char* data, size_t size,
                         const std::function<std::optional<uint64_t>(const std::string& key)>& record_size,
                         const std::string& origin);

}  // namespace yolonas
