#include "cli/checkpoint_path.h"

#include <filesystem>

#include "io/checkpoint.h"
#include "io/fs.h"
#include "util/check.h"

namespace hf {

std::string resolve_checkpoint(const std::string& key, const std::string& path) {
  namespace fs = std::filesystem;
  const std::string accepted = "give a checkpoint file, a run directory, its ckpt folder or its ckpt/latest";
  std::string dir;  // the folder whose `latest` names the checkpoint
  if (fs::is_directory(path))
    dir = fs::is_directory(fs::path(path) / "ckpt") ? (fs::path(path) / "ckpt").string() : path;
  else if (fs::path(path).filename() == "latest" && path_exists(path))
    dir = fs::path(path).parent_path().string();
  else
    return path;
  if (dir.empty()) dir = ".";
  std::string named = latest_checkpoint(dir, "train");  // a run directory holds one kind
  if (named.empty()) named = latest_checkpoint(dir, "pretrain");
  if (named.empty()) fail(key + "=" + path + " is a folder with no checkpoint (no latest in it or its ckpt/)", accepted);
  return named;
}

}  // namespace hf
