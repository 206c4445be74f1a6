#include "fl/update.h"

#include <algorithm>

#include "fl/fixed_point_sum.h"

namespace hf {

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

void RoundUpdate::init(const ParamTable& table, Task task, int max_slots, int profiles) {
  const ModelConfig& c = table.config();
  L = c.moe_layers();
  E = c.n_experts;
  PE = table.expert_block_size();
  PR = static_cast<size_t>(c.n_experts) * c.d_model;
  dense = trained_dense_ranges(table, task);
  PD = 0;
  for (const Range& r : dense) PD += r.size();
  const size_t LE = static_cast<size_t>(L) * E;
  touched.assign(LE, 0);
  kept.assign(LE, 0);
  expert_w.assign(LE, 0);
  held_.assign(LE, -1);
  pool_.clear();
  pool_used_ = 0;
  zeros_.assign(PE, 0);
  routers.clear();
  experts.clear();
  for (int l = 0; l < L; l++) {
    routers.push_back(table.router(l));
    for (int e = 0; e < E; e++) experts.push_back(table.expert_block(l, e));
  }
  router_w.assign(L, 0);
  router_sum.assign(static_cast<size_t>(L) * PR, 0);
  dense_sum.assign(PD, 0);
  stats.assign(max_slots, SlotStats{});
  slot_state.assign(static_cast<size_t>(max_slots) * 2 * LE, 0);
  n_profiles = profiles;
  class_trained.assign(static_cast<size_t>(n_profiles) * LE, 0);
  n_slots = 0;
}

void RoundUpdate::clear(int n) {
  n_slots = n;
  std::fill(touched.begin(), touched.end(), 0);
  std::fill(kept.begin(), kept.end(), 0);
  std::fill(expert_w.begin(), expert_w.end(), 0);
  std::fill(held_.begin(), held_.end(), -1);
  pool_used_ = 0;
  std::fill(router_w.begin(), router_w.end(), 0);
  std::fill(router_sum.begin(), router_sum.end(), 0);
  dense_w = 0;
  std::fill(dense_sum.begin(), dense_sum.end(), 0);
  std::fill(stats.begin(), stats.end(), SlotStats{});
  std::fill(slot_state.begin(), slot_state.end(), 0);
  std::fill(class_trained.begin(), class_trained.end(), 0);
}

int64_t* RoundUpdate::expert(int l, int e) {
  int32_t& slot = held_[static_cast<size_t>(l) * E + e];
  if (slot < 0) {
    if (pool_used_ == static_cast<int>(pool_.size())) pool_.emplace_back(new int64_t[PE]);
    slot = pool_used_++;
    std::fill(pool_[slot].get(), pool_[slot].get() + PE, 0);
  }
  return pool_[slot].get();
}

size_t RoundUpdate::wire_words(int n, const uint8_t* sent) {
  size_t words = 0;
  for_each_section(n, sent, [&words](void*, size_t k, const SumTarget&) { words += k; });
  return words;
}

bool RoundUpdate::add_weighted_delta(int64_t* sum, double w, const float* params, const float* global, Range r) {
  return accumulate_fixed(sum, w, params + r.begin, global + r.begin, r.size());
}

}  // namespace hf
