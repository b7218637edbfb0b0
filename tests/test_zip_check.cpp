// The archive check that runs before any checkpoint is unpickled.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "yolonas/error.h"
#include "yolonas/zip_check.h"

using namespace yolonas;

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
