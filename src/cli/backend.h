#pragma once
// Backend selection: the one place that turns a backend name into an Ops. It knows both
// backends (ops/ and cuda/), so it sits above them, in cli/.
#include <memory>
#include <string>

#include "ops/ops.h"

namespace hf {

// "cpu": the CPU reference, CpuOps(cpu_threads) (0 keeps the OpenMP default). "cuda": the CUDA
// backend on CUDA device `device`; tf32 lets cuBLAS round GEMM inputs to TF32 (fp32 otherwise).
// A usage error naming the fix when the name is unknown, when this build has no CUDA backend,
// or when the device does not exist.
std::unique_ptr<Ops> make_backend(const std::string& name, int device = 0, int cpu_threads = 0, bool tf32 = false);

// CUDA devices this process can use: 0 in a build without CUDA or without a usable driver or
// device, and then *why says why (when why is given).
int cuda_device_count(std::string* why = nullptr);

}  // namespace hf
