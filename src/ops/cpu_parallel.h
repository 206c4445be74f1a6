#pragma once
// How the CPU backend uses its cores: OpenMP threads at the op level, each calling OpenBLAS
// single-threaded on its own block of rows (or its own experts, or heads). OpenBLAS's own
// thread pool is switched off (CpuOps constructor): its spinning pthreads and OpenMP's
// oversubscribe the cores and wait on each other; measured on a 2-core machine, a training
// step ran 30x slower with both pools active than with one.
#include <omp.h>

#include <algorithm>

namespace hf {

// fn(begin, end) on contiguous blocks of [0, n), one block per OpenMP thread; runs inline when
// the work is too small to be worth a fork (fewer than 2 * min_block items).
template <typename Fn>
void parallel_blocks(int n, int min_block, Fn fn) {
  int threads = std::min(omp_get_max_threads(), std::max(1, n / std::max(1, min_block)));
  if (threads <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int b = static_cast<int>(static_cast<long long>(n) * t / nt);
    int e = static_cast<int>(static_cast<long long>(n) * (t + 1) / nt);
    if (e > b) fn(b, e);
  }
}

}  // namespace hf
