#pragma once
// File-system helpers with crash safety: a file is written to "<path>.tmp", fsync'd, and
// renamed over <path>, then the folder is fsync'd, so readers see the old or the new
// content and never a half-written file.
#include <string>

namespace hf {

void write_file_atomic(const std::string& path, const std::string& content);
// Renames tmp over path and makes the rename durable (fsync of both file and folder).
void commit_file(const std::string& tmp, const std::string& path);
void fsync_path(const std::string& path);  // a file or a folder
std::string read_file(const std::string& path);  // a usage error naming path if unreadable or a folder
// read_file less a UTF-8 byte-order mark at the start, which some editors write, for the text
// files a user writes by hand (--config, device profiles).
std::string read_text_file(const std::string& path);
bool path_exists(const std::string& path);
void make_dirs(const std::string& path);

}  // namespace hf
