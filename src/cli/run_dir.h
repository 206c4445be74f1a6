#pragma once
// The run directory <out>/: config.ini (the resolved configuration), log.txt, metrics.jsonl
// and metrics.csv, ckpt/. An existing run directory is resumed, never silently overwritten:
// its config.ini, and the configuration stored in the checkpoint the run continues from, must
// agree with the new one except in keys that may change on resume (more rounds, logging,
// checkpoint cadence); --fresh deletes the old results first. Nothing is written before every
// one of these checks passed, so a refused command leaves no trace.
#include <string>
#include <vector>

#include "cli/common_options.h"

namespace hf {

// What a resumed run must share with the run it continues.
struct ResumeRules {
  std::string kind;                     // checkpoint kind the command writes: "train" or "pretrain"
  std::string total_key;                // the option counting rounds (steps) in all: fl.rounds, pretrain.steps
  std::vector<std::string> may_change;  // keys that may differ from the stored configuration
};

struct RunDir {
  std::string path;
  bool resumed = false;  // config.ini was there
  std::string resume;    // rank 0: the checkpoint to continue from (run.resume or ckpt/latest); "" = none
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::string ckpt_dir() const { return path + "/ckpt"; }
};

// Collective: rank 0 checks the folder and the checkpoint to resume, then prepares the folder,
// and tells the others. Call it after every other input check.
RunDir open_run_dir(const RunOptions& run, const std::string& resolved_ini, const ResumeRules& rules);

// A usage error unless the checkpoint at `path` can continue this run: its kind, no more rounds
// done than rules.total_key asks for in all, and its stored configuration equal to
// resolved_ini but in rules.may_change. `fix` says how to start over instead ("pass --fresh ...").
void check_resume_checkpoint(const std::string& path, const std::string& resolved_ini, const ResumeRules& rules,
                             const std::string& fix);

// The keys whose values differ between two resolved configurations, as "key = old (not new)"
// joined by ", "; "" when none. Not compared: the run's location (out, run.job_name), the keys
// in may_change, and a key only one of the two has (an option older or newer than the other).
std::string config_differences(const std::string& old_ini, const std::string& new_ini,
                               const std::vector<std::string>& may_change);

// "key = value" pairs of an INI text, keys as section.key (the format resolved_ini writes).
std::vector<std::pair<std::string, std::string>> parse_ini(const std::string& text);

}  // namespace hf
