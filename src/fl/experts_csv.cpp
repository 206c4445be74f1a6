#include "fl/experts_csv.h"

#include <sstream>

#include "io/fs.h"
#include "util/check.h"

namespace hf {

ExpertsCsv::~ExpertsCsv() {
  if (f_) std::fclose(f_);
}

void ExpertsCsv::open(const std::string& path, int64_t last_round) {
  std::string kept = "round,class,layer,expert,clients\n";
  if (last_round > 0 && path_exists(path)) {
    std::istringstream in(read_file(path));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line))
      if (!line.empty() && std::stoll(line) <= last_round) kept += line + "\n";
  }
  write_file_atomic(path, kept);
  f_ = std::fopen(path.c_str(), "a");
  if (!f_) fail("cannot append to " + path, "check the run directory's permissions", kExitRuntime);
}

void ExpertsCsv::append(int64_t round, const RoundUpdate& u, const std::vector<DeviceProfile>& classes) {
  for (int j = 0; j < u.n_profiles; j++)
    for (int l = 0; l < u.L; l++)
      for (int e = 0; e < u.E; e++)
        std::fprintf(f_, "%lld,%s,%d,%d,%lld\n", static_cast<long long>(round), classes[j].name.c_str(), l, e,
                     static_cast<long long>(u.trained_by(j)[l * u.E + e]));
  std::fflush(f_);
}

}  // namespace hf
