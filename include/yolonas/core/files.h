// Files: the checks every reader of user files makes, atomic writes, run folders and the one list of
// image extensions.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "yolonas/core/error.h"

namespace yolonas {

// Ultralytics' run-folder rule: <project>/<name>, where name defaults to the mode ("predict") and
// gets a numeric suffix (predict2, predict3, ...) unless exist_ok is set. Creates and returns the
// folder. project defaults to "runs/detect".
std::string make_run_dir(const std::string& project, const std::string& name, bool exist_ok);

// Writes `content` to `path` atomically (temp file `<path>.tmp<PID>` in the same folder, fsync,
// rename). Temp files of processes that no longer exist (killed during a write) are removed first.
void write_file_atomic(const std::string& path, const std::string& content);

// Why `path` cannot be read as a data file, or "" when it is a regular file (symlinks followed)
// of at most max_bytes (0: any size). The text follows the path in a message: "does not exist",
// "is a folder, not a file", "is a FIFO (named pipe), not a regular file" (opening one would wait
// forever for a writer), "is 200.0 MB, more than the 16 MB limit".
std::string file_problem(const std::string& path, uintmax_t max_bytes = 0);

// Reads a whole file that file_problem() accepts, without a leading UTF-8 BOM (Windows editors
// write one). Throws yolonas::Error "cannot open <what> '<path>'" when it does not exist, with
// ": it <problem>" appended for any other problem; the path is clip()ped.
std::string read_text_file(const std::string& path, const std::string& what, uintmax_t max_bytes = 0);

// read_text_file() without the throw: returns "" with the file in `text`, or the problem (as
// file_problem() words it, or "cannot be read (...)"), with `missing` telling a file that does not exist.
std::string try_read_text_file(const std::string& path, uintmax_t max_bytes, std::string& text, bool& missing);

// A std::filesystem error (a symlink loop, a folder that cannot be listed, a name too long) as a
// yolonas::Error naming `context` (a data.yaml and split, for instance), the path and the reason.
Error filesystem_error_message(const std::string& context, const std::filesystem::filesystem_error& e);

// Width and height from a JPEG's SOF segment, without decoding (false when the file is not a JPEG
// or has no frame header before its first scan). Lets large images be decoded at 1/2, 1/4 or 1/8
// scale, and sizes be known without decoding.
bool read_jpeg_size(const std::string& path, int& w, int& h);

// The image file extensions yolonas lists in folders (lower case, with the dot, most common first):
// Ultralytics' IMG_FORMATS plus the netpbm family and .jpe that OpenCV reads. Files of a listed
// type that OpenCV cannot decode (.heic, .dng) are reported as unreadable, not silently skipped.
const std::vector<std::string>& image_extensions();
// Whether the extension of `path` is one of image_extensions(), in any letter case.
bool is_image_file(const std::filesystem::path& path);

}  // namespace yolonas
