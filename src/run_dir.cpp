#include "yolonas/run_dir.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "yolonas/error.h"

namespace fs = std::filesystem;

namespace yolonas {

std::string make_run_dir(const std::string& project, const std::string& name, bool exist_ok) {
  const fs::path base = project.empty() ? fs::path("runs/detect") : fs::path(project);
  if (name.empty()) throw Error("name= must not be empty");
  fs::path dir = base / name;
  if (!exist_ok) {
    // Ultralytics: predict, predict2, predict3, ...
    for (int n = 2; fs::exists(dir); ++n) dir = base / (name + std::to_string(n));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create output folder " + dir.string() + ": " + ec.message());
  return dir.string();
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot write " + tmp);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      throw Error("write failed for " + tmp + " (disk full?)");
    }
  }
  // fsync so that a crash after rename never leaves an empty file behind the final name.
  if (FILE* fp = std::fopen(tmp.c_str(), "rb")) {
    ::fsync(fileno(fp));
    std::fclose(fp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path);
  }
}

}  // namespace yolonas
