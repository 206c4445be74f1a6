// The emulator's state and scheduler (emu.h), its device-memory table, and a stand-in for
// cuda/device.cu that reports one emulated device. Named .cc so the CUDA library's glob
// (cuda/*.cu, cuda/*.cpp) never picks it up.
#include <map>
#include <vector>

#include "cuda/device.h"
#include "cuda_runtime.h"

namespace emu {

dim3 block_idx, block_dim, grid_dim;
Fiber* current = nullptr;
Slot slots[1024];

namespace {
constexpr size_t kStack = 64 * 1024;  // per fiber; kernels take a few KiB (4 KiB parameters at most)
ucontext_t scheduler;
std::vector<Fiber> fibers;
std::vector<char> stacks;
const std::function<void()>* block_body = nullptr;
std::map<uintptr_t, size_t> allocations;  // base -> bytes

void fiber_main() {
  (*block_body)();
  current->state = 2;  // returning resumes the scheduler (uc_link)
}
}  // namespace

void die(const char* what) {
  std::fprintf(stderr, "cuda emulator: %s\n", what);
  std::abort();
}

void barrier() {
  current->state = 1;
  swapcontext(&current->ctx, &scheduler);
}

// Runs every runnable thread until it finishes or waits; when all live threads wait,
// releases them together; repeats until all have finished.
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
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = stacks.data() + i * kStack;
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = &scheduler;
    makecontext(&f.ctx, fiber_main, 0);
  }
  for (;;) {
    for (Fiber& f : fibers)
      if (f.state == 0) {
        current = &f;
        swapcontext(&scheduler, &f.ctx);
      }
    bool all_done = true;
    for (Fiber& f : fibers) {
      all_done &= f.state == 2;
      if (f.state == 1) f.state = 0;
    }
    if (all_done) return;
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
