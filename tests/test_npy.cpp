// .npy reader/writer: real SuperGradients files of each dtype, round trips, and every error path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_util.h"
#include "yolonas/core/error.h"
#include "yolonas/core/npy.h"

namespace fs = std::filesystem;
using yolonas::Error;
using yolonas::load_npy;
using yolonas::NpyArray;
using yolonas::save_npy;
using yolonas::test::tiny_dir;

namespace {

std::string temp_path(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / "yolonas_test_npy";
  fs::create_directories(dir);
  return (dir / name).string();
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A hand-made .npy file: version 1 or 2 header around `header` (padded like numpy) plus raw data.
std::vector<char> make_npy(const std::string& header_dict, const std::vector<char>& data, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = header_dict;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::vector<char> out = {'\x93', 'N', 'U', 'M', 'P', 'Y', static_cast<char>(major), 0};
  const size_t len = header.size();
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>((len >> 8) & 0xff));
  if (major != 1) {
    out.push_back(static_cast<char>((len >> 16) & 0xff));
    out.push_back(static_cast<char>((len >> 24) & 0xff));
  }
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <typename T>
std::vector<char> raw(const std::vector<T>& v) {
  std::vector<char> out(v.size() * sizeof(T));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// Expects load_npy(path) to throw yolonas::Error whose message names the file and contains `what`.
void expect_load_error(const std::string& path, const std::string& what) {
  try {
    load_npy(path);
    ADD_FAILURE() << "load_npy(" << path << ") did not throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

}  // namespace

TEST(Npy, LoadsInt64GoldenFile) {
  const NpyArray a = load_npy(tiny_dir() + "/random_b2_96x128/eval_unfused/num_anchors_list.npy");
  EXPECT_EQ(a.dtype, "<i8");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(a.numel(), 3);
  EXPECT_EQ(a.item_size(), 8u);
  EXPECT_EQ(a.to_int64(), (std::vector<int64_t>{192, 48, 12}));
  EXPECT_EQ(a.to_float(), (std::vector<float>{192.f, 48.f, 12.f}));
  EXPECT_EQ(a.to_double(), (std::vector<double>{192.0, 48.0, 12.0}));
}

TEST(Npy, LoadsFloat32GoldenFile) {
  const NpyArray a = load_npy(tiny_dir() + "/random_b2_96x128/eval_unfused/pred_scores.npy");
  EXPECT_EQ(a.dtype, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 252, 3}));
  ASSERT_EQ(a.data.size(), 2u * 252 * 3 * 4);
  const std::vector<float> v = a.to_float();
  ASSERT_EQ(v.size(), 1512u);
  for (float s : v) {  // sigmoid outputs
    EXPECT_GT(s, 0.0f);
    EXPECT_LT(s, 1.0f);
  }
  // to_double is an exact widening of the same values.
  const std::vector<double> d = a.to_double();
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(d[i], static_cast<double>(v[i]));
}

TEST(Npy, LoadsZeroDimInt64) {
  const NpyArray a =
      load_npy(tiny_dir() + "/random_b2_96x128/train/bn_running_after_forward/"
                            "backbone.stem.conv.post_bn.num_batches_tracked.npy");
  EXPECT_EQ(a.dtype, "<i8");
  EXPECT_TRUE(a.shape.empty());
  EXPECT_EQ(a.numel(), 1);
  EXPECT_EQ(a.to_int64(), (std::vector<int64_t>{1}));  // one train-mode forward
}

TEST(Npy, LoadsHandMadeDtypes) {
  struct Case {
    std::string descr;
    std::vector<char> data;
    std::vector<double> expect;
  };
  const std::vector<Case> cases = {
      {"<f8", raw(std::vector<double>{1.5, -2.25}), {1.5, -2.25}},
      {"<i4", raw(std::vector<int32_t>{-7, 123456}), {-7, 123456}},
      {"|u1", raw(std::vector<uint8_t>{0, 255}), {0, 255}},
      {"|b1", raw(std::vector<uint8_t>{1, 0}), {1, 0}},
  };
  for (const Case& c : cases) {
    const std::string path = temp_path("dtype_" + std::to_string(&c - cases.data()) + ".npy");
    write_bytes(path, make_npy("{'descr': '" + c.descr + "', 'fortran_order': False, 'shape': (2,), }", c.data));
    const NpyArray a = load_npy(path);
    EXPECT_EQ(a.dtype, c.descr);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
    EXPECT_EQ(a.to_double(), c.expect) << c.descr;
  }
}

TEST(Npy, LoadsVersion2Header) {
  const std::string path = temp_path("v2.npy");
  write_bytes(path, make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }",
                             raw(std::vector<float>{3.0f, 4.0f}), 2));
  const NpyArray a = load_npy(path);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(a.to_float(), (std::vector<float>{3.0f, 4.0f}));
}

