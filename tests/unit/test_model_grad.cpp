// The whole model: gradients against finite differences on a sample of every kind of parameter
// for both tasks, frozen-expert and strict-routing control, determinism, routing statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "model/model.h"
#include "model/tokenizer.h"
#include "ops/cpu_ops.h"
#include "test_ops_fd.h"
#include "util/check.h"

namespace hf {
namespace {

CpuOps& ops() {
  static CpuOps o;
  return o;
}

ModelConfig grad_config() {
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
void init_for_gradcheck(Model& m) {
  m.init_weights(1);
  const auto& t = m.table();
  for (size_t i = 0; i < t.tensors().size(); i++) {
    const ParamInfo& p = t.tensors()[i];
    auto r = test::randn(p.numel(), 1000 + i, 0.3f);
    bool norm = p.kind == ParamKind::attn_norm || p.kind == ParamKind::ffn_norm || p.kind == ParamKind::final_norm;
    for (size_t j = 0; j < p.numel(); j++) m.params()[p.offset + j] = norm ? 1.0f + r[j] : r[j];
  }
}

std::vector<std::vector<int32_t>> routing(const Model& m) {
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
void check_model_gradients(Model& m, const Batch& b, const ExpertControl& ctl) {
  m.forward(b, ctl);
  m.backward();
  std::vector<float> analytic(m.grads(), m.grads() + m.table().total());
  auto route0 = routing(m);
  const float h = 1e-2f;
  Rng rng(9, Purpose::eval);
  int checked = 0, skipped = 0;
  std::vector<bool> kinds_seen(16, false);
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

TEST(ModelGrad, LanguageModelMatchesFiniteDifferences) {
  TinyBatch tb;
  Model m(grad_config(), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  init_for_gradcheck(m);
  check_model_gradients(m, tb.batch(), {});
}

TEST(ModelGrad, TiedEmbeddingsMatchFiniteDifferences) {
  TinyBatch tb;
  ModelConfig c = grad_config();
  c.tie_embeddings = true;
  c.aux_loss_coef = 0;
  Model m(c, Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  init_for_gradcheck(m);
  check_model_gradients(m, tb.batch(), {});
}

TEST(ModelGrad, ClassifierMatchesFiniteDifferences) {
  TinyBatch tb;
  ModelConfig c = grad_config();
  c.n_classes = 3;
  Model m(c, Task::classify, ops(), TinyBatch::B, TinyBatch::T);
  init_for_gradcheck(m);
  check_model_gradients(m, tb.batch(), {});
}

TEST(ModelGrad, StrictRoutingMatchesFiniteDifferences) {
  TinyBatch tb;
  Model m(grad_config(), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  init_for_gradcheck(m);
  const uint8_t routable[8] = {1, 0, 1, 1, /* layer 1 */ 0, 1, 1, 0};
  ExpertControl ctl;
  ctl.routable = routable;
  check_model_gradients(m, tb.batch(), ctl);
  m.forward(tb.batch(), ctl);
  for (int l = 0; l < 2; l++)
    for (int a = 0; a < TinyBatch::B * TinyBatch::T * 2; a++)
      EXPECT_TRUE(routable[l * 4 + m.topk_experts(l)[a]]) << "layer " << l << " routed to a disallowed expert";
}

TEST(ModelGrad, StrictRoutingBelowTopKIsAUsageError) {
  TinyBatch tb;
  Model m(grad_config(), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  m.init_weights(1);
  const uint8_t routable[8] = {1, 0, 0, 0, 1, 1, 1, 1};
  ExpertControl ctl;
  ctl.routable = routable;
  EXPECT_THROW(m.forward(tb.batch(), ctl), Error);
}

TEST(ModelGrad, FrozenExpertsZeroAndTheRestUnchanged) {
  TinyBatch tb;
  Model m(grad_config(), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  init_for_gradcheck(m);
  m.forward(tb.batch());
  m.backward();
  std::vector<float> full(m.grads(), m.grads() + m.table().total());
  double full_flops = m.last_step_flops();
  const uint8_t trainable[8] = {1, 0, 0, 1, /* layer 1 */ 0, 1, 1, 0};
  ExpertControl ctl;
  ctl.trainable = trainable;
  m.forward(tb.batch(), ctl);
  m.backward();
  std::vector<bool> frozen(m.table().total(), false);
  double removed = 0;
  for (int l = 0; l < 2; l++)
    for (int e = 0; e < 4; e++) {
      if (trainable[l * 4 + e]) continue;
      Range r = m.table().expert_block(l, e);
      for (size_t i = r.begin; i < r.end; i++) {
        frozen[i] = true;
        removed += std::fabs(full[i]);
      }
    }
  for (size_t i = 0; i < full.size(); i++) {
    if (frozen[i])
      ASSERT_EQ(m.grads()[i], 0.0f) << "frozen entry " << i;
    else
      ASSERT_EQ(m.grads()[i], full[i]) << "entry " << i << " changed by masking other experts";
  }
  EXPECT_GT(removed, 0.0) << "the frozen experts had no gradient to remove; pick others";
  EXPECT_LT(m.last_step_flops(), full_flops);
  // Choosing the mask after the forward (set_trainable, HFedMoE Eq. 15) gives the same gradients.
  std::vector<float> masked(m.grads(), m.grads() + m.table().total());
  m.forward(tb.batch());
  m.set_trainable(trainable);
  m.backward();
  EXPECT_EQ(0, std::memcmp(masked.data(), m.grads(), masked.size() * sizeof(float)));
}

TEST(ModelGrad, ForwardAndBackwardAreBitIdentical) {
  TinyBatch tb;
  ModelConfig c = grad_config();
  Model a(c, Task::lm, ops(), TinyBatch::B, TinyBatch::T), b(c, Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  a.init_weights(42);
  b.init_weights(42);
  ASSERT_EQ(0, std::memcmp(a.params(), b.params(), a.table().total() * sizeof(float)));
  ForwardResult r1 = a.forward(tb.batch());
  a.backward();
  std::vector<float> g1(a.grads(), a.grads() + a.table().total());
  ForwardResult r2 = a.forward(tb.batch());
  a.backward();
  ForwardResult r3 = b.forward(tb.batch());
  b.backward();
  EXPECT_EQ(r1.loss, r2.loss);
  EXPECT_EQ(r1.loss, r3.loss);
  EXPECT_EQ(0, std::memcmp(g1.data(), a.grads(), g1.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(g1.data(), b.grads(), g1.size() * sizeof(float)));
}

// Work is split into thread-independent chunks and no reduction is split (ops/cpu_parallel.h),
// so the thread count must not change a single bit: design section 6 lets any rank, whatever
// its core count, train any client.
TEST(ModelGrad, BitIdenticalAcrossThreadCounts) {
  ModelConfig c = model_preset("tiny");
  c.aux_loss_coef = 0.01f;
  const int B = 3, T = 64;
  std::vector<int32_t> tokens(B * T), targets(B * T);
  Rng rng(11, Purpose::eval);
  for (auto& t : tokens) t = static_cast<int32_t>(rng.below(256));
  for (int i = 0; i < B * T; i++) targets[i] = (i + 1) % T == 0 ? -1 : tokens[i + 1];
  Batch batch{tokens.data(), targets.data(), nullptr, B, T};
  std::vector<float> grads[2];
  float loss[2];
  std::vector<ParamInfo> tensors;
  for (int threads : {1, 2}) {
    CpuOps ops_n(threads);
    Model m(c, Task::lm, ops_n, B, T);
    m.init_weights(5);
    loss[threads - 1] = m.forward(batch).loss;
    m.backward();
    grads[threads - 1].assign(m.grads(), m.grads() + m.table().total());
    tensors = m.table().tensors();
  }
  for (const ParamInfo& p : tensors)
    EXPECT_EQ(0, std::memcmp(grads[0].data() + p.offset, grads[1].data() + p.offset, p.numel() * sizeof(float)))
        << p.name;
  CpuOps restore(2);
  EXPECT_EQ(loss[0], loss[1]);
}

TEST(ModelGrad, RoutingStatisticsAndCounts) {
  TinyBatch tb;
  Model m(grad_config(), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  m.init_weights(3);
  ForwardResult r = m.forward(tb.batch());
  int expected_counted = 0;
  for (int32_t t : tb.targets) expected_counted += t != -1;
  EXPECT_EQ(r.counted, expected_counted);
  EXPECT_LE(r.correct, r.counted);
  EXPECT_GT(r.loss, r.task_loss);  // aux loss on
  // At init the logits are near zero: the loss is near log(V).
  EXPECT_NEAR(r.task_loss, std::log(260.0), 0.1);
  EXPECT_EQ(m.last_B(), TinyBatch::B);
  EXPECT_EQ(m.last_T(), TinyBatch::T);
  for (int n = 0; n < TinyBatch::B * TinyBatch::T; n++) {
    EXPECT_EQ(m.token_valid()[n], tb.tokens[n] != kPadToken);
    for (int l = 0; l < 2; l++) {
      double s = 0;
      for (int e = 0; e < 4; e++) s += m.gate_probs(l)[n * 4 + e];
      EXPECT_NEAR(s, 1.0, 1e-5);
    }
  }
  EXPECT_GT(m.last_step_flops(), 0.0);
  // logits() is what the loss was computed from.
  double ce = 0;
  for (int n = 0; n < TinyBatch::B * TinyBatch::T; n++) {
    if (tb.targets[n] < 0) continue;
    const float* z = m.logits() + n * 260;
    double sum = 0;
    for (int j = 0; j < 260; j++) sum += std::exp(static_cast<double>(z[j]));
    ce += std::log(sum) - z[tb.targets[n]];
  }
  EXPECT_NEAR(ce / r.counted, r.task_loss, 1e-5);
}

TEST(ModelGrad, InitIsPerTensorAndScaled) {
  Model m(grad_config(), Task::lm, ops(), 1, 8);
  m.init_weights(7);
  const ParamTable& t = m.table();
  auto stddev = [&](const ParamInfo& p) {
    double s = 0;
    for (size_t i = 0; i < p.numel(); i++) s += static_cast<double>(m.params()[p.offset + i]) * m.params()[p.offset + i];
    return std::sqrt(s / p.numel());
  };
  EXPECT_NEAR(stddev(t.get(ParamKind::tok_emb)), 0.02, 0.002);
  EXPECT_NEAR(stddev(t.get(ParamKind::w2, 0, 0)) * 2.0, 0.02, 0.004);  // 1/sqrt(2L) = 1/2
  EXPECT_EQ(m.params()[t.get(ParamKind::attn_norm, 1).offset], 1.0f);
}

}  // namespace
}  // namespace hf
