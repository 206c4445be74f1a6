#pragma once
// The CUDA execution model on the CPU, for running cuda/*.cu kernels without a GPU (see
// cuda/emu/README.md). Blocks run one after another; the threads of a block are fibers
// run round-robin until each finishes or waits at a barrier: __syncthreads waits
// for the whole block, a warp intrinsic for its warp. Fibers switch with a few instructions
// (emu_runtime.cc) rather than swapcontext, whose signal-mask system calls made it ~10x slower. A barrier that some of its threads can
// no longer reach (they returned) stops the run: on a GPU that is undefined behaviour.
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

namespace emu {

// swapcontext where the hand-written x86-64 switch cannot serve: under AddressSanitizer, which
// follows the stack switches it intercepts, and on other architectures.
#if defined(__SANITIZE_ADDRESS__) || !defined(__x86_64__)
#define HF_EMU_UCONTEXT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HF_EMU_UCONTEXT 1
#endif
#endif
#ifndef HF_EMU_UCONTEXT
#define HF_EMU_UCONTEXT 0
#endif

struct Fiber {
#if HF_EMU_UCONTEXT
  ucontext_t ctx;
#else
  void* sp = nullptr;  // saved stack pointer while the fiber is not running
#endif
  dim3 tid;
  int linear = 0;  // threadIdx as one index
  int state = 0;   // 0 runnable, 1 waiting at a barrier, 2 finished
  bool warp_barrier = false;  // the barrier waited at is its warp's (else the block's)
};
// One exchange slot per thread for the warp and block intrinsics.
union Slot {
  double d;
  float f;
  int i;
};

extern dim3 block_idx, block_dim, grid_dim;
extern Fiber* current;
extern Slot slots[1024];

[[noreturn]] void die(const char* what);
void barrier();       // __syncthreads: waits for every thread of the block
void warp_barrier();  // inside warp intrinsics: waits for the 32 lanes of the warp
// Runs body as every thread of every block of grid_dim x block_dim. With HF_EMU_REVERSE=1 in
// the environment, blocks and the threads of a block are scheduled in reverse order: results
// that change then depend on an order CUDA does not promise (a race).
void run_grid(const std::function<void()>& body);
bool is_device(const void* p);                    // inside a live cudaMalloc allocation
void* device_alloc(size_t bytes);
void device_free(void* p);

// kernel<<<grid, block, shared, stream>>>(args...) becomes launch(kernel, grid, block, args...)
// (cuda/emu/rewrite_launches.py); the stream is irrelevant: everything runs in call order.
template <typename... P, typename... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, A... args) {
  if (block.x * block.y * block.z > 1024) die("more than 1024 threads per block");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) die("invalid grid");
  grid_dim = grid;
  block_dim = block;
  run_grid([=]() { kernel(static_cast<P>(args)...); });
}

}  // namespace emu

#define threadIdx (emu::current->tid)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
#define __global__
#define __device__
#define __host__
#define __shared__ static  // one instance, shared by the fibers of the running block
#define __trap() emu::die("__trap() in a kernel")
using std::max;
using std::min;

inline void __syncthreads() { emu::barrier(); }

inline int __syncthreads_count(int pred) {
  emu::slots[emu::current->linear].i = pred != 0;
  emu::barrier();
  int n = emu::block_dim.x * emu::block_dim.y * emu::block_dim.z, count = 0;
  for (int i = 0; i < n; i++) count += emu::slots[i].i;
  emu::barrier();
  return count;
}

inline unsigned __ballot_sync(unsigned mask, int pred) {
  if (mask != 0xffffffffu) emu::die("partial warp masks are not emulated");
  const int t = emu::current->linear, base = t / 32 * 32;
  emu::slots[t].i = pred != 0;
  emu::warp_barrier();
  unsigned bits = 0;
  for (int lane = 0; lane < 32; lane++) bits |= unsigned(emu::slots[base + lane].i) << lane;
  emu::warp_barrier();
  return bits;
}

template <typename T>
T emu_shfl_xor(unsigned mask, T v, int lane_mask, T emu::Slot::*field) {
  if (mask != 0xffffffffu) emu::die("partial warp masks are not emulated");
  const int t = emu::current->linear;
  emu::slots[t].*field = v;
  emu::warp_barrier();
  T r = emu::slots[t ^ lane_mask].*field;
  emu::warp_barrier();
  return r;
}
inline float __shfl_xor_sync(unsigned mask, float v, int o) { return emu_shfl_xor(mask, v, o, &emu::Slot::f); }
inline double __shfl_xor_sync(unsigned mask, double v, int o) { return emu_shfl_xor(mask, v, o, &emu::Slot::d); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
