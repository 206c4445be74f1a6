#include "fl/fixed_point_sum.h"

#ifdef __AVX__
#include <immintrin.h>
#endif

#include <atomic>
#include <cstdint>

#include "fl/fixed_point.h"
#include "ops/cpu_parallel.h"

namespace hf {
namespace {

// GCC/Clang vector extensions: portable 4-lane code (AVX2 under the default -march=x86-64-v3).
// The *_u types load and store at any address (alignment of one element).
using f32x4_u = float __attribute__((vector_size(16), aligned(4)));
using f64x4 = double __attribute__((vector_size(32)));
using i64x4 = int64_t __attribute__((vector_size(32)));
using i64x4_u = int64_t __attribute__((vector_size(32), aligned(8)));
constexpr size_t kLanes = 4;
// Elements per thread's unit of work (parallel_chunks): fixed, so which thread adds which element
// never changes what is added; one chunk is the most a thread does alone (worth_threads).
constexpr size_t kChunk = kMinParallelWork;

// a + 2^52 for 0 <= a < 2^52 lands in [2^52, 2^53), where doubles are the integers: the addition
// rounds a to the nearest integer, ties to even, and the double's mantissa bits are that integer.
constexpr double kTwo52 = 4503599627370496.0;

// llround(x) per lane (round half away from zero) for |x| < 2^52, on a = |x|: ties-to-even
// rounded a tie down exactly when a - r is +1/2 (exact: |a - r| <= 1/2 and both are multiples
// of a's ulp or of 1), and one step up fixes it; then the sign goes back on. Lane masks are -1
// (true) or 0, hence subtraction for +1 and (q ^ m) - m for the negation where m is set.
inline i64x4 round_half_away(f64x4 x) {
  const f64x4 two52 = {kTwo52, kTwo52, kTwo52, kTwo52};
  const i64x4 sign_bit = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
  f64x4 a = (f64x4)((i64x4)x & ~sign_bit);  // |x|, a vector cast keeps the bits
  f64x4 y = a + two52;
  i64x4 q = (i64x4)y - (i64x4)two52;
  q -= (a - (y - two52)) == 0.5;
  i64x4 negative = x < 0;
  return (q ^ negative) - negative;
}

// 4 floats at p as doubles. GCC 12 turns __builtin_convertvector of 4 floats into two 2-lane
// conversions and an insert; AVX's single conversion made the whole loop 1.4x faster (3.4 ->
// 4.7 GB/s in cache, one thread, on the 2-vCPU Xeon VM of bench/results/federated.md, 2b).
inline f64x4 load_as_double(const float* p) {
#ifdef __AVX__
  return reinterpret_cast<f64x4>(_mm256_cvtps_pd(_mm_loadu_ps(p)));
#else
  return __builtin_convertvector(*reinterpret_cast<const f32x4_u*>(p), f64x4);
#endif
}

// One chunk, 4 lanes at a time and without branches: lanes out of range add nothing there and
// are counted; if there were any, a second pass adds their llround (the reference's integers,
// whatever they are for a value that stops the run) and reports them.
bool accumulate_chunk(int64_t* sum, double w, const float* params, const float* global, size_t n) {
  const f64x4 max_abs = {kFixedMaxAbs, kFixedMaxAbs, kFixedMaxAbs, kFixedMaxAbs};
  const i64x4 sign_bit = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
  i64x4 all_in = {-1, -1, -1, -1};  // lanes that stayed in the range throughout
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    f64x4 v = w * (load_as_double(params + i) - load_as_double(global + i));
    i64x4 in = (f64x4)((i64x4)v & ~sign_bit) < max_abs;  // false for NaN, as fixed_in_range
    all_in &= in;
    // |v * 2^32| < 2^48 where in: round_half_away's range
    *reinterpret_cast<i64x4_u*>(sum + i) += round_half_away(v * kFixedScale) & in;
  }
  bool ok = accumulate_fixed_reference(sum + i, w, params + i, global + i, n - i);
  if (all_in[0] & all_in[1] & all_in[2] & all_in[3]) return ok;
  for (size_t j = 0; j < i; j++) {
    double v = w * (static_cast<double>(params[j]) - static_cast<double>(global[j]));
    if (!fixed_in_range(v)) sum[j] += to_fixed(v);
  }
  return false;
}

}  // namespace

bool accumulate_fixed_reference(int64_t* sum, double w, const float* params, const float* global, size_t n) {
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    double v = w * (static_cast<double>(params[i]) - static_cast<double>(global[i]));
    ok &= fixed_in_range(v);
    sum[i] += to_fixed(v);
  }
  return ok;
}

bool accumulate_fixed(int64_t* sum, double w, const float* params, const float* global, size_t n) {
  std::atomic<bool> ok{true};
  parallel_chunks(n, kChunk, [&](size_t begin, size_t end) {
    if (!accumulate_chunk(sum + begin, w, params + begin, global + begin, end - begin)) ok.store(false);
  });
  return ok.load();
}

}  // namespace hf
