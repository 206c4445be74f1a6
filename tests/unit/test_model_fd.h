#pragma once
// The whole-model finite-difference check and its fixtures, shared by test_model_grad.cpp and
// test_model_lora.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/model.h"
#include "model/tokenizer.h"
#include "ops/cpu_ops.h"
#include "test_ops_fd.h"

namespace hf::test {

inline CpuOps& model_test_ops() {
  static CpuOps o;
  return o;
}

inline ModelConfig grad_config() {
  ModelConfig c;
  c.preset = "gradcheck";
  c.d_model = 16;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;  // grouped-query attention
  c.n_experts = 4;
  c.top_k = 2;
  c.d_ff = 12;
  c.seq_len = 8;
  c.aux_loss_coef = 0.1f;
  return c;
}

// Two sequences of length 6, the second right-padded by two; lm targets are the next token,
// -1 at the last real position and at pads.
struct TinyBatch {
  static constexpr int B = 2, T = 6;
  std::vector<int32_t> tokens, targets, labels;
  TinyBatch() : tokens(B * T), targets(B * T, -1), labels{2, 0} {
    Rng rng(5, Purpose::eval);
    for (auto& t : tokens) t = static_cast<int32_t>(rng.below(256));
    tokens[T + 4] = tokens[T + 5] = kPadToken;
    for (int b = 0; b < B; b++)
      for (int t = 0; t + 1 < T; t++)
        if (tokens[b * T + t + 1] != kPadToken && tokens[b * T + t] != kPadToken)
          targets[b * T + t] = tokens[b * T + t + 1];
  }
  Batch batch() const { return Batch{tokens.data(), targets.data(), labels.data(), B, T}; }
};

// Larger-than-default weights (std 0.3, norm weights near 1) so that gradients stand well
// above the fp32 rounding noise of the finite differences.
inline void init_for_gradcheck(Model& m) {
  m.init_weights(1);
  const auto& t = m.table();
  for (size_t i = 0; i < t.tensors().size(); i++) {
    const ParamInfo& p = t.tensors()[i];
    auto r = test::randn(p.numel(), 1000 + i, 0.3f);
    bool norm = p.kind == ParamKind::attn_norm || p.kind == ParamKind::ffn_norm || p.kind == ParamKind::final_norm;
    for (size_t j = 0; j < p.numel(); j++) m.params()[p.offset + j] = norm ? 1.0f + r[j] : r[j];
  }
}

inline std::vector<std::vector<int32_t>> routing(const Model& m) {
  std::vector<std::vector<int32_t>> out;
  size_t n = static_cast<size_t>(m.last_B()) * m.last_T() * m.config().top_k;
  for (int l = 0; l < m.config().n_layers; l++) out.emplace_back(m.topk_experts(l), m.topk_experts(l) + n);
  return out;
}

// Checks analytic gradients of a sample of entries (4 per tensor) against central differences
// of the full fp32 model. The noise floor is ForwardResult::loss being a float: a loss near 5
// is quantised to 4.8e-7, i.e. 2.4e-5 in a difference over 2h = 0.02. Truncation error at
// h = 1e-2 on weights of scale 0.3 measured ~1e-6 (against h = 3e-2 and 3e-3). Tolerance: 2%
// of the entry plus 1e-4 absolute, 4x above that floor, while any missing term in a chain rule
// shows up as an O(1) relative error. Entries whose perturbation changes a top-k decision (a
// kink) are skipped.
inline void check_model_gradients(Model& m, const Batch& b, const ExpertControl& ctl) {
  m.forward(b, ctl);
  m.backward();
  std::vector<float> analytic(m.grads(), m.grads() + m.table().total());
  auto route0 = routing(m);
  const float h = 1e-2f;
  Rng rng(9, Purpose::eval);
  int checked = 0, skipped = 0;
  std::vector<bool> kinds_seen(kParamKinds, false);
  for (const ParamInfo& p : m.table().tensors()) {
    for (int s = 0; s < 4; s++) {
      size_t i = p.offset + rng.below(p.numel());
      float x0 = m.params()[i];
      m.params()[i] = x0 + h;
      double lp = m.forward(b, ctl).loss;
      bool kink = routing(m) != route0;
      m.params()[i] = x0 - h;
      double lm = m.forward(b, ctl).loss;
      kink |= routing(m) != route0;
      m.params()[i] = x0;
      if (kink) {
        skipped++;
        continue;
      }
      double fd = (lp - lm) / (2.0 * h);
      EXPECT_NEAR(analytic[i], fd, 2e-2 * std::fabs(fd) + 1e-4) << p.name << " entry " << i - p.offset;
      checked++;
      kinds_seen[static_cast<int>(p.kind)] = true;
    }
  }
  for (const ParamInfo& p : m.table().tensors())
    EXPECT_TRUE(kinds_seen[static_cast<int>(p.kind)]) << "no entry of " << param_kind_name(p.kind) << " checked";
  EXPECT_LT(skipped, checked / 4) << "too many entries crossed a routing kink";
}

}  // namespace hf::test
