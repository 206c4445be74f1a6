#pragma once
// The executor's fixed-point accumulate (fl/fixed_point.h): sum[i] += q(w * (params[i] - global[i]))
// with q(v) = llround(v * 2^32), the slowest stage of the exchange. Two versions of one function:
//  - accumulate_fixed_reference: the spec, one llround per element on the calling thread;
//  - accumulate_fixed: the same integers, 4 lanes at a time over fixed chunks spread on the
//    OpenMP threads. Every element is independent, so the result does not depend on the
//    thread count; a chunk whose lanes leave the fixed-point range goes through the reference,
//    so out-of-range, infinite and NaN contributions add exactly what they add today.
// Both return false when some |w * delta| >= 2^16 or is not finite (fixed_in_range).
#include <cstddef>
#include <cstdint>

namespace hf {

// sum (n) += q(w * (params (n) - global (n))), in fp64 as written.
bool accumulate_fixed_reference(int64_t* sum, double w, const float* params, const float* global, size_t n);
bool accumulate_fixed(int64_t* sum, double w, const float* params, const float* global, size_t n);

}  // namespace hf
