#include "mpi/exchange_transport.h"

#include <mpi.h>

#include <algorithm>
#include <vector>

#include "mpi/chunked.h"
#include "mpi/exchange_path.h"
#include "mpi/runtime.h"
#include "util/log.h"
#ifdef HFEDMOE_HAVE_NCCL
#include "cuda/nccl_comm.h"
#endif

namespace hf {
namespace {

#ifdef HFEDMOE_HAVE_NCCL
constexpr bool kHaveNccl = true;
#else
constexpr bool kHaveNccl = false;
#endif

class MpiTransport : public ExchangeTransport {
 public:
  void reduce_to_server(int64_t* buf, size_t n) override {
    if (world_size() == 1) return;  // the in-process executor's buffer is the sum already
    reduce_sum_chunked(buf, n, 0, MPI_COMM_WORLD, "Reduce(update)");
  }
  void broadcast_from_server(float* buf, size_t n) override {
    if (world_size() == 1) return;
    bcast_chunked(buf, n, MPI_FLOAT, 0, MPI_COMM_WORLD, "Bcast(params)");
  }
};

#ifdef HFEDMOE_HAVE_NCCL
// The NCCL communicator holds the executors in world order: NCCL rank r - 1 is world rank r,
// so the leader (world rank 1) is NCCL's root 0.
constexpr int kLeader = 1, kRoot = 0;
// Point-to-point tags between rank 0 and the leader (collectives never match them).
constexpr int kTagUpdate = 7101, kTagParams = 7102;
// The device staging buffer is at most this big: the int64 sums take 8 bytes per parameter
// (5 GB for the base preset), which larger buffers then cross in chunks of this size.
constexpr size_t kMaxStagingBytes = size_t{64} << 20;

class NcclTransport : public ExchangeTransport {
 public:
  NcclTransport(int device, size_t max_sum, size_t max_params) {
    // Bootstrap over MPI: the leader makes the id, the executors' communicator carries it.
    MPI_Comm executors;
    mpi_ok(MPI_Comm_split(MPI_COMM_WORLD, is_server() ? MPI_UNDEFINED : 0, world_rank(), &executors),
           "Comm_split(executors)");
    if (is_server()) return;  // the server stays on the CPU, outside NCCL
    std::vector<char> id(NcclComm::kIdBytes);
    if (world_rank() == kLeader) id = NcclComm::unique_id();
    mpi_ok(MPI_Bcast(id.data(), static_cast<int>(id.size()), MPI_BYTE, 0, executors), "Bcast(NCCL id)");
    mpi_ok(MPI_Comm_free(&executors), "Comm_free(executors)");
    // The same on every executor (the same shapes), as NcclComm requires.
    size_t staging = std::min(kMaxStagingBytes, std::max(max_sum * sizeof(int64_t), max_params * sizeof(float)));
    comm_ = std::make_unique<NcclComm>(id, world_size() - 1, world_rank() - 1, device, staging);
  }

  void reduce_to_server(int64_t* buf, size_t n) override {
    if (comm_) comm_->reduce_sum_i64(buf, n, kRoot);
    if (world_rank() == kLeader) send_chunked(buf, n, MPI_INT64_T, 0, kTagUpdate, MPI_COMM_WORLD, "Send(update)");
    if (is_server()) recv_chunked(buf, n, MPI_INT64_T, kLeader, kTagUpdate, MPI_COMM_WORLD, "Recv(update)");
  }

  void broadcast_from_server(float* buf, size_t n) override {
    if (is_server()) send_chunked(buf, n, MPI_FLOAT, kLeader, kTagParams, MPI_COMM_WORLD, "Send(params)");
    if (world_rank() == kLeader) recv_chunked(buf, n, MPI_FLOAT, 0, kTagParams, MPI_COMM_WORLD, "Recv(params)");
    if (comm_) comm_->broadcast_f32(buf, n, kRoot);
  }

 private:
  std::unique_ptr<NcclComm> comm_;  // executors only
};
#endif

}  // namespace

std::unique_ptr<ExchangeTransport> open_exchange_transport(const std::string& mode, int device, size_t max_sum,
                                                           size_t max_params) {
  std::vector<ExecutorGpu> gpus = gather_executor_gpus(device);
  ExchangeChoice choice;
  // Every rank holds the same gathered facts, so a refused mode=nccl fails everywhere alike.
  collectively([&] { choice = choose_exchange(mode, kHaveNccl, gpus); });
  if (is_server()) LOG_INFO("%s", choice.why.c_str());
#ifdef HFEDMOE_HAVE_NCCL
  if (choice.path == ExchangePath::nccl) return std::make_unique<NcclTransport>(device, max_sum, max_params);
#endif
  return std::make_unique<MpiTransport>();
}

}  // namespace hf
