// The whole model: gradients against finite differences on a sample of every kind of parameter
// for both tasks, frozen-expert and strict-routing control, determinism, routing statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "model/model.h"
#include "model/tokenizer.h"
#include "ops/cpu_ops.h"
#include "test_model_fd.h"
#include "test_ops_fd.h"
#include "util/check.h"

namespace hf {
namespace {

using test::check_model_gradients;
using test::grad_config;
using test::init_for_gradcheck;
using test::routing;
using test::TinyBatch;

CpuOps& ops() { return test::model_test_ops(); }

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
