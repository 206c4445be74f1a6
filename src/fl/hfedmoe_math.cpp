#include "fl/hfedmoe_math.h"

#include <algorithm>
#include <cmath>

#include "fl/selection.h"
#include "util/check.h"

// Dimension letters: N tokens (rows of one layer's gate), E experts, K top-k.
// Sums run in double in row order, so results do not depend on threading or on the
// float rounding of partial sums, and a resumed run repeats them exactly.

namespace hf {
namespace {

bool counted(const uint8_t* valid, int i) { return valid == nullptr || valid[i] != 0; }

// Per expert over the valid rows of gate (N, E): sum and max of G_e, and the row count.
struct GateStats {
  std::vector<double> sum, max;
  int64_t count = 0;
};

GateStats gate_stats(const float* gate, const uint8_t* valid, int N, int E) {
  HF_CHECK(N >= 0 && E > 0, "gate shape (%d, %d)", N, E);
  GateStats st{std::vector<double>(E, 0.0), std::vector<double>(E, 0.0), 0};
  for (int i = 0; i < N; i++) {
    if (!counted(valid, i)) continue;
    const float* g = gate + static_cast<size_t>(i) * E;  // (E)
    for (int e = 0; e < E; e++) {
      st.sum[e] += g[e];
      st.max[e] = std::max(st.max[e], static_cast<double>(g[e]));  // G >= 0, so 0 is a safe start
    }
    st.count++;
  }
  return st;
}

// s(e) from the stats; 0 when no token is valid (an empty batch says nothing about e).
double importance_of(const GateStats& st, int e, double lambda) {
  if (st.count == 0) return 0.0;
  return lambda * (st.sum[e] / st.count) + (1.0 - lambda) * st.max[e];
}

}  // namespace

void expert_importance(const float* gate, const uint8_t* valid, int N, int E, float lambda, float* s) {
  GateStats st = gate_stats(gate, valid, N, E);
  for (int e = 0; e < E; e++) s[e] = static_cast<float>(importance_of(st, e, lambda));
}

void ib_score(const float* gate, const uint8_t* valid, int N, int E, float lambda, float beta, float* I) {
  GateStats st = gate_stats(gate, valid, N, E);
  // The penalty (1/B) sum_i G log(G / pbar) is >= 0 and grows as e's mass concentrates on
  // few tokens: it is pbar times the KL divergence of e's token distribution from uniform.
  std::vector<double> penalty(E, 0.0);
  if (st.count > 0) {
    std::vector<double> pbar(E);
    for (int e = 0; e < E; e++) pbar[e] = st.sum[e] / st.count;
    for (int i = 0; i < N; i++) {
      if (!counted(valid, i)) continue;
      const float* g = gate + static_cast<size_t>(i) * E;  // (E)
      for (int e = 0; e < E; e++)
        if (g[e] > 0) penalty[e] += g[e] * std::log(g[e] / pbar[e]);  // g > 0 implies pbar > 0; 0 log 0 = 0
    }
    for (int e = 0; e < E; e++) penalty[e] /= st.count;
  }
  for (int e = 0; e < E; e++) I[e] = static_cast<float>(importance_of(st, e, lambda) - beta * penalty[e]);
}

std::vector<int> select_experts(const float* I, const int32_t* topk, const uint8_t* valid, int N, int K, int E,
                                int budget) {
  HF_CHECK(N >= 0 && K > 0 && E > 0 && budget >= 0, "select_experts(N=%d, K=%d, E=%d, budget=%d)", N, K, E, budget);
  std::vector<uint8_t> routed(E, 0);  // membership of U
  for (int i = 0; i < N; i++) {
    if (!counted(valid, i)) continue;
    for (int k = 0; k < K; k++) {
      int32_t e = topk[static_cast<size_t>(i) * K + k];
      HF_CHECK(e >= 0 && e < E, "token %d routed to expert %d of %d", i, e, E);
      routed[e] = 1;
    }
  }
  std::vector<uint8_t> chosen(E);
  place_budget(I, routed.data(), 1, E, budget, BudgetScope::layer, 0, chosen.data());
  std::vector<int> A;
  for (int e = 0; e < E; e++)
    if (chosen[e]) A.push_back(e);
  return A;
}

int64_t accumulate_usage(const float* gate, const uint8_t* valid, int N, int E, double* usage_sum) {
  GateStats st = gate_stats(gate, valid, N, E);
  for (int e = 0; e < E; e++) usage_sum[e] += st.sum[e];
  return st.count;
}

float gate_alpha(const float* usage, const float* importance, int E, float tau, int union_size) {
  double weighted = 0.0;
  int kept = 0;  // |S_c|
  for (int e = 0; e < E; e++) {
    if (usage[e] < tau) continue;
    weighted += static_cast<double>(usage[e]) * importance[e];
    kept++;
  }
  if (kept == 0) return 0.0f;  // a client that kept no expert contributes nothing to the gate
  // union_size = 1 is allowed on purpose: it yields the numerator, for callers that learn |S|
  // only after the exchange and divide then.
  HF_CHECK(union_size > 0, "union of kept experts has %d members but this client kept %d", union_size, kept);
  return static_cast<float>(weighted / union_size);
}

void apply_weighted_average(const double* weighted_sum, double weight_sum, float* params, size_t n) {
  if (!(weight_sum > 0)) return;  // no client kept this expert: it keeps its global value
  for (size_t j = 0; j < n; j++) params[j] = static_cast<float>(weighted_sum[j] / weight_sum);
}

}  // namespace hf