TEST(Npy, SaveLoadRoundTripIsBitExact) {
  const std::vector<float> data = {0.0f, -0.0f, 1.0f / 3.0f, 1e-38f, 3.4e38f, -123.456f};
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{6}, std::vector<int64_t>{2, 3},
                                            std::vector<int64_t>{1, 2, 1, 3}}) {
    const std::string path = temp_path("roundtrip_" + std::to_string(shape.size()) + ".npy");
    save_npy(path, data, shape);
    const NpyArray a = load_npy(path);
    EXPECT_EQ(a.dtype, "<f4");
    EXPECT_EQ(a.shape, shape);
    const std::vector<float> back = a.to_float();
    ASSERT_EQ(back.size(), data.size());
    EXPECT_EQ(std::memcmp(back.data(), data.data(), data.size() * sizeof(float)), 0);

    // numpy's layout: header padded so that the data starts at a multiple of 64 bytes.
    const std::vector<char> bytes = read_bytes(path);
    const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    EXPECT_EQ((10 + header_len) % 64, 0u);
    EXPECT_EQ(bytes[10 + header_len - 1], '\n');
    EXPECT_EQ(bytes.size(), 10 + header_len + data.size() * sizeof(float));
  }
}

TEST(Npy, SaveZeroDimAndOneDimShapes) {
  const std::string p0 = temp_path("scalar.npy");
  save_npy(p0, {42.0f}, {});
  const NpyArray a = load_npy(p0);
  EXPECT_TRUE(a.shape.empty());
  EXPECT_EQ(a.to_float(), std::vector<float>{42.0f});
  // The header must be what numpy writes for a 1-d array: "(3,)".
  const std::string p1 = temp_path("one_d.npy");
  save_npy(p1, {1, 2, 3}, {3});
  const std::vector<char> bytes = read_bytes(p1);
  EXPECT_NE(std::string(bytes.begin(), bytes.end()).find("'shape': (3,)"), std::string::npos);
}

TEST(Npy, SaveRejectsShapeMismatch) { EXPECT_THROW(save_npy(temp_path("bad.npy"), {1, 2, 3}, {2, 2}), Error); }

TEST(Npy, MissingFileNamesTheFile) { expect_load_error(temp_path("does_not_exist.npy"), "cannot open"); }

TEST(Npy, BadMagicIsRejected) {
  const std::string path = temp_path("bad_magic.npy");
  write_bytes(path, {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0});  // a zip (.npz) header
  expect_load_error(path, "bad magic");
}

TEST(Npy, TruncatedDataIsRejected) {
  const std::string src = tiny_dir() + "/random_b2_96x128/eval_unfused/pred_scores.npy";
  std::vector<char> bytes = read_bytes(src);
  bytes.resize(bytes.size() - 5);
  const std::string path = temp_path("truncated.npy");
  write_bytes(path, bytes);
  expect_load_error(path, "truncated data");
}

TEST(Npy, TruncatedHeaderIsRejected) {
  std::vector<char> bytes = read_bytes(tiny_dir() + "/random_b2_96x128/eval_unfused/pred_scores.npy");
  bytes.resize(40);
  const std::string path = temp_path("truncated_header.npy");
  write_bytes(path, bytes);
  expect_load_error(path, "truncated header");
}

