// The emulator's state and scheduler (emu.h), its device-memory table, and a stand-in for
// cuda/device.cu that reports one emulated device. Named .cc so the CUDA library's glob
// (cuda/*.cu, cuda/*.cpp) never picks it up.
#include <map>
#include <string>
#include <vector>

#include "cuda/device.h"
#include "cuda_runtime.h"

namespace emu {

dim3 block_idx, block_dim, grid_dim;
Fiber* current = nullptr;
Slot slots[1024];

namespace {
constexpr size_t kStack = 64 * 1024;  // per fiber; kernels take a few KiB (4 KiB parameters at most)
std::vector<Fiber> fibers;
std::vector<char> stacks;
const std::function<void()>* block_body = nullptr;
std::map<uintptr_t, size_t> allocations;  // base -> bytes

#if HF_EMU_UCONTEXT
ucontext_t scheduler;

void fiber_main() {
  (*block_body)();
  current->state = 2;  // returning resumes the scheduler (uc_link)
}

void start_fiber(Fiber& f, char* stack) {
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = stack;
  f.ctx.uc_stack.ss_size = kStack;
  f.ctx.uc_link = &scheduler;
  makecontext(&f.ctx, fiber_main, 0);
}
void to_scheduler() { swapcontext(&current->ctx, &scheduler); }
void to_fiber(Fiber& f) { swapcontext(&scheduler, &f.ctx); }
#else
// switch_stack(save, next): pushes the callee-saved registers (System V x86-64), stores the
// stack pointer in *save, loads next and pops that stack's registers; its `ret` resumes the
// other side where it last called switch_stack (or enters fiber_entry the first time). Kernels
// must leave MXCSR and the x87 control word alone: they are not switched.
extern "C" void emu_switch_stack(void** save, void* next);
asm(R"(
.pushsection .text
.globl emu_switch_stack
.type emu_switch_stack,@function
emu_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_switch_stack,.-emu_switch_stack
.popsection
)");

void* scheduler_sp = nullptr;

[[noreturn]] void fiber_entry() {
  (*block_body)();
  current->state = 2;
  emu_switch_stack(&current->sp, scheduler_sp);  // never resumed: the scheduler skips finished fibers
  __builtin_unreachable();
}

// The new stack holds what emu_switch_stack pops: six zero registers, then fiber_entry as the
// return address, above it an empty slot so fiber_entry starts with the ABI's alignment
// (rsp = 8 mod 16, as after a call).
void start_fiber(Fiber& f, char* stack) {
  auto top = reinterpret_cast<uintptr_t>(stack + kStack) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;
  *--sp = reinterpret_cast<void*>(&fiber_entry);
  for (int i = 0; i < 6; i++) *--sp = nullptr;
  f.sp = sp;
}
void to_scheduler() { emu_switch_stack(&current->sp, scheduler_sp); }
void to_fiber(Fiber& f) { emu_switch_stack(&scheduler_sp, f.sp); }
#endif
}  // namespace

void die(const char* what) {
  std::fprintf(stderr, "cuda emulator: %s\n", what);
  std::abort();
}

void barrier() {
  current->state = 1;
  current->warp_barrier = false;
  to_scheduler();
}

void warp_barrier() {
  current->state = 1;
  current->warp_barrier = true;
  to_scheduler();
}

namespace {
// After a round every thread has finished or waits. Releases each warp whose live lanes all
// wait at a warp barrier; if none, the block barrier, which every thread must be waiting at.
void release(int n) {
  bool released = false;
  for (int w = 0; w < n; w += 32) {
    int waiting = 0, finished = 0, lanes = std::min(32, n - w);
    for (int i = w; i < w + lanes; i++) {
      waiting += fibers[i].state == 1 && fibers[i].warp_barrier;
      finished += fibers[i].state == 2;
    }
    if (waiting == 0) continue;
    if (waiting + finished < lanes) continue;  // other lanes are at __syncthreads: they must get here first
    if (finished > 0 || lanes < 32) die("a warp intrinsic with lanes that have exited or do not exist");
    for (int i = w; i < w + lanes; i++) fibers[i].state = 0;
    released = true;
  }
  if (released) return;
  for (int i = 0; i < n; i++) {
    if (fibers[i].state == 2) die("__syncthreads that some threads of the block never reach (they returned)");
    if (fibers[i].warp_barrier) die("a warp intrinsic that other lanes of its warp do not reach");
    fibers[i].state = 0;
  }
}

const bool reverse = std::getenv("HF_EMU_REVERSE") && std::string(std::getenv("HF_EMU_REVERSE")) == "1";

// Runs every runnable thread until it finishes or waits, releases waiting threads (release()),
// and repeats until all have finished.
void run_block(const std::function<void()>& body) {
  const int n = block_dim.x * block_dim.y * block_dim.z;
  fibers.resize(n);
  if (stacks.size() < n * kStack) stacks.resize(n * kStack);
  block_body = &body;
  for (int i = 0; i < n; i++) {
    Fiber& f = fibers[i];
    f.linear = i;
    f.tid = dim3(i % block_dim.x, i / block_dim.x % block_dim.y, i / (block_dim.x * block_dim.y));
    f.state = 0;
    start_fiber(f, stacks.data() + i * kStack);
  }
  for (;;) {
    for (int k = 0; k < n; k++) {
      Fiber& f = fibers[reverse ? n - 1 - k : k];
      if (f.state == 0) {
        current = &f;
        to_fiber(f);
      }
    }
    bool all_done = true;
    for (Fiber& f : fibers) all_done &= f.state == 2;
    if (all_done) return;
    release(n);
  }
}
}  // namespace

void run_grid(const std::function<void()>& body) {
  const size_t blocks = size_t(grid_dim.x) * grid_dim.y * grid_dim.z;
  for (size_t k = 0; k < blocks; k++) {
    size_t b = reverse ? blocks - 1 - k : k;
    block_idx = dim3(b % grid_dim.x, b / grid_dim.x % grid_dim.y, b / (size_t(grid_dim.x) * grid_dim.y));
    run_block(body);
  }
}

void* device_alloc(size_t bytes) {
  void* p = std::calloc(1, bytes);
  if (p) allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
  return p;
}

void device_free(void* p) {
  if (allocations.erase(reinterpret_cast<uintptr_t>(p)) == 0) die("cudaFree of a pointer cudaMalloc did not return");
  std::free(p);
}

bool is_device(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) return false;
  --it;
  return a < it->first + std::max<size_t>(it->second, 1);
}

}  // namespace emu

namespace hf::cuda {

DeviceScan scan_devices() {
  DeviceScan scan;
  scan.devices.push_back({0, "CPU emulation of the CUDA execution model", 9, 0, 1.0, 1});
  return scan;
}

void use_device(int) {}

}  // namespace hf::cuda
