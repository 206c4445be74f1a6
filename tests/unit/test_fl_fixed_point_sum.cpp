// The fast fixed-point accumulate (fl/fixed_point_sum.h) against its plain llround reference:
// the same integers, bit for bit, and the same verdict on the range, for edge values and for
// lengths that exercise the 4-lane body, the tail and several threads' chunks.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "fl/fixed_point.h"
#include "fl/fixed_point_sum.h"
#include "ops/cpu_parallel.h"
#include "util/rng.h"

namespace hf {
namespace {

struct Case {
  std::vector<float> params, global;
};

// Both paths over the same inputs from the same nonzero start: equal sums and verdicts. The start
// is not negative: llround's answer for values beyond int64 (LLONG_MIN) must not overflow it.
void expect_same(const Case& c, double w, const char* what) {
  const size_t n = c.params.size();
  std::vector<int64_t> want(n), got(n);
  for (size_t i = 0; i < n; i++) want[i] = got[i] = static_cast<int64_t>(i % 7);
  bool ok_want = accumulate_fixed_reference(want.data(), w, c.params.data(), c.global.data(), n);
  bool ok_got = accumulate_fixed(got.data(), w, c.params.data(), c.global.data(), n);
  EXPECT_EQ(ok_got, ok_want) << what << ", w " << w;
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ(got[i], want[i]) << what << ", w " << w << ", element " << i << ": params " << c.params[i]
                               << " global " << c.global[i];
}

// Ties: with w = 2^-32, w * (p - g) * 2^32 = p - g, so half-integers p - g are exact ties, both
// signs, from +-0.5 up to the largest half-integers a float holds (2^23 - 0.5).
Case ties() {
  Case c;
  for (float k : {0.0f, 1.0f, 2.0f, 3.0f, 10.0f, 1023.0f, 65535.0f, 4194303.0f, 8388607.0f})
    for (float sign : {1.0f, -1.0f}) {
      c.params.push_back(sign * (k + 0.5f));
      c.global.push_back(0.0f);
    }
  return c;
}

// Values no fp32 training produces but the reference defines: denormals, signed zeros, the edges
// of the range (|w*delta| just under and at 2^16), far outside it (|x| >= 2^52 after scaling),
// infinities and NaN; each padded by ordinary values so that it lands in a 4-lane block.
Case edges() {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float denorm = std::numeric_limits<float>::denorm_min();
  Case c;
  for (float v : {denorm, -denorm, 1e-39f, -1e-39f, 0.0f, -0.0f, 65535.99f, -65535.99f, 65536.0f, -65536.0f, 1.0e6f,
                  -3.0e9f, inf, -inf, nan}) {
    for (float pad : {0.25f, -0.125f, 1.5f}) {
      c.params.push_back(pad);
      c.global.push_back(0.0f);
    }
    c.params.push_back(v);
    c.global.push_back(0.0f);
  }
  return c;
}

// Ordinary deltas of every magnitude, longer than several threads' chunks, with a ragged tail.
Case random_deltas() {
  Case c;
  Rng rng(7, Purpose::init);
  const size_t n = 3 * kMinParallelWork + 5;
  for (size_t i = 0; i < n; i++) {
    float g = static_cast<float>(rng.normal());
    float scale = std::ldexp(1.0f, static_cast<int>(i % 40) - 30);  // 2^-30 .. 2^9
    c.global.push_back(g);
    c.params.push_back(g + scale * static_cast<float>(rng.normal()));
  }
  return c;
}

const double kWeights[] = {1.0, 0.37, 1.0 / 3.0, std::ldexp(1.0, -32), std::ldexp(3.0, -33), 1e-12};

TEST(FixedPointSum, TiesRoundHalfAwayFromZeroAsLlround) {
  Case c = ties();
  for (double w : kWeights) expect_same(c, w, "ties");
  // The reference's own meaning, by hand: +-0.5 -> +-1, +-2.5 -> +-3.
  std::vector<int64_t> s(c.params.size(), 0);
  accumulate_fixed(s.data(), std::ldexp(1.0, -32), c.params.data(), c.global.data(), s.size());
  EXPECT_EQ(s[0], 1);
  EXPECT_EQ(s[1], -1);
  EXPECT_EQ(s[4], 3);
  EXPECT_EQ(s[5], -3);
}

TEST(FixedPointSum, EdgeValuesAndOutOfRangeAsTheReference) {
  Case c = edges();
  for (double w : kWeights) expect_same(c, w, "edges");
  std::vector<int64_t> s(c.params.size(), 0);
  EXPECT_FALSE(accumulate_fixed(s.data(), 1.0, c.params.data(), c.global.data(), s.size()));
  EXPECT_TRUE(accumulate_fixed(s.data(), 1.0, c.params.data(), c.global.data(), 4 * 8));  // up to -65535.99
}

TEST(FixedPointSum, RandomDeltasOnAnyThreadCount) {
  Case c = random_deltas();
  const int threads = omp_get_max_threads();
  for (int t : {1, 2, 3}) {
    omp_set_num_threads(t);
    for (double w : kWeights) expect_same(c, w, "random");
  }
  omp_set_num_threads(threads);
}

}  // namespace
}  // namespace hf
