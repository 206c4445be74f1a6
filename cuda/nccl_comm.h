#pragma once
// One NCCL communicator among ranks that each hold their own GPU, moving host buffers: the
// federated exchange's executors reduce their int64 sums onto one of them and broadcast the
// new parameters from it (mpi/exchange_transport.h). Each call runs through one device
// staging buffer, allocated once at construction, chunk by chunk: upload, the collective on
// the communicator's own stream, download; then it waits, so the caller sees a plain blocking
// call on host memory. A staging buffer smaller than the buffers bounds the GPU memory the
// exchange takes (int64 sums are 8 bytes per parameter) at the cost of a collective per chunk.
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
  // rank's CUDA ordinal. staging_bytes: the device staging buffer; every rank must pass the
  // same size (the chunks of a call are collectives that pair up across ranks).
  NcclComm(const std::vector<char>& id, int nranks, int rank, int device, size_t staging_bytes);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // Collective: root's buf (n) becomes the sum of every rank's buf; the others' are unchanged.
  // Integer sums are exact, so the result is the same bits whatever NCCL's algorithm.
  void reduce_sum_i64(int64_t* buf, size_t n, int root);
  // Collective: every rank's buf (n) becomes root's, bit for bit.
  void broadcast_f32(float* buf, size_t n, int root);

 private:
  // buf (n) through the staging buffer chunk by chunk: upload (if upload), collective(chunk
  // length), download (if download); then waits for the stream.
  template <class T, class Collective>
  void staged(T* buf, size_t n, bool upload, bool download, Collective collective);
  void release();  // frees what was created; safe on a half-built object

  int rank_, device_;
  size_t capacity_;
  ncclComm* comm_ = nullptr;
  CUstream_st* stream_ = nullptr;
  void* staging_ = nullptr;  // capacity_ bytes on device_
};

}  // namespace hf
