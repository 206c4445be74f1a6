#pragma once
// The HFedMoE equations (Fang et al., arXiv 2601.00583; docs/design.md section 7),
// as pure functions over one MoE layer's gate probabilities, numbered as in the paper.
// gate: (N, E) softmax router probabilities G_e(x_i) of one layer; valid: (N) 1 = count the
// token (pad rows are 0), nullptr = all. Every function is deterministic.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hf {

// Eq. 3-5: s(e) = lambda * mean_i G_e(x_i) + (1 - lambda) * max_i G_e(x_i). s: (E)
void expert_importance(const float* gate, const uint8_t* valid, int N, int E, float lambda, float* s);

// Eq. 14: I(e) = s(e) - beta * (1/B) sum_i G_e(x_i) log(G_e(x_i) / pbar_e), pbar_e = mean_i G_e(x_i),
// with 0 log 0 = 0 and B the number of valid tokens. I: (E)
void ib_score(const float* gate, const uint8_t* valid, int N, int E, float lambda, float beta, float* I);

// Eq. 15: U = experts chosen (top-k) by any valid token (topk: (N, K)); A = the `budget`
// experts of U with the highest I(e), ties broken by the lower expert id. Returns A sorted by id.
std::vector<int> select_experts(const float* I, const int32_t* topk, const uint8_t* valid, int N, int K, int E,
                                int budget);

// Eq. 16 accumulation: usage_sum[e] += sum_i G_e(x_i) over valid tokens; returns the count
// added, so u_c(e) = usage_sum[e] / count over the client's whole round.
int64_t accumulate_usage(const float* gate, const uint8_t* valid, int N, int E, double* usage_sum);

// Eq. 18-21, one layer: S_c = {e : u_c(e) >= tau}; alpha(c) = sum_{e in S_c} u_c(e) s_c(e) / |S|,
// where union_size = |S| = |union over the round's clients of S_c| (known after the exchange).
float gate_alpha(const float* usage, const float* importance, int E, float tau, int union_size);

// Eq. 17 on the server: expert <- weighted_sum / weight_sum where weight_sum > 0, else unchanged.
// weighted_sum: (n) sum_c w_ce * E_e(c); params: (n) updated in place.
void apply_weighted_average(const double* weighted_sum, double weight_sum, float* params, size_t n);

}  // namespace hf
