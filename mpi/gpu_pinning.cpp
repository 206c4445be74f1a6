#include "mpi/gpu_pinning.h"

#include <mpi.h>

#include <cstdlib>

#include "util/strf.h"

namespace hf {

int node_local_rank() {
  for (const char* var : {"SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int rank = 0;
  MPI_Comm_rank(node, &rank);
  MPI_Comm_free(&node);
  return rank;
}

GpuAssignment assign_gpu(int local_rank, int local_executors, int n_devices, bool is_server, bool server_gpu) {
  GpuAssignment a;
  if (n_devices <= 0) {
    a.reason = "no CUDA device visible: computing on the CPU";
    return a;
  }
  if (is_server && !server_gpu) {
    a.reason = "server rank: aggregation on the CPU (set server_gpu to give it a device)";
    return a;
  }
  // The server occupies local rank 0 on its node only; executors are numbered after it.
  int slot = is_server ? 0 : local_rank;
  a.device = slot % n_devices;
  int users = local_executors + (server_gpu ? 1 : 0);
  a.shared = users > n_devices;
  a.reason = strf("local rank %d -> GPU %d of %d%s", local_rank, a.device, n_devices,
                  a.shared ? " (shared with another rank: exchange falls back from NCCL to MPI)" : "");
  return a;
}

GpuAssignment pin_this_rank(int n_devices) {
  int world_rank = 0, world_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  const bool server = world_size > 1 && world_rank == 0;
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int local_size = 1, here = server ? 1 : 0, servers_here = 0;
  MPI_Comm_size(node, &local_size);
  MPI_Allreduce(&here, &servers_here, 1, MPI_INT, MPI_SUM, node);
  MPI_Comm_free(&node);
  return assign_gpu(node_local_rank(), local_size - servers_here, n_devices, server, false);
}

}  // namespace hf
