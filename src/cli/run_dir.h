#pragma once
// The run directory <out>/: config.ini (the resolved configuration), log.txt, metrics.jsonl
// and metrics.csv, ckpt/. An existing run directory is resumed, never silently overwritten:
// its config.ini must agree with the new one except in keys that may change on resume
// (more rounds, logging, checkpoint cadence); --fresh deletes the old results first.
#include <string>
#include <vector>

#include "cli/common_options.h"

namespace hf {

struct RunDir {
  std::string path;
  bool resumed = false;  // config.ini was there: continue from ckpt/latest if present
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::string ckpt_dir() const { return path + "/ckpt"; }
};

// Collective: rank 0 prepares the folder and tells the others. Keys listed in
// may_change may differ from the stored config.ini on resume.
RunDir open_run_dir(const RunOptions& run, const std::string& resolved_ini, const std::vector<std::string>& may_change);

// "key = value" pairs of an INI text, keys as section.key (the format resolved_ini writes).
std::vector<std::pair<std::string, std::string>> parse_ini(const std::string& text);

}  // namespace hf
