#include "cli/threads.h"

#include <mpi.h>
#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {
namespace {

// A positive thread count from an environment variable; 0 when unset or empty. OpenMP allows
// a comma-separated list (one count per nesting level): the first applies here.
int threads_from_env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return 0;
  std::string text(value);
  std::string first = text.substr(0, text.find(','));
  char* end = nullptr;
  long n = std::strtol(first.c_str(), &end, 10);
  if (first.empty() || *end != '\0' || n < 1 || n > 1024)
    fail(std::string(name) + "='" + text + "' is not a thread count from 1 to 1024",
         "unset it or set it to a positive number (or set run.threads, which takes precedence)");
  return static_cast<int>(n);
}

// A fingerprint of a CPU set, equal for equal sets.
uint64_t cpu_set_fingerprint(const cpu_set_t& set) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the CPU numbers in the set
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) h = (h ^ static_cast<uint64_t>(cpu)) * 1099511628211ull;
  return h;
}

ThreadChoice threads_from_affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  HF_CHECK(sched_getaffinity(0, sizeof(set), &set) == 0, "sched_getaffinity failed");
  const int cpus = CPU_COUNT(&set);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int local_size = 1;
  MPI_Comm_size(node, &local_size);
  uint64_t mine = cpu_set_fingerprint(set);
  std::vector<uint64_t> all(static_cast<size_t>(local_size));  // (local ranks,)
  MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, node);
  MPI_Comm_free(&node);
  const int sharers = static_cast<int>(std::count(all.begin(), all.end(), mine));
  ThreadChoice c;
  c.threads = std::max(1, cpus / sharers);
  c.why = std::to_string(cpus) + " CPUs in this rank's affinity mask, shared by " + std::to_string(sharers) +
          " rank(s) of this node";
  return c;
}

}  // namespace

ThreadChoice choose_threads(int configured) {
  ThreadChoice c;
  collectively([&] {
    if (configured > 0) {
      c = {configured, "run.threads"};
    } else if (int omp = threads_from_env("OMP_NUM_THREADS")) {
      c = {omp, "OMP_NUM_THREADS"};
    } else if (int slurm = threads_from_env("SLURM_CPUS_PER_TASK")) {
      c = {slurm, "SLURM_CPUS_PER_TASK"};
    }
  });
  // Every rank calls the collective below (an env variable may be set on some ranks only).
  ThreadChoice affinity = threads_from_affinity();
  return c.why.empty() ? affinity : c;
}

}  // namespace hf
