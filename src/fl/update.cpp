#include "fl/update.h"

#include <cstring>

#include "fl/fixed_point.h"

namespace hf {

int64_t bits_of(double v) {
  int64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}
double double_of(int64_t bits) {
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
int64_t bits_of_float(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return static_cast<int64_t>(b);
}
float float_of(int64_t bits) {
  uint32_t b = static_cast<uint32_t>(bits);
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

std::vector<Range> trained_dense_ranges(const ParamTable& table, Task task) {
  std::vector<Range> out;
  for (const ParamInfo& p : table.tensors()) {
    if (p.is_expert() || p.kind == ParamKind::router) continue;
    if (task == Task::classify && p.kind == ParamKind::lm_head) continue;
    if (task == Task::lm && (p.kind == ParamKind::cls_w || p.kind == ParamKind::cls_b)) continue;
    if (!out.empty() && out.back().end == p.offset)
      out.back().end += p.numel();
    else
      out.push_back({p.offset, p.offset + p.numel()});
  }
  return out;
}

void RoundUpdate::init(const ParamTable& table, Task task, int max_slots, int n_classes) {
  const ModelConfig& c = table.config();
  L = c.n_layers;
  E = c.n_experts;
  S = table.expert_block_size();
  RC = static_cast<size_t>(c.n_experts) * c.d_model;
  dense = trained_dense_ranges(table, task);
  D = 0;
  for (const Range& r : dense) D += r.size();
  touched.assign(static_cast<size_t>(L) * E, 0);
  kept.assign(static_cast<size_t>(L) * E, 0);
  expert_w.assign(static_cast<size_t>(L) * E, 0);
  expert_sum.assign(static_cast<size_t>(L) * E * S, 0);
  router_w.assign(L, 0);
  router_sum.assign(static_cast<size_t>(L) * RC, 0);
  dense_sum.assign(D, 0);
  slots.assign(static_cast<size_t>(max_slots) * kSlotFields, 0);
  slot_state.assign(static_cast<size_t>(max_slots) * 2 * L * E, 0);
  K = n_classes;
  class_trained.assign(static_cast<size_t>(K) * L * E, 0);
  P = 0;
}

void RoundUpdate::clear(int n_slots) {
  P = n_slots;
  std::fill(touched.begin(), touched.end(), 0);
  std::fill(kept.begin(), kept.end(), 0);
  std::fill(expert_w.begin(), expert_w.end(), 0);
  std::fill(expert_sum.begin(), expert_sum.end(), 0);
  std::fill(router_w.begin(), router_w.end(), 0);
  std::fill(router_sum.begin(), router_sum.end(), 0);
  dense_w = 0;
  std::fill(dense_sum.begin(), dense_sum.end(), 0);
  std::fill(slots.begin(), slots.end(), 0);
  std::fill(slot_state.begin(), slot_state.end(), 0);
  std::fill(class_trained.begin(), class_trained.end(), 0);
}

bool RoundUpdate::add_weighted_delta(int64_t* sum, double w, const float* params, const float* global, Range r) {
  bool ok = true;
  for (size_t i = r.begin; i < r.end; i++) {
    double v = w * (static_cast<double>(params[i]) - static_cast<double>(global[i]));
    ok &= fixed_in_range(v);
    sum[i - r.begin] += to_fixed(v);
  }
  return ok;
}

}  // namespace hf
