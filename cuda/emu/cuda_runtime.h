#pragma once
// The part of the CUDA runtime API that cuda/*.cu uses, on host memory. Device memory is
// tracked, so a copy in the wrong direction or a host pointer where device memory belongs
// stops the run (as it would fault on a GPU).
#include "emu.h"

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
struct CUstream_st {
  int unused;
};
typedef CUstream_st* cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
constexpr unsigned cudaStreamNonBlocking = 1;
enum cudaMemoryType { cudaMemoryTypeUnregistered, cudaMemoryTypeHost, cudaMemoryTypeDevice, cudaMemoryTypeManaged };
struct cudaPointerAttributes {
  cudaMemoryType type;
};

inline const char* cudaGetErrorString(cudaError_t e) { return e == 2 ? "out of memory" : "emulated error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t n) {
  *p = emu::device_alloc(n);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void* p) {
  emu::device_free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t) {
  bool d = emu::is_device(dst), s = emu::is_device(src);
  bool ok = kind == cudaMemcpyHostToDevice ? d && !s : kind == cudaMemcpyDeviceToHost ? !d && s : d && s;
  if (!ok) emu::die("cudaMemcpyAsync: pointers do not match the copy kind");
  std::memmove(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  if (!emu::is_device(p)) emu::die("cudaMemsetAsync on host memory");
  std::memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new CUstream_st;
  return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
inline cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p) {
  a->type = emu::is_device(p) ? cudaMemoryTypeDevice : cudaMemoryTypeUnregistered;
  return cudaSuccess;
}
