#include <gtest/gtest.h>

#include "mpi/gpu_pinning.h"
#ifdef HFEDMOE_HAVE_CUDA
#include "cuda/device.h"
#endif

namespace hf {
namespace {

TEST(GpuPinning, NoDevicesMeansCpu) {
  GpuAssignment a = assign_gpu(1, 2, 0, false, false);
  EXPECT_EQ(a.device, -1);
  EXPECT_NE(a.reason.find("no CUDA device"), std::string::npos);
}

TEST(GpuPinning, ExecutorsTakeDevicesRoundRobinAndSharingIsFlagged) {
  // 4 GPUs, server + 4 executors on one node: local ranks 1..4 -> GPUs 1,2,3,0, no sharing.
  EXPECT_EQ(assign_gpu(1, 4, 4, false, false).device, 1);
  EXPECT_EQ(assign_gpu(4, 4, 4, false, false).device, 0);
  EXPECT_FALSE(assign_gpu(2, 4, 4, false, false).shared);
  // 1 GPU, 2 executors: both on GPU 0, shared, which rules NCCL out.
  GpuAssignment a = assign_gpu(2, 2, 1, false, false);
  EXPECT_EQ(a.device, 0);
  EXPECT_TRUE(a.shared);
  EXPECT_NE(a.reason.find("falls back from NCCL to MPI"), std::string::npos);
}

TEST(GpuPinning, ServerStaysOnCpuUnlessAsked) {
  EXPECT_EQ(assign_gpu(0, 2, 2, true, false).device, -1);
  EXPECT_EQ(assign_gpu(0, 2, 2, true, true).device, 0);
  EXPECT_TRUE(assign_gpu(0, 2, 2, true, true).shared);  // executor local rank 2 -> GPU 0 too
  EXPECT_FALSE(assign_gpu(0, 1, 2, true, true).shared);  // the one executor is on GPU 1
  // The executor beside the server's GPU shares it, but not with another executor: NCCL stays possible.
  GpuAssignment e = assign_gpu(2, 2, 2, false, true);
  EXPECT_EQ(e.device, 0);
  EXPECT_TRUE(e.shared);
  EXPECT_NE(e.reason.find("shared with the server's evaluation"), std::string::npos);
  EXPECT_EQ(e.reason.find("NCCL"), std::string::npos);
}

#ifdef HFEDMOE_HAVE_CUDA
TEST(CudaDevice, ScanReportsDevicesOrWhyNot) {
  cuda::DeviceScan scan = cuda::scan_devices();
  if (scan.devices.empty()) GTEST_SKIP() << "no CUDA device on this machine: " << scan.error;
  for (const auto& d : scan.devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.memory_gb, 0);
    EXPECT_GE(d.sm_major, 7);
  }
}
#endif

}  // namespace
}  // namespace hf
