// Ultralytics' run-folder rule: <project>/<name>, where name defaults to the mode ("predict") and
// gets a numeric suffix (predict2, predict3, ...) unless exist_ok is set.
#pragma once
#include <string>

namespace yolonas {

// Creates and returns the folder. project defaults to "runs/detect".
std::string make_run_dir(const std::string& project, const std::string& name, bool exist_ok);

// Writes `content` to `path` atomically (temp file in the same folder + rename).
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace yolonas
