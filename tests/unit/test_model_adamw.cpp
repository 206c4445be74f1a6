// AdamW against torch.optim.AdamW, range-restricted updates, gradient clipping, LR schedule.
#include <gtest/gtest.h>

#include <cmath>

#include "model/adamw.h"
#include "ops/cpu_ops.h"

namespace hf {
namespace {

CpuOps& ops() {
  static CpuOps o;
  return o;
}

ModelConfig opt_config() {
  ModelConfig c;
  c.d_model = 16;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 2;
  c.n_experts = 2;
  c.top_k = 1;
  c.d_ff = 4;
  return c;
}

Range range_of(const ParamInfo& p) { return {p.offset, p.offset + p.numel()}; }

// Produced by torch 1.13 (Debian python3-torch), single-tensor path, one thread:
//   p = [sin(i + 1)], grad at step t = [cos(0.7 i + t) * 0.5], i < 16, fp32;
//   AdamW(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1), lr = 0.01, 0.02, 0.015.
const float kTorchParams[16] = {
    8.019139767e-01f,  8.877444267e-01f, 1.536509991e-01f, -7.097948790e-01f, -9.140572548e-01f, -2.499505877e-01f,
    6.552823782e-01f,  9.439182878e-01f, 3.670432866e-01f, -5.770602822e-01f, -1.012311935e+00f, -5.204612613e-01f,
    4.619303942e-01f,  1.026528716e+00f, 6.751416922e-01f, -2.861804068e-01f};
const float kTorchExpAvgSq[16] = {
    3.657034540e-04f, 3.544362844e-04f, 3.766839218e-04f, 3.955138964e-04f, 3.796671808e-04f, 3.554503492e-04f,
    3.630649589e-04f, 3.898702271e-04f, 3.913676483e-04f, 3.650714352e-04f, 3.546349762e-04f, 3.773835197e-04f,
    3.955529537e-04f, 3.789808834e-04f, 3.551779955e-04f, 3.636586771e-04f};

TEST(ModelAdamW, MatchesTorchAndSkipsFrozenRanges) {
  ParamTable table(opt_config());
  AdamWConfig cfg;
  cfg.weight_decay = 0.1;
  AdamW opt(table, ops(), cfg);
  std::vector<float> params(table.total(), 0.25f), grads(table.total(), 1.0f);
  const ParamInfo& norm = table.get(ParamKind::attn_norm, 0);
  for (int i = 0; i < 16; i++) params[norm.offset + i] = static_cast<float>(std::sin(i + 1.0));
  const float lrs[3] = {0.01f, 0.02f, 0.015f};
  Range frozen = table.expert_block(0, 1);
  for (int t = 0; t < 3; t++) {
    for (int i = 0; i < 16; i++) grads[norm.offset + i] = static_cast<float>(std::cos(0.7 * i + t) * 0.5);
    // lr passes through float as the schedule hands it out; torch's Python float differs from
    // it in the 8th digit, which moves results by ~1e-10: the 2e-7 tolerance covers it.
    opt.step(params.data(), grads.data(), {range_of(norm), table.expert_block(0, 0)}, lrs[t]);
  }
  for (int i = 0; i < 16; i++) {
    EXPECT_NEAR(params[norm.offset + i], kTorchParams[i], 2e-7) << i;
    EXPECT_NEAR(opt.v()[norm.offset + i], kTorchExpAvgSq[i], 1e-10) << i;
  }
  for (size_t i = frozen.begin; i < frozen.end; i++) {
    ASSERT_EQ(params[i], 0.25f);
    ASSERT_EQ(opt.m()[i], 0.0f);
    ASSERT_EQ(opt.v()[i], 0.0f);
  }
  const auto& tensors = table.tensors();
  for (size_t i = 0; i < tensors.size(); i++) {
    bool updated = tensors[i].offset == norm.offset || tensors[i].expert == 0;
    EXPECT_EQ(opt.steps()[i], updated ? 3 : 0) << tensors[i].name;
  }
}

TEST(ModelAdamW, StepCountIsPerTensor) {
  // A tensor first updated at the optimizer's third step uses bias correction for t = 1,
  // as torch does for a parameter whose grad was None before.
  ParamTable table(opt_config());
  AdamW a(table, ops(), {}), b(table, ops(), {});
  std::vector<float> pa(table.total(), 0.5f), pb(table.total(), 0.5f), g(table.total(), 0.3f);
  Range norm = range_of(table.get(ParamKind::ffn_norm, 0)), wq = range_of(table.get(ParamKind::wq, 0));
  a.step(pa.data(), g.data(), {wq}, 1e-2f);
  a.step(pa.data(), g.data(), {wq}, 1e-2f);
  a.step(pa.data(), g.data(), {wq, norm}, 1e-2f);
  b.step(pb.data(), g.data(), {norm}, 1e-2f);
  for (size_t i = norm.begin; i < norm.end; i++) EXPECT_EQ(pa[i], pb[i]);
}

TEST(ModelAdamW, ClipGradNormLikeTorch) {
  ParamTable table(opt_config());
  AdamW opt(table, ops(), {});
  std::vector<float> g(table.total(), 0.0f);
  const ParamInfo& norm = table.get(ParamKind::final_norm);
  for (int i = 0; i < 16; i++) g[norm.offset + i] = static_cast<float>(std::cos(0.7 * i) * 0.5);
  // torch.nn.utils.clip_grad_norm_([p], 0.5) on the same gradient: norm 1.445803881, then
  // g *= 0.5 / (norm + 1e-6); first entries 0.1729140729, 0.1322519779.
  double n = opt.clip_grad_norm(g.data(), {range_of(norm)}, 0.5f);
  EXPECT_NEAR(n, 1.445803881, 1e-6);
  EXPECT_NEAR(g[norm.offset + 0], 1.729140729e-01f, 1e-7);
  EXPECT_NEAR(g[norm.offset + 1], 1.322519779e-01f, 1e-7);
  EXPECT_NEAR(opt.clip_grad_norm(g.data(), {range_of(norm)}, 0.0f), 0.5, 1e-6);  // 0: measure only
}

TEST(ModelAdamW, WarmupThenCosineToFloor) {
  LrSchedule s{1e-3f, 1e-4f, 10, 110};
  EXPECT_FLOAT_EQ(s.at(0), 1e-4f);
  EXPECT_FLOAT_EQ(s.at(9), 1e-3f);
  EXPECT_FLOAT_EQ(s.at(10), 1e-3f);
  EXPECT_NEAR(s.at(60), 5.5e-4f, 1e-9);
  EXPECT_FLOAT_EQ(s.at(110), 1e-4f);
  EXPECT_FLOAT_EQ(s.at(500), 1e-4f);
  EXPECT_FLOAT_EQ((LrSchedule{2e-3f, 0.0f, 0, 0}).at(7), 2e-3f);
}

}  // namespace
}  // namespace hf
