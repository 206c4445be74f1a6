#pragma once
// Rank -> GPU pinning. An executor's local rank (its index among the ranks on its node)
// picks its device; more executors than GPUs share devices round-robin (allowed, logged,
// and it rules NCCL out for the ranks that share: NCCL refuses two ranks on one GPU).
#include <string>
#include <vector>

namespace hf {

struct GpuAssignment {
  int device = -1;        // -1: this rank computes on the CPU
  bool shared = false;    // another rank of this node uses the same device
  std::string reason;     // one line for the log
};

// Pure policy, testable without GPUs: executors (local ranks that are not the node's
// server) take devices round-robin; the server keeps the CPU unless server_gpu is set.
GpuAssignment assign_gpu(int local_rank, int local_executors, int n_devices, bool is_server, bool server_gpu);

// assign_gpu for this rank, from its node (collective over MPI_COMM_WORLD): rank 0 of a
// multi-rank job is the server and keeps the CPU unless server_gpu; a single process trains
// in-process and takes device 0 when there is one.
GpuAssignment pin_this_rank(int n_devices, bool server_gpu);

}  // namespace hf
