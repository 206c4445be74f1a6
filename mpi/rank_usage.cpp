#include "mpi/rank_usage.h"

#include <mpi.h>
#include <sys/resource.h>

#include "mpi/runtime.h"

namespace hf {

double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024 / 1e6;  // Linux reports kilobytes
}

std::vector<RankUsage> gather_rank_usage(const RankUsage& mine) {
  static_assert(sizeof(RankUsage) == 2 * sizeof(double), "RankUsage travels as 2 doubles");
  std::vector<RankUsage> all(is_server() ? world_size() : 0);
  if (world_size() == 1) {
    all[0] = mine;
    return all;
  }
  mpi_ok(MPI_Gather(&mine, 2, MPI_DOUBLE, all.data(), 2, MPI_DOUBLE, 0, MPI_COMM_WORLD), "Gather(rank usage)");
  return all;
}

}  // namespace hf
