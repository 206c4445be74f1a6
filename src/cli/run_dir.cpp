#include "cli/run_dir.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "io/fs.h"
#include "mpi/runtime.h"
#include "util/log.h"

namespace hf {

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

static void check_resumable(const std::string& dir, const std::string& old_ini, const std::string& new_ini,
                            const std::vector<std::string>& may_change) {
  auto old_kv = parse_ini(old_ini), new_kv = parse_ini(new_ini);
  std::map<std::string, std::string> old_map(old_kv.begin(), old_kv.end());
  for (const auto& [key, value] : new_kv) {
    if (key == "out" || std::find(may_change.begin(), may_change.end(), key) != may_change.end()) continue;
    auto it = old_map.find(key);
    if (it != old_map.end() && it->second != value)
      fail("run directory " + dir + " holds a run with " + key + " = " + it->second + ", not " + value,
           "resume with the same setting, pass --fresh to start over, or choose another --out");
  }
}

RunDir open_run_dir(const RunOptions& run, const std::string& resolved_ini, const std::vector<std::string>& may_change) {
  RunDir rd;
  rd.path = run.run_dir();
  int resumed = 0;
  collectively([&] {
    if (!is_server()) return;
    std::string config = rd.file("config.ini");
    if (run.fresh && path_exists(rd.path)) {
      for (const char* name : {"config.ini", "log.txt", "metrics.jsonl", "metrics.csv", "summary.txt", "ckpt"})
        std::filesystem::remove_all(rd.file(name));
      LOG_INFO("--fresh: removed the earlier results in %s", rd.path.c_str());
    } else if (path_exists(config)) {
      check_resumable(rd.path, read_file(config), resolved_ini, may_change);
      resumed = 1;
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
