#pragma once
// AdamW with torch.optim.AdamW semantics (decoupled weight decay, bias correction), applied
// over a list of arena ranges so that frozen experts are skipped and their moments untouched;
// global-norm gradient clipping over the same ranges; a warm-up + cosine learning-rate schedule.
//
// State follows the ParamTable: moments m and v are two arenas of table.total() floats, and
// the step count is kept per tensor, as torch keeps it per parameter: a tensor that was not
// updated in a step (a frozen expert) does not advance its bias correction.
#include <cstdint>
#include <vector>

#include "model/params.h"

namespace hf {

class Ops;

struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// lr(step), step counted from 0: linear warm-up over `warmup` steps to `lr`, then cosine
// decay to `min_lr` at `total` steps (and min_lr after).
struct LrSchedule {
  float lr = 1e-3f;
  float min_lr = 0.0f;
  int64_t warmup = 0;
  int64_t total = 0;  // 0: constant lr after warm-up
  float at(int64_t step) const;
};

class AdamW {
 public:
  AdamW(const ParamTable& table, Ops& ops, const AdamWConfig& cfg);
  ~AdamW();
  AdamW(const AdamW&) = delete;
  AdamW& operator=(const AdamW&) = delete;

  // Global L2 norm of grads over `ranges`; when max_norm > 0 and the norm exceeds it, scales
  // those gradients by max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_ does.
  // Returns the norm before clipping.
  double clip_grad_norm(float* grads, const std::vector<Range>& ranges, float max_norm);

  // One AdamW step on params over `ranges` (unions of whole tensors; overlapping ranges are a
  // bug). params, grads: backend arenas laid out by the table.
  void step(float* params, const float* grads, const std::vector<Range>& ranges, float lr);

  // State for checkpoints: the moment arenas (backend memory) and per-tensor step counts.
  float* m() { return m_; }
  float* v() { return v_; }
  std::vector<int64_t>& steps() { return steps_; }
  void reset();  // zero moments and step counts (a client starting from fresh state)

 private:
  const ParamTable& table_;
  Ops& ops_;
  AdamWConfig cfg_;
  float* m_;  // (P)
  float* v_;  // (P)
  std::vector<int64_t> steps_;  // (tensors)
};

}  // namespace hf
