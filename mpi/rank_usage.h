#pragma once
// What a rank costs its machine, for the per-round metrics (fl/server.cpp): CPU time, peak
// memory, and the time an executor spent not training. MB = 10^6 bytes.
#include <vector>

namespace hf {

// User + system CPU seconds of this process so far, all its threads (getrusage).
double process_cpu_s();
// The most resident memory this process has held so far (getrusage ru_maxrss), in MB.
double peak_rss_mb();

struct RankUsage {
  double peak_rss_mb = 0;  // peak_rss_mb() at the end of the round
  double idle_s = 0;       // executors: the round's wall time outside training their clients
};

// Collective over MPI_COMM_WORLD: rank 0 gets every rank's usage (index = rank), the others an
// empty list. A single process gets its own.
std::vector<RankUsage> gather_rank_usage(const RankUsage& mine);

}  // namespace hf
