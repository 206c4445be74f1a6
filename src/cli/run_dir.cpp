#include "cli/run_dir.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "cli/checkpoint_path.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "mpi/runtime.h"
#include "util/log.h"

namespace hf {

namespace {

// Whether `file` lies in folder `dir` or below it, after links and "..", as the deletion would see it.
bool is_inside(const std::string& file, const std::string& dir) {
  namespace fs = std::filesystem;
  fs::path f = fs::weakly_canonical(file), d = fs::weakly_canonical(dir);
  auto mismatch = std::mismatch(d.begin(), d.end(), f.begin(), f.end());
  return mismatch.first == d.end();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_ini(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      section = trim(line.substr(1, line.find(']') - 1));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(line.substr(0, eq));
    out.push_back({section.empty() ? key : section + "." + key, trim(line.substr(eq + 1))});
  }
  return out;
}

std::string config_differences(const std::string& old_ini, const std::string& new_ini,
                               const std::vector<std::string>& may_change) {
  auto old_kv = parse_ini(old_ini);
  std::map<std::string, std::string> old_map(old_kv.begin(), old_kv.end());
  std::string out;
  for (const auto& [key, value] : parse_ini(new_ini)) {
    if (key == "out" || key == "run.job_name" || std::find(may_change.begin(), may_change.end(), key) != may_change.end())
      continue;
    auto it = old_map.find(key);
    if (it != old_map.end() && it->second != value) out += (out.empty() ? "" : ", ") + key + " = " + it->second + " (not " + value + ")";
  }
  return out;
}

void check_resume_checkpoint(const std::string& path, const std::string& resolved_ini, const ResumeRules& rules,
                             const std::string& fix) {
  Checkpoint meta = load_checkpoint_meta(path);
  if (meta.kind != rules.kind)
    fail("checkpoint " + path + " is a " + meta.kind + " checkpoint, not a " + rules.kind + " one",
         "resume from a checkpoint this command wrote, or " + fix);
  for (const auto& [key, value] : parse_ini(resolved_ini))
    if (key == rules.total_key && meta.round > std::stoll(value))
      fail("checkpoint " + path + " has " + std::to_string(meta.round) + " " + key + " done, more than " + key + "=" + value,
           "give --" + key + " " + std::to_string(meta.round) + " or more (the total, not the number still to run), or " + fix);
  std::string diff = config_differences(meta.config_ini, resolved_ini, rules.may_change);
  if (!diff.empty())
    fail("checkpoint " + path + " was written with " + diff,
         "resume with the checkpoint's settings (`hfedmoe inspect " + path + "` lists them), or " + fix);
}

RunDir open_run_dir(const RunOptions& run, const std::string& resolved_ini, const ResumeRules& rules) {
  RunDir rd;
  rd.path = run.run_dir();
  int resumed = 0;
  collectively([&] {
    if (!is_server()) return;
    std::string config = rd.file("config.ini");
    // Every check first: a refusal leaves the folder as it was.
    if (!run.fresh && path_exists(config)) {
      std::string diff = config_differences(read_file(config), resolved_ini, rules.may_change);
      if (!diff.empty())
        fail("run directory " + rd.path + " holds a run with " + diff,
             "resume with the same settings, pass --fresh to start over, or choose another --out (runs of one "
             "config share runs/<run.job_name>; the Slurm templates: set HFEDMOE_RUN_NAME)");
      resumed = 1;
    }
    if (!run.resume.empty()) {
      rd.resume = resolve_checkpoint("run.resume", run.resume);
      check_resume_checkpoint(rd.resume, resolved_ini, rules, "drop --run.resume to start from the beginning");
      if (run.fresh && path_exists(rd.ckpt_dir()) && is_inside(rd.resume, rd.ckpt_dir()))
        fail("--fresh would delete " + rd.ckpt_dir() + ", which holds --run.resume's checkpoint " + rd.resume,
             "copy the checkpoint out of that folder first, or drop --fresh to resume in this run directory");
    } else if (!run.fresh) {
      rd.resume = latest_checkpoint(rd.ckpt_dir(), rules.kind);
      if (!rd.resume.empty())
        check_resume_checkpoint(rd.resume, resolved_ini, rules, "pass --fresh to start over, or choose another --out");
    }
    if (run.fresh && path_exists(rd.path)) {
      for (const char* name : {"config.ini", "log.txt", "metrics.jsonl", "metrics.csv", "summary.txt", "ckpt"})
        std::filesystem::remove_all(rd.file(name));
      LOG_INFO("--fresh: removed the earlier results in %s", rd.path.c_str());
    }
    make_dirs(rd.ckpt_dir());
    write_file_atomic(config, resolved_ini);
    log_to_file(rd.file("log.txt"));
    LOG_INFO("%s run directory %s", resumed ? "resuming in" : "writing to", rd.path.c_str());
  });
  MPI_Bcast(&resumed, 1, MPI_INT, 0, MPI_COMM_WORLD);
  rd.resumed = resumed != 0;
  return rd;
}

}  // namespace hf
