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

double ServerAggregator::raw_scale(const RoundUpdate& u, int l) const {
  if (!raw_gate_sum_) return 0;
  int S = 0;  // alpha(c) = a_c / |S|: W <- (1/|S|) sum_c a_c (W + dW_c)
  for (int e = 0; e < u.E; e++) S += u.kept[l * u.E + e];
  return S == 0 ? -1 : 1.0 / S;
}

void ServerAggregator::apply_part(const RoundUpdate& u, const SumTarget& t, size_t offset, const int64_t* sums,
                                  size_t count, float* params) {
  const Range r{t.params.begin + offset, t.params.begin + offset + count};
  switch (t.kind) {
    case SumTarget::expert:
      if (u.touched[t.index] && u.expert_w[t.index] > 0) step(params, r, sums, static_cast<double>(u.expert_w[t.index]), 0);
      break;
    case SumTarget::router: {
      const double raw = raw_scale(u, t.index);
      if (u.router_w[t.index] > 0 && raw >= 0) step(params, r, sums, static_cast<double>(u.router_w[t.index]), raw);
      break;
    }
    case SumTarget::dense:
      if (u.dense_w > 0) step(params, r, sums, static_cast<double>(u.dense_w), 0);
      break;
    case SumTarget::none:
      break;
  }
}

Changes ServerAggregator::changes(const RoundUpdate& u) const {
  Changes ch;
  ch.router.assign(u.L, 0);
  for (int l = 0; l < u.L; l++) {
    for (int e = 0; e < u.E; e++) ch.experts += u.touched[l * u.E + e] && u.expert_w[l * u.E + e] > 0;
    ch.router[l] = u.router_w[l] > 0 && raw_scale(u, l) >= 0;
  }
  ch.dense = u.dense_w > 0;
  return ch;
}

void ServerAggregator::apply(RoundUpdate& u, float* params, Changes& ch) {
  u.for_each_section(u.n_slots, u.touched.data(), [&](void* data, size_t k, const SumTarget& t) {
    apply_part(u, t, 0, static_cast<const int64_t*>(data), k, params);
  });
  ch = changes(u);
}

}  // namespace hf
