#include "mpi/gpu_pinning.h"

#include <mpi.h>

#include "util/strf.h"

namespace hf {

GpuAssignment assign_gpu(int local_rank, int local_executors, int n_devices, bool is_server, bool server_gpu) {
  GpuAssignment a;
  if (n_devices <= 0) {
    a.reason = "no CUDA device visible: computing on the CPU";
    return a;
  }
  if (is_server && !server_gpu) {
    a.reason = "server rank: aggregation and evaluation on the CPU (run.server_gpu=true gives it a GPU)";
    return a;
  }
  // The server occupies local rank 0 on its node only; executors are numbered after it.
  int slot = is_server ? 0 : local_rank;
  a.device = slot % n_devices;
  // Executors (local ranks 1..X beside a server, else 0..X-1) collide only when they outnumber
  // the devices, which rules NCCL out; the server's evaluation on device 0 (server_gpu) shares
  // it with the executor mapped there, which NCCL does not mind: the server is no NCCL rank.
  const bool executors_share = !is_server && local_executors > n_devices;
  const bool with_server = server_gpu && a.device == 0 && (!is_server || local_executors >= n_devices);
  a.shared = executors_share || with_server;
  a.reason = strf("local rank %d -> GPU %d of %d%s", local_rank, a.device, n_devices,
                  executors_share ? " (shared with another executor: exchange falls back from NCCL to MPI)"
                  : with_server   ? (is_server ? " (shared with an executor)" : " (shared with the server's evaluation)")
                                  : "");
  return a;
}

GpuAssignment pin_this_rank(int n_devices, bool server_gpu) {
  int world_rank = 0, world_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  const bool server = world_size > 1 && world_rank == 0;
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  // The split's rank, not SLURM_LOCALID/OMPI_COMM_WORLD_LOCAL_RANK: ranks that mpirun starts
  // inside an sbatch step inherit the step's SLURM_LOCALID (0 for all), and the split is right
  // under every launcher.
  int local_rank = 0, local_size = 1, here = server ? 1 : 0, servers_here = 0;
  MPI_Comm_rank(node, &local_rank);
  MPI_Comm_size(node, &local_size);
  MPI_Allreduce(&here, &servers_here, 1, MPI_INT, MPI_SUM, node);
  MPI_Comm_free(&node);
  return assign_gpu(local_rank, local_size - servers_here, n_devices, server, server_gpu && servers_here > 0);
}

}  // namespace hf
