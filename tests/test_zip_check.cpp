// The archive check that runs before any checkpoint is unpickled.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "test_util.h"
#include "yolonas/core/error.h"
#include "yolonas/core/pickle_check.h"
#include "yolonas/core/zip_check.h"

using namespace yolonas;
using namespace std::string_literals;  // "...\x00..."s keeps the NUL bytes of a pickle

namespace {
std::vector<char> tiny_bytes() {
  std::ifstream f(yolonas::test::tiny_dir() + "/tiny_det.pth", std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
std::string message(const std::vector<char>& d) {
  try {
    verify_zip_archive(d, "x.pth");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(ZipCheck, AcceptsTorchSaveArchive) {
  auto recs = verify_zip_archive(tiny_bytes(), "tiny_det.pth");
  ASSERT_EQ(recs.size(), 693u);  // data.pkl + 691 storages + version
  EXPECT_EQ(recs[0].name, "tiny_det/data.pkl");
  EXPECT_EQ(recs[0].size, 96241u);
}

TEST(ZipCheck, TruncatedFileIsReported) {
  auto d = tiny_bytes();
  d.resize(d.size() / 2);
  EXPECT_NE(message(d).find("cut short"), std::string::npos) << message(d);
  d.resize(10);
  EXPECT_NE(message(d).find("too short"), std::string::npos);
}

TEST(ZipCheck, FlippedBytesFailTheCrc) {
  auto d = tiny_bytes();
  d[1000] ^= 0x01;  // inside data.pkl
  EXPECT_NE(message(d).find("'tiny_det/data.pkl' fails its CRC-32"), std::string::npos) << message(d);
  auto e = tiny_bytes();
  e[e.size() / 2] ^= 0x40;  // inside a tensor storage
  EXPECT_NE(message(e).find("CRC-32"), std::string::npos) << message(e);
}

// --- Overflow-safe bounds (fuzzing found a 150-byte zip64 file whose size field wrapped) ----------

TEST(ZipCheck, Zip64SizeNear2To64DoesNotWrap) {
  std::ifstream f(yolonas::test::data_dir() + "/bad_inputs/zip64_wrap_usize.pth", std::ios::binary);
  std::vector<char> d((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(d.size(), 150u);
  EXPECT_NE(message(d).find("runs past the end of the file"), std::string::npos) << message(d);
}

// --- The pickle stream (data.pkl) is checked before LibTorch's unpickler sees it ------------------

namespace {
// A pickle assembled from pieces; record sizes come from `records`.
std::string pickle_message(const std::string& pkl, std::map<std::string, uint64_t> records = {}) {
  try {
    verify_torch_pickle(reinterpret_cast<const unsigned char*>(pkl.data()), pkl.size(),
                        [&](const std::string& k) -> std::optional<uint64_t> {
                          auto it = records.find(k);
                          if (it == records.end()) return std::nullopt;
                          return it->second;
                        },
                        "x.pth");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
std::string unicode(const std::string& s) {  // BINUNICODE
  const uint32_t n = static_cast<uint32_t>(s.size());
  return std::string("X") + char(n & 0xff) + char((n >> 8) & 0xff) + char((n >> 16) & 0xff) + char(n >> 24) + s;
}
// ('storage', torch.FloatStorage, key, 'cpu', numel) as torch.save writes it, then BINPERSID.
std::string storage(const std::string& key, unsigned char numel) {
  return "(" + unicode("storage") + "ctorch\nFloatStorage\n" + unicode(key) + unicode("cpu") + "K" + char(numel) + "tQ";
}
// torch._utils._rebuild_tensor_v2(storage, 0, (size,), (1,), False, {})
std::string tensor(const std::string& key, unsigned char numel, unsigned char size) {
  return std::string("ctorch._utils\n_rebuild_tensor_v2\n(") + storage(key, numel) + "K\x00K"s + char(size) +
         "\x85K\x01\x85\x89}tR";
}
const std::string kHead = "\x80\x02";
}  // namespace

TEST(PickleCheck, AcceptsWhatTorchSaveWrites) {
  // Real files: our tiny checkpoint (torch::pickle_save) and, with the golden data, SG's own S checkpoint.
  EXPECT_EQ(verify_torch_archive(tiny_bytes(), "tiny_det.pth").size(), 693u);
  EXPECT_EQ(pickle_message(kHead + "}q\x00"s + unicode("w") + tensor("0", 96, 96) + "s.", {{"0", 384}}), "");
  EXPECT_EQ(pickle_message(kHead + "]q\x00(K\x01K\x02"s + "\x8a\x02\xff\x7f" + "G" + std::string(8, '\0') + "e.", {}), "");
}

TEST(PickleCheck, ReduceOnAnEmptyStack) {
  // \x80\x02R. crashed torch::pickle_load with SIGSEGV.
  EXPECT_NE(pickle_message(kHead + "R.").find("byte 2): REDUCE on an empty stack"), std::string::npos)
      << pickle_message(kHead + "R.");
  std::ifstream f(yolonas::test::data_dir() + "/bad_inputs/stack_underflow.pth", std::ios::binary);
  std::vector<char> d((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  try {
    verify_torch_archive(d, "stack_underflow.pth");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stack_underflow.pth"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("REDUCE on an empty stack"), std::string::npos) << e.what();
  }
  // Items below a MARK are out of reach, as in Python's unpickler.
  EXPECT_NE(pickle_message(kHead + "N(R.").find("REDUCE on an empty stack"), std::string::npos);
  EXPECT_NE(pickle_message(kHead + "Nt.").find("TUPLE without a MARK"), std::string::npos);
}

TEST(PickleCheck, HugeMemoIndexIsRefused) {
  // LONG_BINPUT 0x510005bb made LibTorch resize its memo table to 1.36e9 entries (> 20 GB).
  const std::string bomb = kHead + "}r\xbb\x05\x00\x51."s;
  EXPECT_NE(pickle_message(bomb).find("memo index 1358955963 is larger than the stream"), std::string::npos)
      << pickle_message(bomb);
  EXPECT_EQ(pickle_message(kHead + "}r\x00\x00\x00\x00"s + "0h\x00."s), "");
  EXPECT_NE(pickle_message(kHead + "h\x03.").find("memo GET of index 3, which was never PUT"), std::string::npos);
}

TEST(PickleCheck, StorageCountMustMatchItsRecord) {
  // One element count changed (96 -> 68): the record still holds 96 floats.
  const std::string p = kHead + tensor("392", 68, 68) + ".";
  EXPECT_NE(pickle_message(p, {{"392", 384}}).find("storage '392' claims 68 elements of 4 bytes, but its record holds 384 bytes"),
            std::string::npos)
      << pickle_message(p, {{"392", 384}});
  EXPECT_NE(pickle_message(kHead + tensor("7", 96, 96) + ".", {}).find("storage '7' has no data record"),
            std::string::npos);
  // A tensor that reaches past its storage (97 elements of a 96-element storage).
  EXPECT_NE(pickle_message(kHead + tensor("0", 96, 97) + ".", {{"0", 384}}).find("reaches element 96 of storage '0'"),
            std::string::npos);
  EXPECT_NE(pickle_message(kHead + "(" + unicode("storage") + "ctorch\nEvilStorage\n" + unicode("0") + unicode("cpu") +
                           "K\x01tQ.", {{"0", 1}})
                .find("unknown storage type 'torch.EvilStorage'"),
            std::string::npos);
}

TEST(PickleCheck, RealBadCheckpointFromTheFuzzingPass) {
  // The 19 MB file is not copied into the repository: it is the default model with one byte changed.
  const std::string path = yolonas::test::golden_dir() + "/../bad_inputs/pickle_count_96_to_68.pth";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found";
  std::ifstream f(path, std::ios::binary);
  std::vector<char> d((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  try {
    verify_torch_archive(d, path);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("storage '392' claims 68 elements"), std::string::npos) << e.what();
  }
}

TEST(PickleCheck, MalformedStreams) {
  EXPECT_NE(pickle_message(kHead + "N").find("ends without a STOP"), std::string::npos);
  EXPECT_NE(pickle_message(kHead + "X\xff\xff\xff\x7f" "abc.").find("runs past the end of the stream"), std::string::npos);
  EXPECT_NE(pickle_message(kHead + "NN.").find("STOP leaves 2 values"), std::string::npos);
  EXPECT_NE(pickle_message(kHead + "Vabc\n.").find("opcode 0x56 is not one torch.save writes"), std::string::npos);
  EXPECT_NE(pickle_message(kHead + "\x8a\x09" + std::string(9, '\x01') + ".").find("at most 8"), std::string::npos);
  EXPECT_NE(pickle_message(kHead + "KaK\x01" "a.").find("APPEND to a int"), std::string::npos);
  EXPECT_NE(pickle_message(kHead + "cos\nsystem\nK\x01R.").find("REDUCE arguments are a int, not a tuple"),
            std::string::npos);
}

TEST(PickleCheck, DeepNestingIsRefused) {
  // 5000 lists appended into each other: LibTorch would free them recursively.
  std::string p = kHead;
  for (int i = 0; i < 5000; ++i) p += "]";
  for (int i = 0; i < 4999; ++i) p += "a";
  p += ".";
  EXPECT_NE(pickle_message(p).find("nested deeper than 1000 levels"), std::string::npos) << pickle_message(p);
  std::string t = kHead;
  for (int i = 0; i < 2000; ++i) t += "(";
  t += "N";
  for (int i = 0; i < 2000; ++i) t += "t";
  t += ".";
  EXPECT_NE(pickle_message(t).find("nested deeper than 1000 levels"), std::string::npos);
}
