#include "ops/backend.h"

#include "ops/cpu_ops.h"
#include "util/check.h"
#ifdef HFEDMOE_HAVE_CUDA
#include "cuda/cuda_ops.h"
#include "cuda/device.h"
#endif

namespace hf {

std::unique_ptr<Ops> make_backend(const std::string& name, int device, int cpu_threads) {
  if (name == "cpu") return std::make_unique<CpuOps>(cpu_threads);
  if (name != "cuda") fail("backend '" + name + "' is unknown", "use cpu or cuda");
#ifdef HFEDMOE_HAVE_CUDA
  cuda::DeviceScan scan = cuda::scan_devices();
  if (scan.devices.empty())
    fail("backend cuda needs a CUDA device, but none is usable: " + (scan.error.empty() ? "0 devices" : scan.error),
         "run on a GPU node (check nvidia-smi and CUDA_VISIBLE_DEVICES) or use backend cpu");
  if (device < 0 || device >= static_cast<int>(scan.devices.size()))
    fail(strf("CUDA device %d does not exist (this node has %zu)", device, scan.devices.size()),
         strf("use a device from 0 to %zu", scan.devices.size() - 1));
  return std::make_unique<CudaOps>(device);
#else
  (void)device;
  fail("backend cuda is not in this build (it was configured without a CUDA toolkit)",
       "rebuild with -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DHFEDMOE_CUDA=ON, or use backend cpu");
#endif
}

}  // namespace hf
