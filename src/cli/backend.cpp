#include "cli/backend.h"

#include "ops/cpu_ops.h"
#include "util/check.h"
#ifdef HFEDMOE_HAVE_CUDA
#include "cuda/cuda_ops.h"
#include "cuda/device.h"
#endif

namespace hf {

int cuda_device_count(std::string* why) {
#ifdef HFEDMOE_HAVE_CUDA
  cuda::DeviceScan scan = cuda::scan_devices();
  if (why) *why = scan.devices.empty() ? (scan.error.empty() ? "0 devices" : scan.error) : "";
  return static_cast<int>(scan.devices.size());
#else
  if (why) *why = "this build has no CUDA backend (configured without a CUDA toolkit)";
  return 0;
#endif
}

std::unique_ptr<Ops> make_backend(const std::string& name, int device, int cpu_threads, bool tf32) {
  if (name == "cpu") return std::make_unique<CpuOps>(cpu_threads);
  if (name != "cuda") fail("run.backend=" + name + " is unknown", "use cpu or cuda");
#ifdef HFEDMOE_HAVE_CUDA
  std::string why;
  int n = cuda_device_count(&why);
  if (n == 0)
    fail("run.backend=cuda needs a CUDA device, but none is usable: " + why,
         "run on a GPU node (check nvidia-smi and CUDA_VISIBLE_DEVICES; under Slurm request GPUs) or set run.backend=cpu");
  if (device < 0 || device >= n)
    fail(strf("CUDA device %d does not exist (this node has %d)", device, n), strf("use a device from 0 to %d", n - 1));
  return std::make_unique<CudaOps>(device, tf32);
#else
  (void)device;
  (void)tf32;
  fail("run.backend=cuda is not in this build (it was configured without a CUDA toolkit)",
       "rebuild with -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DHFEDMOE_CUDA=ON, or set run.backend=cpu");
#endif
}

}  // namespace hf
