#include "cuda/device.h"

#include <cuda_runtime.h>

#include "util/check.h"

namespace hf::cuda {

DeviceScan scan_devices() {
  DeviceScan scan;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    scan.error = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return scan;
  }
  for (int i = 0; i < count; i++) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    std::string uuid;
    for (unsigned char b : p.uuid.bytes) uuid += strf("%02x", b);
    scan.devices.push_back({i, p.name, p.major, p.minor, p.totalGlobalMem / 1073741824.0, p.multiProcessorCount, uuid});
  }
  return scan;
}

void use_device(int device) {
  cudaError_t err = cudaSetDevice(device);
  if (err != cudaSuccess)
    fail(strf("cannot use CUDA device %d: %s", device, cudaGetErrorString(err)),
         "check CUDA_VISIBLE_DEVICES and the job's GPU allocation", kExitRuntime);
}

}  // namespace hf::cuda
