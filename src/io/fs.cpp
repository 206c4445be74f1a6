#include "io/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/check.h"

namespace hf {

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("cannot open " + path + " to sync it: " + std::strerror(errno), "check permissions", kExitRuntime);
  ::fsync(fd);
  ::close(fd);
}

void commit_file(const std::string& tmp, const std::string& path) {
  fsync_path(tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    fail("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno), "check the folder's permissions", kExitRuntime);
  std::string dir = std::filesystem::path(path).parent_path().string();
  fsync_path(dir.empty() ? "." : dir);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write " + tmp + ": " + std::strerror(errno), "check that the folder exists and is writable", kExitRuntime);
    out << content;
    out.close();
    if (!out) {
      std::string reason = std::strerror(errno);
      std::remove(tmp.c_str());  // path itself is untouched: readers still see the old content
      fail("cannot write " + tmp + ": " + reason, "free space on the disk (or choose another --out) and rerun", kExitRuntime);
    }
  }
  commit_file(tmp, path);
}

std::string read_file(const std::string& path) {
  // A folder opens as an empty stream: say what it is instead of reading nothing.
  if (std::filesystem::is_directory(path)) fail(path + " is a folder, not a file", "give the path of a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path, "check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_text_file(const std::string& path) {
  std::string text = read_file(path);
  const std::string bom = "\xEF\xBB\xBF";
  return text.compare(0, bom.size(), bom) == 0 ? text.substr(bom.size()) : text;
}

bool path_exists(const std::string& path) { return std::filesystem::exists(path); }

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) fail("cannot create folder " + path + ": " + ec.message(), "check permissions or choose another --out");
}

}  // namespace hf
