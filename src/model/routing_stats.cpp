#include "model/routing_stats.h"

#include <algorithm>
#include <cmath>

#include "model/model.h"
#include "util/check.h"
#include "util/strf.h"

namespace hf {

RoutingStats::RoutingStats(int n_layers, int n_experts)
    : L_(n_layers),
      E_(n_experts),
      hits_(static_cast<size_t>(n_layers) * n_experts, 0),
      top1_(static_cast<size_t>(n_layers) * n_experts, 0),
      tokens_(n_layers, 0),
      max_gate_sum_(n_layers, 0.0) {
  HF_CHECK(n_layers > 0 && n_experts > 1, "routing stats need layers and at least 2 experts (got %d, %d)", n_layers,
           n_experts);
}

void RoutingStats::add(int layer, const float* gate, const int32_t* topk, const uint8_t* valid, int N, int K) {
  HF_CHECK(layer >= 0 && layer < L_, "layer %d out of range", layer);
  HF_CHECK(K_ == 0 || K_ == K, "top-k changed from %d to %d", K_, K);
  K_ = K;
  int64_t* hits = hits_.data() + static_cast<size_t>(layer) * E_;  // (E)
  int64_t* top1 = top1_.data() + static_cast<size_t>(layer) * E_;  // (E)
  for (int n = 0; n < N; n++) {
    if (valid && !valid[n]) continue;
    const float* g = gate + static_cast<size_t>(n) * E_;  // (E)
    for (int k = 0; k < K; k++) hits[topk[static_cast<size_t>(n) * K + k]]++;
    int best = static_cast<int>(std::max_element(g, g + E_) - g);
    top1[best]++;
    max_gate_sum_[layer] += g[best];
    tokens_[layer]++;
  }
}

void RoutingStats::add(const Model& model) {
  const int N = model.last_B() * model.last_T(), K = model.config().top_k;
  for (int l = 0; l < L_; l++) add(l, model.gate_probs(l), model.topk_experts(l), model.token_valid(), N, K);
}

LayerRouting RoutingStats::layer(int l) const {
  HF_CHECK(l >= 0 && l < L_, "layer %d out of range", l);
  LayerRouting r;
  r.tokens = tokens_[l];
  if (r.tokens == 0) return r;
  const int64_t* hits = hits_.data() + static_cast<size_t>(l) * E_;
  const int64_t* top1 = top1_.data() + static_cast<size_t>(l) * E_;
  const double total = static_cast<double>(r.tokens) * K_;
  for (int e = 0; e < E_; e++)
    if (hits[e] > 0) r.entropy -= hits[e] / total * std::log(hits[e] / total);
  r.entropy_frac = r.entropy / std::log(static_cast<double>(E_));
  r.top_expert = static_cast<int>(std::max_element(top1, top1 + E_) - top1);
  r.top_share = static_cast<double>(top1[r.top_expert]) / r.tokens;
  r.max_gate = max_gate_sum_[l] / r.tokens;
  return r;
}

std::string RoutingStats::report() const {
  std::string out = strf("%-5s %9s %14s %13s %10s %9s %9s\n", "layer", "tokens", "entropy_nats",
                         "entropy/lnE", "top_expert", "top_share", "max_gate");
  for (int l = 0; l < L_; l++) {
    LayerRouting r = layer(l);
    out += strf("%-5d %9lld %14.4f %13.4f %10d %9.4f %9.4f\n", l, static_cast<long long>(r.tokens), r.entropy,
                r.entropy_frac, r.top_expert, r.top_share, r.max_gate);
  }
  return out;
}

}  // namespace hf
