// The model with LoRA adapters over a frozen base (model.lora): the arena's layout, a fresh
// adapter leaving the base model's loss and gradients unchanged bit for bit, equality with the
// merged weights W + (alpha/r) B A, gradients against finite differences over fp32 and nf4 bases,
// frozen experts' adapters, and the configurations refused with one line.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "data/lora_base.h"
#include "model/model.h"
#include "test_model_fd.h"
#include "util/check.h"

namespace hf {
namespace {

using test::check_model_gradients;
using test::grad_config;
using test::init_for_gradcheck;
using test::TinyBatch;

CpuOps& ops() { return test::model_test_ops(); }

ModelConfig lora_config(uint32_t targets, BaseDtype dtype = BaseDtype::fp32) {
  ModelConfig c = grad_config();
  c.lora.rank = 3;
  c.lora.alpha = 6;
  c.lora.targets = targets;
  c.lora.base_dtype = dtype;
  return c;
}

TEST(ModelLora, ArenaHoldsAdaptersAndExpertBlocksStayContiguous) {
  ModelConfig c = lora_config(kLoraAttention | kLoraExperts);
  ParamTable t(c);
  const size_t r = 3, C = c.d_model, F = c.d_ff, QC = c.n_heads * c.head_size(), KVC = c.n_kv_heads * c.head_size();
  EXPECT_EQ(t.expert_block_size(), r * (C + F) * 3);
  for (int l = 0; l < c.n_layers; l++)
    for (int e = 0; e < c.n_experts; e++) {
      Range b = t.expert_block(l, e);
      EXPECT_EQ(b.begin, t.get(ParamKind::w1_lora_a, l, e).offset);
      EXPECT_EQ(b.end, t.get(ParamKind::w2_lora_b, l, e).offset + C * r);
    }
  for (const ParamInfo& p : t.tensors()) EXPECT_FALSE(is_adaptable(p.kind)) << p.name << " is frozen, not trained";
  EXPECT_EQ(t.get(ParamKind::wk_lora_a, 1).shape, (std::vector<int64_t>{3, static_cast<int64_t>(C)}));
  EXPECT_EQ(t.get(ParamKind::wk_lora_b, 1).shape, (std::vector<int64_t>{static_cast<int64_t>(KVC), 3}));
  EXPECT_EQ(t.get(ParamKind::wo_lora_a, 0).shape, (std::vector<int64_t>{3, static_cast<int64_t>(QC)}));
  EXPECT_NE(t.find("layer_0/expert_2/w3_lora_B"), nullptr);
  // only attention adapted: experts have no trained tensors, their blocks are empty
  ParamTable attention_only(lora_config(kLoraAttention));
  EXPECT_EQ(attention_only.expert_block_size(), 0u);
  EXPECT_EQ(attention_only.expert_block(1, 3).size(), 0u);
}

// PEFT's B = 0 makes a fresh adapter a no-op: with an fp32 base the LoRA model computes the
// same products as the model without adapters plus exact zeros, so loss and the gradients of
// the tensors both train (embeddings, norms, routers, heads) are the same bits.
TEST(ModelLora, FreshAdaptersLeaveTheBaseModelBitForBit) {
  TinyBatch tb;
  Model full(grad_config(), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  Model lora(lora_config(kLoraAttention | kLoraExperts), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  full.init_weights(3);
  lora.init_weights(3);
  const ForwardResult a = full.forward(tb.batch()), b = lora.forward(tb.batch());
  EXPECT_EQ(a.loss, b.loss);
  full.backward();
  lora.backward();
  int compared = 0;
  for (const ParamInfo& p : lora.table().tensors()) {
    const ParamInfo* q = full.table().find(p.name);
    if (!q) continue;
    compared++;
    for (size_t j = 0; j < p.numel(); j++)
      ASSERT_EQ(lora.grads()[p.offset + j], full.grads()[q->offset + j]) << p.name << " entry " << j;
  }
  EXPECT_GT(compared, 0);
  // an fp32 base occupies what the linear kinds took in the full arena
  size_t linear = 0;
  for (const ParamInfo& p : full.table().tensors()) linear += is_adaptable(p.kind) ? p.numel() : 0;
  EXPECT_EQ(lora.frozen_base_bytes(), linear * sizeof(float));
  EXPECT_EQ(full.frozen_base_bytes(), 0u);
}

// A trained adapter is the merged weight W + (alpha/r) B A, computed without forming it: the
// loss equals the model without adapters holding merged_weights (data/lora_base.h, what
// `export` writes; an nf4 base dequantised as the model stores it), to fp32 rounding (1e-5
// relative; a wrong scale, a transposed adapter or a missing branch is O(1e-2) or more).
TEST(ModelLora, EqualsTheModelWithMergedWeights) {
  TinyBatch tb;
  for (BaseDtype dtype : {BaseDtype::fp32, BaseDtype::nf4}) {
    SCOPED_TRACE(base_dtype_name(dtype));
    ModelConfig c = lora_config(kLoraWq | kLoraWo | kLoraW1 | kLoraW2, dtype);
    Model lora(c, Task::lm, ops(), TinyBatch::B, TinyBatch::T);
    init_for_gradcheck(lora);  // B not zero
    Model full(grad_config(), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
    // the base init_for_gradcheck's init_weights(1) gave the LoRA model
    full.load_params(merged_weights(lora.table(), lora.params(), full.table(), initial_weights(full.table(), 1)).data());
    const float want = full.forward(tb.batch()).loss, got = lora.forward(tb.batch()).loss;
    EXPECT_NEAR(got, want, 1e-5 * std::fabs(want));
  }
}

TEST(ModelLora, GradientsMatchFiniteDifferencesOverFp32AndNf4Bases) {
  TinyBatch tb;
  for (BaseDtype dtype : {BaseDtype::fp32, BaseDtype::nf4}) {
    SCOPED_TRACE(base_dtype_name(dtype));
    Model m(lora_config(kLoraAttention | kLoraExperts, dtype), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
    init_for_gradcheck(m);
    check_model_gradients(m, tb.batch(), {});
  }
}

TEST(ModelLora, ClassifierWithPaddingMatchesFiniteDifferences) {
  TinyBatch tb;
  ModelConfig c = lora_config(kLoraWv | kLoraW3, BaseDtype::int8);
  c.n_classes = 3;
  Model m(c, Task::classify, ops(), TinyBatch::B, TinyBatch::T);
  init_for_gradcheck(m);
  check_model_gradients(m, tb.batch(), {});
}

TEST(ModelLora, FrozenExpertsAdaptersGetNoGradientAndTheRestIsUnchanged) {
  TinyBatch tb;
  Model m(lora_config(kLoraExperts), Task::lm, ops(), TinyBatch::B, TinyBatch::T);
  init_for_gradcheck(m);
  const uint8_t trainable[8] = {1, 0, 1, 1, /* layer 1 */ 0, 1, 1, 0};
  ExpertControl ctl;
  ctl.trainable = trainable;
  m.forward(tb.batch());
  m.backward();
  const std::vector<float> all(m.grads(), m.grads() + m.table().total());
  m.forward(tb.batch(), ctl);
  m.backward();
  // Frozen experts' adapters: exactly zero. Everything else: the unmasked gradient, bit for bit
  // (input gradients still flow through frozen experts, so nothing upstream changes).
  std::vector<uint8_t> in_frozen(m.table().total(), 0);
  for (int l = 0; l < 2; l++)
    for (int e = 0; e < 4; e++) {
      Range b = m.table().expert_block(l, e);
      ASSERT_GT(b.size(), 0u);
      if (!trainable[l * 4 + e]) std::fill(in_frozen.begin() + b.begin, in_frozen.begin() + b.end, 1);
    }
  for (size_t i = 0; i < all.size(); i++) ASSERT_EQ(m.grads()[i], in_frozen[i] ? 0.0f : all[i]) << "entry " << i;
}

TEST(ModelLora, BadCombinationsAreOneLineErrors) {
  auto message = [](ModelConfig c) -> std::string {
    try {
      c.validate();
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code, kExitUsage);
      return e.what();
    }
    return "";
  };
  ModelConfig c = lora_config(kLoraExperts);
  c.lora.rank = c.d_ff + 1;  // w1 is (F, C) = (12, 16): rank at most 12
  EXPECT_NE(message(c).find("exceeds the smaller dimension (12) of w1"), std::string::npos) << message(c);
  c = lora_config(kLoraWq);
  c.lora.rank = 0;
  EXPECT_NE(message(c).find("train.lora_targets is set without adapters"), std::string::npos) << message(c);
  c = grad_config();
  c.lora.base_dtype = BaseDtype::nf4;
  EXPECT_NE(message(c).find("needs adapters"), std::string::npos) << message(c);
  c = lora_config(0);
  EXPECT_NE(message(c).find("no train.lora_targets"), std::string::npos) << message(c);
  c = lora_config(kLoraWq);
  c.lora.rank = -1;
  EXPECT_NE(message(c).find("negative"), std::string::npos) << message(c);
  EXPECT_EQ(parse_lora_targets("w1,w2,wq"), kLoraW1 | kLoraW2 | kLoraWq);
  EXPECT_EQ(parse_lora_targets("experts,attention"), kLoraExperts | kLoraAttention);
  EXPECT_THROW(parse_lora_targets("w1,gate"), Error);
}

}  // namespace
}  // namespace hf
