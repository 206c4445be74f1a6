#pragma once
// One NCCL communicator among ranks that each hold their own GPU, moving host buffers: the
// federated exchange's executors reduce their int64 sums onto one of them and broadcast the
// new parameters from it (mpi/exchange_transport.h). Each call uploads the host buffer into a
// device staging buffer, runs the collective on the communicator's own stream, downloads
// the result and waits for it, so the caller sees a plain blocking call on host memory.
// The staging buffer is allocated once, at construction, for the largest buffer ever passed.
//
// Compiled only in builds with NCCL (HFEDMOE_HAVE_NCCL). This header includes no CUDA or
// NCCL header, so mpi/ and the tests build with the plain C++ compiler; the communicator and
// stream are forward-declared opaque types. NCCL and CUDA failures throw hf::Error naming
// file:line, the call, NCCL's or CUDA's error string and a fix.
#include <cstddef>
#include <cstdint>
#include <vector>

struct ncclComm;
struct CUstream_st;

namespace hf {

class NcclComm {
 public:
  static constexpr size_t kIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES (checked in nccl_comm.cpp)

  // A fresh communicator id (kIdBytes): made on one rank, sent to the others (over MPI).
  static std::vector<char> unique_id();

  // Collective over the nranks ranks (0..nranks-1) that pass the same id; device is this
  // rank's CUDA ordinal, capacity_bytes the largest buffer any call below will pass.
  NcclComm(const std::vector<char>& id, int nranks, int rank, int device, size_t capacity_bytes);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // Collective: root's buf (n) becomes the sum of every rank's buf; the others' are unchanged.
  // Integer sums are exact, so the result is the same bits whatever NCCL's algorithm.
  void reduce_sum_i64(int64_t* buf, size_t n, int root);
  // Collective: every rank's buf (n) becomes root's, bit for bit.
  void broadcast_f32(float* buf, size_t n, int root);

 private:
  // Makes the device current and checks that bytes fit the staging buffer.
  void begin(size_t bytes) const;
  void release();  // frees what was created; safe on a half-built object

  int rank_, device_;
  size_t capacity_;
  ncclComm* comm_ = nullptr;
  CUstream_st* stream_ = nullptr;
  void* staging_ = nullptr;  // capacity_ bytes on device_
};

}  // namespace hf
