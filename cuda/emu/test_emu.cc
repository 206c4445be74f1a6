// The emulation's own warp intrinsics, checked against what CUDA defines them to return, in a
// block of two warps (so lanes and warps are told apart). Run by run_tests.sh with the CUDA tests.
#include <gtest/gtest.h>

#include <vector>

#include "cuda_runtime.h"

namespace {

constexpr int kThreads = 64;

// out (64, 3): per thread, the value of lane (7 * lane + 3) % 32 of its own warp, of lane 33 (taken
// modulo 32: lane 1) and of the lane that differs in bit 4 (xor 16).
__global__ void shuffle_kernel(float* out) {
  const int t = threadIdx.x, lane = t % 32;
  const float mine = 100.0f * t;
  out[3 * t] = __shfl_sync(0xffffffffu, mine, (7 * lane + 3) % 32);
  out[3 * t + 1] = __shfl_sync(0xffffffffu, mine, 33);
  out[3 * t + 2] = __shfl_xor_sync(0xffffffffu, mine, 16);
}

TEST(CudaEmu, ShufflesReadTheNamedLaneOfTheirOwnWarp) {
  float* d_out = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_out), 3 * kThreads * sizeof(float)), cudaSuccess);
  emu::launch(shuffle_kernel, dim3(1), dim3(kThreads), d_out);
  std::vector<float> out(3 * kThreads);
  ASSERT_EQ(cudaMemcpyAsync(out.data(), d_out, out.size() * sizeof(float), cudaMemcpyDeviceToHost, nullptr),
            cudaSuccess);
  for (int t = 0; t < kThreads; t++) {
    const int base = t / 32 * 32, lane = t % 32;
    EXPECT_EQ(out[3 * t], 100.0f * (base + (7 * lane + 3) % 32)) << "thread " << t;
    EXPECT_EQ(out[3 * t + 1], 100.0f * (base + 1)) << "thread " << t;
    EXPECT_EQ(out[3 * t + 2], 100.0f * (base + (lane ^ 16))) << "thread " << t;
  }
  cudaFree(d_out);
}

}  // namespace
