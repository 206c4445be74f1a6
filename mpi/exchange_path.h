#pragma once
// Which path the federated exchange's two large transfers take (fl.exchange = auto | mpi |
// nccl; mpi/exchange_transport.h moves them). NCCL joins only ranks that each hold their own
// GPU (ncclCommInitRank refuses two ranks on one GPU), and the server stays on the CPU outside
// it, so the choice depends on every executor's GPU:
//  - no executors (one process): the in-process path, whatever the mode;
//  - mpi: always MPI;
//  - auto: NCCL when this build has NCCL and every executor holds its own GPU and there are at
//    least two executors (one executor has no one to reduce with: NCCL would only add a round
//    trip through the GPU), else MPI;
//  - nccl: NCCL when possible (also with one executor: that runs the NCCL path on a one-GPU
//    machine), else a usage error on every rank naming the obstacle.
// The choice carries one log line saying why, e.g. "exchange: NCCL among 4 executors on 4
// GPUs" or "exchange: MPI (executors 1 and 2 share GPU 0 on node x; NCCL allows one rank per
// GPU)".
#include <string>
#include <vector>

namespace hf {

struct ExecutorGpu {
  int rank = 0;       // world rank, 1..R
  std::string host;   // MPI processor name (two nodes' GPU 0 are different GPUs)
  int device = -1;    // CUDA ordinal as this rank sees it; -1: the executor computes on the CPU
  std::string uuid;   // the GPU's UUID, empty when unknown: two ranks with the same UUID share a
                      // GPU even when CUDA_VISIBLE_DEVICES numbered it differently for each
};

// Collective over MPI_COMM_WORLD: each rank passes its device (-1: CPU) and every rank gets
// the executors' (ranks 1..R) in rank order. A single process has no executors: empty, no MPI.
std::vector<ExecutorGpu> gather_executor_gpus(int device);

enum class ExchangePath { in_process, mpi, nccl };

struct ExchangeChoice {
  ExchangePath path = ExchangePath::mpi;
  std::string why;  // one line for the log, "exchange: ..."
};

// Pure policy (above); mode must be auto, mpi or nccl (fl_options validates it).
// mode=nccl where NCCL cannot run throws a usage error (exit code 2) naming the fix.
ExchangeChoice choose_exchange(const std::string& mode, bool have_nccl, const std::vector<ExecutorGpu>& executors);

}  // namespace hf
