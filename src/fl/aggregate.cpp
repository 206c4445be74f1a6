#include "fl/aggregate.h"

#include <cmath>

#include "fl/fixed_point.h"
#include "ops/cpu_parallel.h"

namespace hf {

ServerAggregator::ServerAggregator(const ParamTable& table, const FlOptions& fl, bool raw_gate_sum)
    : table_(table), fl_(fl), raw_gate_sum_(raw_gate_sum) {
  if (fl.server_opt_v == ServerOpt::fedadam) {
    m.assign(table.total(), 0.0f);
    v.assign(table.total(), 0.0f);
  }
}

// delta_i = sum_i / w (both fixed point: the scale cancels). raw_scale > 0: the target is
// raw_scale * (w * W + sum_c w_c dW_c) instead (Eq. 21 as printed, w = sum alpha * |S|).
// Every element is independent, so the fixed chunks spread over the threads give the same bits
// for any thread count.
void ServerAggregator::step(float* params, Range r, const int64_t* sum, double w, double raw_scale) {
  parallel_chunks(r.size(), kApplyChunk, [&](size_t begin, size_t end) {
    step_chunk(params, Range{r.begin + begin, r.begin + end}, sum + begin, w, raw_scale);
  });
}

void ServerAggregator::step_chunk(float* params, Range r, const int64_t* sum, double w, double raw_scale) {
  const bool adam = !m.empty();
  const double lr = fl_.server_lr, b1 = 0.9, b2 = 0.99, eps = 1e-3;
  for (size_t i = r.begin; i < r.end; i++) {
    double p = params[i];
    double delta = static_cast<double>(sum[i - r.begin]) / w;
    if (raw_scale > 0) delta = raw_scale * (w * p + static_cast<double>(sum[i - r.begin])) / kFixedScale - p;
    if (adam) {
      m[i] = static_cast<float>(b1 * m[i] + (1 - b1) * delta);
      v[i] = static_cast<float>(b2 * v[i] + (1 - b2) * delta * delta);
      p += lr * m[i] / (std::sqrt(static_cast<double>(v[i])) + eps);
    } else {
      p += lr * delta;
    }
    params[i] = static_cast<float>(p);
  }
}

void ServerAggregator::apply(const RoundUpdate& u, float* params, Changes& ch) {
  ch.router.assign(u.L, 0);
  ch.dense = 0;
  ch.experts = 0;
  for (int l = 0; l < u.L; l++) {
    for (int e = 0; e < u.E; e++) {
      int i = l * u.E + e;
      if (!u.touched[i] || u.expert_w[i] <= 0) continue;
      step(params, table_.expert_block(l, e), u.expert(l, e),
           static_cast<double>(u.expert_w[i]), 0);
      ch.experts++;
    }
    if (u.router_w[l] <= 0) continue;
    double raw = 0;
    if (raw_gate_sum_) {  // alpha(c) = a_c / |S|: W <- (1/|S|) sum_c a_c (W + dW_c)
      int S = 0;
      for (int e = 0; e < u.E; e++) S += u.kept[l * u.E + e];
      if (S == 0) continue;
      raw = 1.0 / S;
    }
    step(params, table_.router(l), u.router(l),
         static_cast<double>(u.router_w[l]), raw);
    ch.router[l] = 1;
  }
  if (u.dense_w > 0) {
    const int64_t* sum = u.dense_sum.data();
    for (const Range& r : u.dense) {
      step(params, r, sum, static_cast<double>(u.dense_w), 0);
      sum += r.size();
    }
    ch.dense = 1;
  }
}

}  // namespace hf
