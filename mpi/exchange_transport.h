#pragma once
// How the federated exchange's two large transfers travel (fl/exchange.h builds and reads the
// buffers; the small messages, plan, masks and flags, always go over MPI_COMM_WORLD):
//  - MPI: MPI_Reduce(SUM) of the int64 buffer onto rank 0 and MPI_Bcast of the fp32 payload
//    from rank 0, over host buffers, in calls of at most mpi_message_limit() elements
//    (mpi/chunked.h). In a single process both are no-ops.
//  - NCCL (a build with NCCL, executors on distinct GPUs; mpi/exchange_path.h decides): the
//    server stays on the CPU and outside NCCL. Executors upload their int64 buffer, ncclReduce
//    it onto the leader (world rank 1 = NCCL rank 0), which downloads the sum and MPI_Sends it
//    to rank 0. The payload goes rank 0 -> leader by MPI_Send, then ncclBroadcast from the
//    leader to every executor. The MPI legs are chunked as above, the NCCL ones by the device
//    staging buffer. The buffers are built on the host either way (cuda/nccl_comm.h
//    stages them through the GPU).
// Both paths sum int64 exactly, so they give the same bits. Rank 0's own int64 buffer holds no
// client when executors exist (rank 0 trains none): MPI adds its zeros, NCCL overwrites it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace hf {

class ExchangeTransport {
 public:
  virtual ~ExchangeTransport() = default;
  // Collective: afterwards rank 0's buf (n) holds the sum of the executors' bufs.
  virtual void reduce_to_server(int64_t* buf, size_t n) = 0;
  // Collective: afterwards every rank's buf (n) holds rank 0's.
  virtual void broadcast_from_server(float* buf, size_t n) = 0;
};

// Collective over MPI_COMM_WORLD: gathers every executor's GPU, chooses the path for mode
// (auto | mpi | nccl), logs why on rank 0 and opens the path. mode=nccl where NCCL cannot run
// is a usage error agreed by every rank. device: this rank's CUDA ordinal, -1 for the CPU.
// max_sum / max_params: the largest n either call will pass (NCCL's device staging buffer is
// allocated once, here, for them, capped at 64 MiB: larger buffers cross it in chunks).
std::unique_ptr<ExchangeTransport> open_exchange_transport(const std::string& mode, int device, size_t max_sum,
                                                           size_t max_params);

}  // namespace hf
