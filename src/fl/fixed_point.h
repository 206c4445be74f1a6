#pragma once
// Exact, order-independent sums for aggregation (docs/design.md section 4).
// Every client's weighted contribution w*x is rounded once to a 64-bit integer q = round(w*x * 2^32);
// integer sums do not depend on grouping, so executor pre-aggregation and MPI_SUM over any number
// of ranks give the same bits.
//   resolution: 2^-32 (2.3e-10) of w*x, far below fp32's 6e-8 relative precision of the parameters
//   range:      |w*x| < 2^16 per contribution; with at most kMaxContributions (2^14) clients per
//               round the sum stays below 2^62, so int64 never overflows. Weights are scaled into
//               (0, 1] (|D_c| / max shard size; alpha <= 1) so parameters deltas up to 6.5e4 fit.
#include <cmath>
#include <cstdint>

namespace hf {

constexpr double kFixedScale = 4294967296.0;           // 2^32
constexpr double kFixedMaxAbs = 65536.0;                // 2^16: bound on |w*x| per contribution
constexpr int kMaxContributions = 1 << 14;             // clients per round

inline int64_t to_fixed(double v) { return std::llround(v * kFixedScale); }
inline double from_fixed(int64_t q) { return static_cast<double>(q) / kFixedScale; }
inline bool fixed_in_range(double v) { return std::fabs(v) < kFixedMaxAbs; }  // false for NaN too

}  // namespace hf
