// The HFedMoE equations (src/fl/hfedmoe_math.h) against values computed by hand here.
// Gate values are floats, so results are compared to 1e-6: the inputs themselves carry
// float rounding (0.3f != 0.3) of about 1e-8, far below that.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "fl/hfedmoe_math.h"
#include "util/check.h"

namespace hf {
namespace {

constexpr double kTol = 1e-6;

// N=3, E=3; the last row is a pad token with a large gate that must never count.
//   row 0: 0.5 0.3 0.2
//   row 1: 0.1 0.6 0.3
//   row 2: 0.9 0.05 0.05   (pad)
const std::vector<float> kGate = {0.5f, 0.3f, 0.2f, 0.1f, 0.6f, 0.3f, 0.9f, 0.05f, 0.05f};
const std::vector<uint8_t> kValid = {1, 1, 0};

TEST(HFedMoEMath, ImportanceMixesMeanAndMax) {
  // Over the two valid rows: mean = (0.3, 0.45, 0.25), max = (0.5, 0.6, 0.3).
  float s[3];
  expert_importance(kGate.data(), kValid.data(), 3, 3, 1.0f, s);  // lambda 1: the mean
  EXPECT_NEAR(s[0], 0.3, kTol);
  EXPECT_NEAR(s[1], 0.45, kTol);
  EXPECT_NEAR(s[2], 0.25, kTol);
  expert_importance(kGate.data(), kValid.data(), 3, 3, 0.0f, s);  // lambda 0: the max
  EXPECT_NEAR(s[0], 0.5, kTol);
  EXPECT_NEAR(s[1], 0.6, kTol);
  EXPECT_NEAR(s[2], 0.3, kTol);
  expert_importance(kGate.data(), kValid.data(), 3, 3, 0.5f, s);  // halfway: 0.4, 0.525, 0.275
  EXPECT_NEAR(s[0], 0.4, kTol);
  EXPECT_NEAR(s[1], 0.525, kTol);
  EXPECT_NEAR(s[2], 0.275, kTol);
}

TEST(HFedMoEMath, ImportanceWithoutValidityCountsEveryRow) {
  // valid = nullptr: all three rows. mean e0 = (0.5 + 0.1 + 0.9) / 3 = 0.5, max e0 = 0.9.
  float s[3];
  expert_importance(kGate.data(), nullptr, 3, 3, 0.5f, s);
  EXPECT_NEAR(s[0], 0.5 * 0.5 + 0.5 * 0.9, kTol);  // 0.7
  EXPECT_NEAR(s[1], 0.5 * (0.95 / 3) + 0.5 * 0.6, kTol);
}

TEST(HFedMoEMath, EmptyBatchGivesZerosAndTheEmptySet) {
  float s[3] = {9, 9, 9}, I[3] = {9, 9, 9};
  double usage[3] = {1, 2, 3};
  const std::vector<uint8_t> none = {0, 0, 0};  // three pad rows count as no tokens at all
  for (int N : {0, 3}) {
    expert_importance(kGate.data(), none.data(), N, 3, 0.5f, s);
    ib_score(kGate.data(), none.data(), N, 3, 0.5f, 1.0f, I);
    for (int e = 0; e < 3; e++) {
      EXPECT_EQ(s[e], 0.0f);
      EXPECT_EQ(I[e], 0.0f);
    }
    EXPECT_EQ(accumulate_usage(kGate.data(), none.data(), N, 3, usage), 0);
    EXPECT_EQ(usage[0], 1.0);  // untouched
    EXPECT_EQ(usage[2], 3.0);
    const std::vector<int32_t> topk = {0, 1, 2};  // (3, 1), only pad rows
    EXPECT_TRUE(select_experts(I, topk.data(), none.data(), N, 1, 3, 2).empty());
  }
}

// N=4 tokens, E=3. Expert 0 is used confidently by one token, expert 1 weakly by all:
//   row 0: 0.8 0.2 0.0
//   row 1: 0.0 0.2 0.8      (rows 2 and 3 equal row 1)
// pbar = (0.8/4, 0.8/4, 2.4/4) = (0.2, 0.2, 0.6); max = (0.8, 0.2, 0.8).
// IB penalty (1/B) sum_i G log(G / pbar), with 0 log 0 = 0:
//   e0: (1/4) * 0.8 * log(0.8 / 0.2)       = 0.2 * log 4      = 0.277258872
//   e1: (1/4) * 4 * 0.2 * log(0.2 / 0.2)   = 0
//   e2: (1/4) * 3 * 0.8 * log(0.8 / 0.6)   = 0.6 * log(4/3)   = 0.172609243
const std::vector<float> kIbGate = {0.8f, 0.2f, 0.0f, 0.0f, 0.2f, 0.8f, 0.0f, 0.2f, 0.8f, 0.0f, 0.2f, 0.8f};
const double kPen0 = 0.2 * std::log(4.0), kPen2 = 0.6 * std::log(4.0 / 3.0);

TEST(HFedMoEMath, IbScorePenalisesConcentratedUse) {
  float I[3];
  // lambda 1: s = pbar = (0.2, 0.2, 0.6). Experts 0 and 1 have equal importance; with
  // beta = 1 the broadly used expert 1 keeps 0.2 while expert 0 drops to 0.2 - 0.277.
  ib_score(kIbGate.data(), nullptr, 4, 3, 1.0f, 1.0f, I);
  EXPECT_NEAR(I[0], 0.2 - kPen0, kTol);  // -0.077258872
  EXPECT_NEAR(I[1], 0.2, kTol);
  EXPECT_NEAR(I[2], 0.6 - kPen2, kTol);  // 0.427390757
  EXPECT_LT(I[0], I[1]);
  // beta 0: the score is the importance.
  ib_score(kIbGate.data(), nullptr, 4, 3, 1.0f, 0.0f, I);
  EXPECT_NEAR(I[0], 0.2, kTol);
  EXPECT_NEAR(I[2], 0.6, kTol);
}

TEST(HFedMoEMath, IbScoreFlipsTheRankingThatMaxImportanceGives) {
  // lambda 0.5: s = 0.5 pbar + 0.5 max = (0.5, 0.2, 0.7): the max favours expert 0.
  // beta 2: I = (0.5 - 2 * 0.277259, 0.2, 0.7 - 2 * 0.172609) = (-0.054518, 0.2, 0.354781).
  float I[3];
  ib_score(kIbGate.data(), nullptr, 4, 3, 0.5f, 0.0f, I);
  EXPECT_NEAR(I[0], 0.5, kTol);
  EXPECT_NEAR(I[1], 0.2, kTol);
  EXPECT_NEAR(I[2], 0.7, kTol);
  // top-2 routes: row 0 -> {0, 1}, rows 1-3 -> {2, 1}; U = {0, 1, 2}; budget 2.
  const std::vector<int32_t> topk = {0, 1, 2, 1, 2, 1, 2, 1};
  EXPECT_EQ(select_experts(I, topk.data(), nullptr, 4, 2, 3, 2), (std::vector<int>{0, 2}));
  ib_score(kIbGate.data(), nullptr, 4, 3, 0.5f, 2.0f, I);
  EXPECT_NEAR(I[0], 0.5 - 2 * kPen0, kTol);
  EXPECT_NEAR(I[1], 0.2, kTol);
  EXPECT_NEAR(I[2], 0.7 - 2 * kPen2, kTol);
  EXPECT_EQ(select_experts(I, topk.data(), nullptr, 4, 2, 3, 2), (std::vector<int>{1, 2}));
}

TEST(HFedMoEMath, IbScoreOfAnUnusedExpertIsZeroNotNaN) {
  // Expert 1 has G = 0 on every token: pbar = 0 and every term is 0 log 0 = 0.
  // Expert 0 has G = 1 everywhere: log(1 / 1) = 0, so I = s = 1.
  const std::vector<float> gate = {1, 0, 1, 0};
  float I[2];
  ib_score(gate.data(), nullptr, 2, 2, 0.5f, 3.0f, I);
  EXPECT_EQ(I[0], 1.0f);
  EXPECT_EQ(I[1], 0.0f);
}

TEST(HFedMoEMath, IbScoreIgnoresPadRows) {
  // The pad row (0.9, 0.05, 0.05) would change both pbar and max if it counted.
  // Valid rows only, lambda 1, beta 1: pbar = (0.3, 0.45, 0.25);
  //   e0: (0.5 log(0.5/0.3) + 0.1 log(0.1/0.3)) / 2
  const double pen0 = (0.5 * std::log(0.5 / 0.3) + 0.1 * std::log(0.1 / 0.3)) / 2;  // 0.072780
  float I[3];
  ib_score(kGate.data(), kValid.data(), 3, 3, 1.0f, 1.0f, I);
  EXPECT_NEAR(I[0], 0.3 - pen0, kTol);
}

TEST(HFedMoEMath, SelectBreaksTiesByLowerId) {
  // E=4, one token per row routed top-1 to experts 0..3, so U = {0, 1, 2, 3}.
  // I = (0.5, 0.7, 0.5, 0.5): expert 1 first, then the tie 0 = 2 = 3 goes to 0, then 2.
  const float I[4] = {0.5f, 0.7f, 0.5f, 0.5f};
  const std::vector<int32_t> topk = {3, 2, 1, 0};
  EXPECT_EQ(select_experts(I, topk.data(), nullptr, 4, 1, 4, 1), (std::vector<int>{1}));
  EXPECT_EQ(select_experts(I, topk.data(), nullptr, 4, 1, 4, 2), (std::vector<int>{0, 1}));
  EXPECT_EQ(select_experts(I, topk.data(), nullptr, 4, 1, 4, 3), (std::vector<int>{0, 1, 2}));
}

TEST(HFedMoEMath, SelectTakesAllOfUWhenTheBudgetAllows) {
  // Tokens route only to {1, 3}; expert 0 has the best score but no token chose it.
  const float I[4] = {0.9f, 0.1f, 0.8f, 0.2f};
  const std::vector<int32_t> topk = {3, 1, 1, 3};  // (2, 2)
  EXPECT_EQ(select_experts(I, topk.data(), nullptr, 2, 2, 4, 2), (std::vector<int>{1, 3}));
  EXPECT_EQ(select_experts(I, topk.data(), nullptr, 2, 2, 4, 4), (std::vector<int>{1, 3}));
  EXPECT_EQ(select_experts(I, topk.data(), nullptr, 2, 2, 4, 1), (std::vector<int>{3}));  // 0.2 > 0.1
}

TEST(HFedMoEMath, SelectWithBudgetZeroIsEmpty) {
  const float I[2] = {0.5f, 0.6f};
  const std::vector<int32_t> topk = {0, 1};
  EXPECT_TRUE(select_experts(I, topk.data(), nullptr, 2, 1, 2, 0).empty());
}

TEST(HFedMoEMath, SelectExcludesExpertsOnlyPadRowsChose) {
  // Row 1 is a pad token routed to expert 2, the best-scored expert: 2 is not in U.
  const float I[3] = {0.1f, 0.2f, 0.9f};
  const std::vector<int32_t> topk = {0, 1, 2, 2};  // (2, 2)
  const std::vector<uint8_t> valid = {1, 0};
  EXPECT_EQ(select_experts(I, topk.data(), valid.data(), 2, 2, 3, 3), (std::vector<int>{0, 1}));
  EXPECT_EQ(select_experts(I, topk.data(), valid.data(), 2, 2, 3, 1), (std::vector<int>{1}));
}

TEST(HFedMoEMath, SelectRejectsAnOutOfRangeRoute) {
  const float I[2] = {0.5f, 0.6f};
  const std::vector<int32_t> topk = {0, 2};
  EXPECT_THROW(select_experts(I, topk.data(), nullptr, 2, 1, 2, 1), Error);
}

TEST(HFedMoEMath, UsageAccumulatesOverBatches) {
  // Batch 1 = kGate (two valid rows): sums (0.6, 0.9, 0.5), count 2.
  // Batch 2: row (0.2, 0.2, 0.6) valid, row (0.7, 0.2, 0.1) pad: sums (0.2, 0.2, 0.6), count 1.
  // Total (0.8, 1.1, 1.1) over 3 tokens: u = (0.266667, 0.366667, 0.366667).
  double usage[3] = {0, 0, 0};
  int64_t count = accumulate_usage(kGate.data(), kValid.data(), 3, 3, usage);
  EXPECT_EQ(count, 2);
  const std::vector<float> batch2 = {0.2f, 0.2f, 0.6f, 0.7f, 0.2f, 0.1f};
  const std::vector<uint8_t> valid2 = {1, 0};
  count += accumulate_usage(batch2.data(), valid2.data(), 2, 3, usage);
  EXPECT_EQ(count, 3);
  EXPECT_NEAR(usage[0], 0.8, kTol);
  EXPECT_NEAR(usage[1], 1.1, kTol);
  EXPECT_NEAR(usage[2], 1.1, kTol);
  EXPECT_NEAR(usage[0] / count, 0.8 / 3, kTol);
}

TEST(HFedMoEMath, GateAlphaSkipsExpertsBelowTau) {
  // u = (0.5, 0.05, 0.3, 0.15), s = (0.6, 0.9, 0.4, 0.2), tau = 0.1: S_c = {0, 2, 3}
  // (expert 1, the most important, is below tau and excluded).
  // alpha = (0.5*0.6 + 0.3*0.4 + 0.15*0.2) / |S| = (0.3 + 0.12 + 0.03) / 5 = 0.09.
  const float u[4] = {0.5f, 0.05f, 0.3f, 0.15f};
  const float s[4] = {0.6f, 0.9f, 0.4f, 0.2f};
  EXPECT_NEAR(gate_alpha(u, s, 4, 0.1f, 5), 0.09, kTol);
  // tau = 0.15 keeps expert 3 (u >= tau): the same 0.09; tau = 0.2 drops it: 0.42 / 5.
  EXPECT_NEAR(gate_alpha(u, s, 4, 0.15f, 5), 0.09, kTol);
  EXPECT_NEAR(gate_alpha(u, s, 4, 0.2f, 5), 0.084, kTol);
  // No expert at or above tau: the client has no say in the gate.
  EXPECT_EQ(gate_alpha(u, s, 4, 0.9f, 5), 0.0f);
  // union_size 1 gives the numerator 0.45, for a caller that divides by |S| once it is known.
  EXPECT_NEAR(gate_alpha(u, s, 4, 0.1f, 1), 0.45, kTol);
  EXPECT_THROW(gate_alpha(u, s, 4, 0.1f, 0), Error);
}

TEST(HFedMoEMath, WeightedAverageLeavesUnkeptExpertsUnchanged) {
  // Two clients with |D| = 3 and 1 kept the expert: sum_c w E(c) = 3*(1,2) + 1*(5,6) = (8, 12).
  const double weighted[2] = {8, 12};
  float params[2] = {-1, -1};
  apply_weighted_average(weighted, 4.0, params, 2);
  EXPECT_EQ(params[0], 2.0f);  // 8 / 4
  EXPECT_EQ(params[1], 3.0f);  // 12 / 4
  const double nothing[2] = {0, 0};
  float kept[2] = {0.25f, -7.5f};
  apply_weighted_average(nothing, 0.0, kept, 2);
  EXPECT_EQ(kept[0], 0.25f);
  EXPECT_EQ(kept[1], -7.5f);
}

}  // namespace
}  // namespace hf
