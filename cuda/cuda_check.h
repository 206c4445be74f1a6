#pragma once
// Checks for CUDA runtime and cuBLAS calls. A failure throws hf::Error naming the file:line,
// the call and the library's error string, e.g.
//   cuda/cuda_ops.cu:40: cudaMalloc(&p, bytes) failed: out of memory
// Kernel launches are checked with CUDA_CHECK_LAUNCH() right after the launch (launch
// errors only; faults inside a kernel surface at the next synchronising call).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "util/check.h"

#define CUDA_CHECK(call)                                                                              \
  do {                                                                                                \
    cudaError_t hf_err_ = (call);                                                                     \
    if (hf_err_ != cudaSuccess)                                                                       \
      throw ::hf::Error(::hf::strf("%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                 \
                                   cudaGetErrorString(hf_err_)),                                      \
                        ::hf::kExitRuntime);                                                          \
  } while (0)

#define CUBLAS_CHECK(call)                                                                            \
  do {                                                                                                \
    cublasStatus_t hf_st_ = (call);                                                                   \
    if (hf_st_ != CUBLAS_STATUS_SUCCESS)                                                              \
      throw ::hf::Error(::hf::strf("%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                 \
                                   cublasGetStatusString(hf_st_)),                                    \
                        ::hf::kExitRuntime);                                                          \
  } while (0)

#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
