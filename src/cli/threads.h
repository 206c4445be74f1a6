#pragma once
// How many OpenMP threads a rank computes with: run.threads when set, else what the job's
// allocation gives it. The CPU kernels split their work in fixed chunks, so the choice changes
// speed only, never a result.
#include <string>

namespace hf {

struct ThreadChoice {
  int threads = 1;
  std::string why;  // for the log: which setting or allocation decided it
};

// In order: run.threads > 0; OMP_NUM_THREADS (its first number); SLURM_CPUS_PER_TASK; else the
// CPUs in this rank's affinity mask divided among the ranks of its node that share that mask
// (unbound mpirun ranks share the job's CPU set; srun --cpu-bind gives each its own).
// Collective over MPI_COMM_WORLD; a malformed variable stops every rank with one line.
ThreadChoice choose_threads(int configured);

}  // namespace hf