// np.save writes F-contiguous arrays with fortran_order True (the golden [1,8400,80] pred_scores are
// such files, although the golden README says C order); the loader hands back C order.
TEST(Npy, FortranOrderIsReorderedToCOrder) {
  const std::string path = temp_path("fortran.npy");
  // C order [[1,2,3],[4,5,6]] stored first-index-fastest.
  write_bytes(path, make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                             raw(std::vector<float>{1, 4, 2, 5, 3, 6})));
  const NpyArray a = load_npy(path);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.to_float(), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  // 3-d, int64: element (i,j,k) = 100i + 10j + k, Fortran offset i + 2j + 6k.
  std::vector<int64_t> f(2 * 3 * 4), c;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) f[i + 2 * j + 6 * k] = 100 * i + 10 * j + k;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) c.push_back(100 * i + 10 * j + k);
  write_bytes(path, make_npy("{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3, 4), }", raw(f)));
  EXPECT_EQ(load_npy(path).to_int64(), c);
}

TEST(Npy, GoldenFortranOrderScoresAreConsistentWithLogits) {
  REQUIRE_GOLDEN();
  // Both files are fortran_order; after reordering, scores[a, c] must be sigmoid(logits[a, c]).
  const std::string dir = yolonas::test::golden_dir() + "/eval_image_640_unfused";
  const NpyArray scores = load_npy(dir + "/pred_scores.npy");
  const NpyArray logits = load_npy(dir + "/cls_logits.npy");
  const std::vector<float> bx = load_npy(dir + "/pred_bboxes.npy").to_float();  // C order file
  EXPECT_EQ(scores.shape, (std::vector<int64_t>{1, 8400, 80}));
  const std::vector<float> s = scores.to_float(), l = logits.to_float();
  ASSERT_EQ(s.size(), l.size());
  for (size_t i = 0; i < s.size(); i += 97) EXPECT_NEAR(s[i], 1.0 / (1.0 + std::exp(-l[i])), 1e-6) << i;
  EXPECT_EQ(bx.size(), 8400u * 4);
}

TEST(Npy, MalformedFortranOrderIsRejected) {
  const std::string path = temp_path("fortran_bad.npy");
  write_bytes(path, make_npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }",
                             raw(std::vector<float>{1})));
  expect_load_error(path, "fortran_order");
}

TEST(Npy, UnsupportedDtypesAreRejected) {
  for (const std::string descr : {">f4", "<c8", "<U3", "|O"}) {
    const std::string path = temp_path("dtype_bad.npy");
    write_bytes(path, make_npy("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (1,), }",
                               std::vector<char>(16, 0)));
    expect_load_error(path, "unsupported dtype");
  }
}

// Found by fuzz_npy: a zero dimension after huge ones passes the size check (no elements), but
// numel() multiplied the huge ones first and overflowed int64 (undefined behaviour).
TEST(Npy, ZeroDimensionAfterHugeOnesHasNoElements) {
  const std::string path = temp_path("huge_then_zero.npy");
  write_bytes(path, make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2305843009213693953, 4, 0), }", {}));
  const NpyArray a = load_npy(path);
  EXPECT_EQ(a.numel(), 0);
  EXPECT_TRUE(a.to_float().empty());
  NpyArray b;
  b.dtype = "<f4";
  b.shape = {4611686018427387904, 4};  // built by hand, not read: numel() refuses to overflow
  EXPECT_THROW(b.numel(), Error);
}

// Its sibling, found by the next fuzz_npy run: the same shape in Fortran order overflowed in the
// C-order conversion; and save_npy counts the same way.
TEST(Npy, FortranOrderWithAZeroDimensionAfterHugeOnes) {
  const std::string path = temp_path("huge_then_zero_f.npy");
  write_bytes(path, make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (4611686018427387904, 4, 0), }", {}));
  EXPECT_EQ(load_npy(path).numel(), 0);
  EXPECT_THROW(save_npy(temp_path("x.npy"), {}, {4611686018427387904, 4, 1}), Error);
}
