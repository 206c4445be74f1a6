#pragma once
// Where a command asks for a checkpoint (eval.checkpoint, export.checkpoint, inspect's file,
// train.init, run.resume), the user may name the file itself, a `latest` pointer
// (<run>/ckpt/latest), a checkpoint folder (<run>/ckpt) or a run directory (<run>): the last
// three stand for the checkpoint the pointer names.
#include <string>

namespace hf {

// The checkpoint file that `path`, the value of option `key`, stands for. Any other path is
// returned as given (the loader then checks the file). A usage error naming key and path when
// a folder holds no `latest` pointer.
std::string resolve_checkpoint(const std::string& key, const std::string& path);

}  // namespace hf
