#include "cuda/nccl_comm.h"

#include <nccl.h>

#include <algorithm>
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

NcclComm::NcclComm(const std::vector<char>& id, int nranks, int rank, int device, size_t staging_bytes)
    : rank_(rank), device_(device), capacity_(staging_bytes) {
  HF_CHECK(id.size() == kIdBytes, "NCCL id of %zu bytes, expected %zu", id.size(), kIdBytes);
  HF_CHECK(capacity_ >= sizeof(int64_t), "NCCL staging of %zu bytes holds no element", capacity_);
  ncclUniqueId uid;
  std::memcpy(uid.internal, id.data(), kIdBytes);
  try {
    CUDA_CHECK(cudaSetDevice(device_));  // the communicator binds to the current device
    NCCL_CHECK(ncclCommInitRank(&comm_, nranks, uid, rank_));
    // Its own stream: the collectives never queue behind (or hold up) the training stream.
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaMalloc(&staging_, capacity_));
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

template <class T, class Collective>
void NcclComm::staged(T* buf, size_t n, bool upload, bool download, Collective collective) {
  CUDA_CHECK(cudaSetDevice(device_));  // another part of the process may have made another device current
  // Every rank has the same n and capacity, so the same chunks: the collectives pair up.
  // One stream orders each chunk's upload, collective and download before the next upload.
  const size_t chunk = capacity_ / sizeof(T);
  for (size_t at = 0; at < n; at += chunk) {
    const size_t k = std::min(chunk, n - at);
    if (upload) CUDA_CHECK(cudaMemcpyAsync(staging_, buf + at, k * sizeof(T), cudaMemcpyHostToDevice, stream_));
    collective(k);
    if (download) CUDA_CHECK(cudaMemcpyAsync(buf + at, staging_, k * sizeof(T), cudaMemcpyDeviceToHost, stream_));
  }
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void NcclComm::reduce_sum_i64(int64_t* buf, size_t n, int root) {
  staged(buf, n, true, rank_ == root, [&](size_t k) {
    NCCL_CHECK(ncclReduce(staging_, staging_, k, ncclInt64, ncclSum, root, comm_, stream_));
  });
}

void NcclComm::broadcast_f32(float* buf, size_t n, int root) {
  staged(buf, n, rank_ == root, rank_ != root, [&](size_t k) {
    NCCL_CHECK(ncclBroadcast(staging_, staging_, k, ncclFloat, root, comm_, stream_));
  });
}

}  // namespace hf
