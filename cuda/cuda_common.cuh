#pragma once
// Shared by the CUDA backend's .cu files: launch shapes, limits, warp reductions.
#include <cstddef>
#include <cstdint>

#include <cmath>

#include "cuda/cuda_check.h"

namespace hf::cuda_detail {

constexpr int kThreads = 256;      // threads per block for elementwise and row kernels
constexpr int kWarp = 32;
constexpr int kMaxExperts = 1024;  // the CPU backend's limit too
constexpr int kReduceBlocks = 1024;  // sum_squares: a fixed grid, so its sum order is fixed

// Blocks for a grid-stride loop over n items: enough to fill an H100 many times over, capped
// so the count fits the launch limit; kernels loop, so any n is covered.
inline int grid_for(size_t n) {
  size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

// Butterfly reductions: every lane ends with the same value, summed in a fixed order.
__device__ inline float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline double warp_sum(double v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of kThreads threads, in double, by a fixed tree (warps, then warp totals);
// every thread gets the total. `shared` holds kThreads / kWarp doubles; callers reusing it
// in a loop must __syncthreads() between calls.
__device__ inline double block_sum(double v, double* shared) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  v = warp_sum(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  double t = lane < kThreads / kWarp ? shared[lane] : 0.0;
  return warp_sum(t);
}

// Maximum over a block of kThreads threads; every thread gets it. Same `shared` rule as block_sum.
__device__ inline float block_max(float v, float* shared) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  v = warp_max(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float t = lane < kThreads / kWarp ? shared[lane] : -INFINITY;
  return warp_max(t);
}

}  // namespace hf::cuda_detail
