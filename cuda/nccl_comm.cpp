#include "cuda/nccl_comm.h"

#include <nccl.h>

#include <cstring>

#include "cuda/cuda_check.h"
#include "util/check.h"

static_assert(hf::NcclComm::kIdBytes == NCCL_UNIQUE_ID_BYTES, "NcclComm::kIdBytes must match this NCCL");
static_assert(sizeof(ncclUniqueId) == NCCL_UNIQUE_ID_BYTES, "ncclUniqueId is copied as raw bytes");

// A failed NCCL call: file:line, the call, NCCL's error string and, when NCCL recorded one,
// its detailed reason (ncclGetLastError ignores its argument and reports this thread's last).
#define NCCL_CHECK(call)                                                                              \
  do {                                                                                                \
    ncclResult_t hf_nccl_ = (call);                                                                   \
    if (hf_nccl_ != ncclSuccess) {                                                                    \
      const char* hf_detail_ = ncclGetLastError(nullptr);                                             \
      ::hf::fail(::hf::strf("%s:%d: %s failed: %s%s%s", __FILE__, __LINE__, #call,                    \
                            ncclGetErrorString(hf_nccl_), hf_detail_ && *hf_detail_ ? " (" : "",      \
                            hf_detail_ && *hf_detail_ ? hf_detail_ : ""),                             \
                 "rerun with NCCL_DEBUG=WARN for NCCL's own account, check that every executor has " \
                 "its own GPU, or use fl.exchange=mpi",                                               \
                 ::hf::kExitRuntime);                                                                 \
    }                                                                                                 \
  } while (0)

namespace hf {

std::vector<char> NcclComm::unique_id() {
  ncclUniqueId id;
  NCCL_CHECK(ncclGetUniqueId(&id));
  return std::vector<char>(id.internal, id.internal + NCCL_UNIQUE_ID_BYTES);
}

NcclComm::NcclComm(const std::vector<char>& id, int nranks, int rank, int device, size_t capacity_bytes)
    : rank_(rank), device_(device), capacity_(capacity_bytes) {
  HF_CHECK(id.size() == kIdBytes, "NCCL id of %zu bytes, expected %zu", id.size(), kIdBytes);
  ncclUniqueId uid;
  std::memcpy(uid.internal, id.data(), kIdBytes);
  try {
    CUDA_CHECK(cudaSetDevice(device_));  // the communicator binds to the current device
    NCCL_CHECK(ncclCommInitRank(&comm_, nranks, uid, rank_));
    // Its own stream: the collectives never queue behind (or hold up) the training stream.
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaMalloc(&staging_, capacity_ > 0 ? capacity_ : 1));
  } catch (...) {
    release();  // a throwing constructor runs no destructor
    throw;
  }
}

NcclComm::~NcclComm() { release(); }

void NcclComm::release() {
  // No throwing here: the job is ending, or failing for a reason already reported.
  if (staging_) cudaFree(staging_);
  if (stream_) cudaStreamDestroy(stream_);
  if (comm_) ncclCommDestroy(comm_);
  staging_ = nullptr, stream_ = nullptr, comm_ = nullptr;
}

void NcclComm::begin(size_t bytes) const {
  HF_CHECK(bytes <= capacity_, "%zu bytes exceed the NCCL staging buffer of %zu", bytes, capacity_);
  CUDA_CHECK(cudaSetDevice(device_));  // another part of the process may have made another device current
}

void NcclComm::reduce_sum_i64(int64_t* buf, size_t n, int root) {
  if (n == 0) return;  // every rank passes the same n: none of them enters the collective
  const size_t bytes = n * sizeof(int64_t);
  begin(bytes);
  CUDA_CHECK(cudaMemcpyAsync(staging_, buf, bytes, cudaMemcpyHostToDevice, stream_));
  NCCL_CHECK(ncclReduce(staging_, staging_, n, ncclInt64, ncclSum, root, comm_, stream_));
  if (rank_ == root) CUDA_CHECK(cudaMemcpyAsync(buf, staging_, bytes, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void NcclComm::broadcast_f32(float* buf, size_t n, int root) {
  if (n == 0) return;  // nothing changed this round, on every rank alike
  const size_t bytes = n * sizeof(float);
  begin(bytes);
  if (rank_ == root) CUDA_CHECK(cudaMemcpyAsync(staging_, buf, bytes, cudaMemcpyHostToDevice, stream_));
  NCCL_CHECK(ncclBroadcast(staging_, staging_, n, ncclFloat, root, comm_, stream_));
  if (rank_ != root) CUDA_CHECK(cudaMemcpyAsync(buf, staging_, bytes, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace hf
