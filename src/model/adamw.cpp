#include "model/adamw.h"

#include <algorithm>
#include <cmath>

#include "ops/ops.h"
#include "util/check.h"

namespace hf {

float LrSchedule::at(int64_t step) const {
  if (step < warmup) return lr * static_cast<float>(step + 1) / static_cast<float>(warmup);
  if (total <= warmup) return lr;
  double progress = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(total - warmup));
  return static_cast<float>(min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

AdamW::AdamW(const ParamTable& table, Ops& ops, const AdamWConfig& cfg)
    : table_(table), ops_(ops), cfg_(cfg), steps_(table.tensors().size(), 0) {
  m_ = ops_.alloc_f32(table.total());
  v_ = ops_.alloc_f32(table.total());
}

AdamW::~AdamW() {
  ops_.free(m_);
  ops_.free(v_);
}

void AdamW::reset() {
  ops_.zero(m_, table_.total() * sizeof(float));
  ops_.zero(v_, table_.total() * sizeof(float));
  std::fill(steps_.begin(), steps_.end(), 0);
}

double AdamW::clip_grad_norm(float* grads, const std::vector<Range>& ranges, float max_norm) {
  // Ranges are summed in the caller's order, each deterministically: same ranges, same norm.
  double ss = 0;
  for (const Range& r : ranges) ss += ops_.sum_squares(grads + r.begin, r.size());
  double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    float s = static_cast<float>(max_norm / (norm + 1e-6));
    for (const Range& r : ranges) ops_.scale(grads + r.begin, r.size(), s);
  }
  return norm;
}

void AdamW::step(float* params, const float* grads, const std::vector<Range>& ranges, float lr) {
  const auto& tensors = table_.tensors();
  for (const Range& r : ranges) {
    // Tensors are in arena order: find the one starting at r.begin, then walk to r.end.
    auto it = std::lower_bound(tensors.begin(), tensors.end(), r.begin,
                               [](const ParamInfo& p, size_t off) { return p.offset < off; });
    HF_CHECK(it != tensors.end() && it->offset == r.begin, "range [%zu, %zu) does not start at a tensor", r.begin,
             r.end);
    for (; it != tensors.end() && it->offset < r.end; ++it) {
      HF_CHECK(it->offset + it->numel() <= r.end, "range [%zu, %zu) ends inside tensor %s", r.begin, r.end,
               it->name.c_str());
      int64_t t = ++steps_[it - tensors.begin()];
      double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t));
      double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t));
      size_t o = it->offset;
      ops_.adamw_update(params + o, grads + o, m_ + o, v_ + o, it->numel(), lr, cfg_.beta1, cfg_.beta2, cfg_.eps,
                        cfg_.weight_decay, bc1, bc2);
    }
  }
}

}  // namespace hf
