#pragma once
// How the CPU backend uses its cores: OpenMP threads at the op level, each calling OpenBLAS
// single-threaded on its own chunk of rows (or its own experts, or heads). OpenBLAS's own
// thread pool is switched off (CpuOps constructor): its spinning pthreads and OpenMP's
// oversubscribe the cores and wait on each other; measured on a 2-core machine, a training
// step ran 30x slower with both pools active than with one.
//
// Work is cut into chunks that do not depend on the thread count, and no reduction is split
// across threads, so results are bit-identical for any thread count (a GEMM's rounding can
// depend on its shape: OpenBLAS picks other kernels for small matrices).
#include <algorithm>
#include <cstddef>

namespace hf {

// Elements of work below which a loop stays on the calling thread (an OpenMP if clause): the
// fork/join costs more than the loop, and on a shared machine waking a second thread can wait
// for a whole time slice (measured: AdamW over tiny's 60 tensors took 11 ms instead of 0.5).
constexpr size_t kMinParallelWork = size_t{1} << 15;
inline bool worth_threads(size_t work) { return work >= kMinParallelWork; }

// Rows per GEMM call when a product is split across threads: large enough that re-packing the
// weight for each chunk costs a few percent, small enough to give every thread work.
constexpr int kRowChunk = 256;

// fn(begin, end) on the fixed chunks [0, chunk), [chunk, 2 chunk), ... of [0, n), spread over
// the OpenMP threads. Index: int for rows, size_t for arena ranges.
template <typename Index, typename Fn>
void parallel_chunks(Index n, Index chunk, Fn fn) {
  const Index count = (n + chunk - 1) / chunk;
  if (count <= 1) {
    if (n > 0) fn(Index{0}, n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (Index c = 0; c < count; c++) fn(c * chunk, std::min(n, (c + 1) * chunk));
}

}  // namespace hf
