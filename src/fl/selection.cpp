#include "fl/selection.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "model/model.h"
#include "util/check.h"

namespace hf {

void routed_experts(const Model& model, uint8_t* used) {
  const ModelConfig& c = model.config();
  int N = model.last_B() * model.last_T(), E = c.n_experts, K = c.top_k;
  const uint8_t* valid = model.token_valid();
  std::memset(used, 0, static_cast<size_t>(c.moe_layers()) * E);
  for (int l = 0; l < c.moe_layers(); l++) {
    const int32_t* topk = model.topk_experts(l);  // (N, K)
    for (int i = 0; i < N; i++) {
      if (valid && !valid[i]) continue;
      for (int k = 0; k < K; k++) used[l * E + topk[i * K + k]] = 1;
    }
  }
}

void place_budget(const float* score, const uint8_t* eligible, int L, int E, int budget, BudgetScope scope,
                  int min_per_layer, uint8_t* chosen) {
  HF_CHECK(L > 0 && E > 0 && budget >= 0 && min_per_layer >= 0, "place_budget(L=%d, E=%d, budget=%d, min=%d)", L, E,
           budget, min_per_layer);
  std::memset(chosen, 0, static_cast<size_t>(L) * E);
  // Candidates in (layer, expert) order; stable_sort keeps that order among equal scores.
  std::vector<int> order;
  order.reserve(static_cast<size_t>(L) * E);
  for (int i = 0; i < L * E; i++) {
    if (eligible && !eligible[i]) continue;
    HF_CHECK(!std::isnan(score[i]), "selection score of expert %d of layer %d is NaN", i % E, i / E);
    order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [score](int a, int b) { return score[a] > score[b]; });
  std::vector<int> in_layer(L, 0);
  if (scope == BudgetScope::layer) {
    for (int i : order)
      if (in_layer[i / E] < budget) chosen[i] = 1, in_layer[i / E]++;
    return;
  }
  int left = budget * L;
  const int floor_per_layer = std::min(min_per_layer, budget);
  for (int i : order)
    if (in_layer[i / E] < floor_per_layer && left > 0) chosen[i] = 1, in_layer[i / E]++, left--;
  for (int i : order)
    if (!chosen[i] && left > 0) chosen[i] = 1, left--;
}

}  // namespace hf
