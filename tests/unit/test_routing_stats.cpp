// Router specialisation numbers (model/routing_stats.h) on hand-computed routing, and on a
// real forward pass.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/model.h"
#include "model/routing_stats.h"
#include "model/tokenizer.h"
#include "ops/cpu_ops.h"
#include "util/rng.h"

namespace hf {
namespace {

// Layer 0, E = 4, K = 2, four tokens, the last a pad:
//   token gate                 top-k  argmax
//   0     .7  .1  .1  .1       0 1    0
//   1     .4  .3  .2  .1       0 1    0
//   2     .1  .2  .3  .4       3 2    3
//   3     (pad, not counted)
// hits 2 2 1 1 of K V = 6: u = 1/3 1/3 1/6 1/6, H = 2/3 ln 3 + 1/3 ln 6 = 1.329661 nats,
// H / ln 4 = 0.959148; argmax counts 2 0 0 1: expert 0 is the most popular, share 2/3;
// mean max gate (.7 + .4 + .4) / 3 = .5.
// Layer 1: every token picks 1 and 2 and has argmax 1 with gate .6: H = ln 2 (half of ln 4),
// share 1, max gate .6.
const std::vector<float> kGate0 = {.7f, .1f, .1f, .1f, .4f, .3f, .2f, .1f, .1f, .2f, .3f, .4f, .25f, .25f, .25f, .25f};
const std::vector<int32_t> kTopk0 = {0, 1, 0, 1, 3, 2, 2, 3};
const std::vector<float> kGate1 = {.1f, .6f, .2f, .1f, .1f, .6f, .2f, .1f, .1f, .6f, .2f, .1f, .1f, .6f, .2f, .1f};
const std::vector<int32_t> kTopk1 = {1, 2, 1, 2, 1, 2, 1, 2};
const std::vector<uint8_t> kValid = {1, 1, 1, 0};

TEST(RoutingStats, HandComputed) {
  RoutingStats rs(2, 4);
  rs.add(0, kGate0.data(), kTopk0.data(), kValid.data(), 4, 2);
  rs.add(1, kGate1.data(), kTopk1.data(), kValid.data(), 4, 2);
  LayerRouting a = rs.layer(0);
  EXPECT_EQ(a.tokens, 3);
  EXPECT_NEAR(a.entropy, 2.0 / 3 * std::log(3.0) + 1.0 / 3 * std::log(6.0), 1e-12);
  EXPECT_NEAR(a.entropy, 1.329661, 1e-6);
  EXPECT_NEAR(a.entropy_frac, 0.959148, 1e-6);
  EXPECT_EQ(a.top_expert, 0);
  EXPECT_NEAR(a.top_share, 2.0 / 3, 1e-12);
  EXPECT_NEAR(a.max_gate, 0.5, 1e-7);
  LayerRouting b = rs.layer(1);
  EXPECT_NEAR(b.entropy, std::log(2.0), 1e-12);
  EXPECT_NEAR(b.entropy_frac, 0.5, 1e-12);
  EXPECT_EQ(b.top_expert, 1);
  EXPECT_DOUBLE_EQ(b.top_share, 1.0);
  EXPECT_NEAR(b.max_gate, 0.6, 1e-7);
  std::string text = rs.report();
  EXPECT_NE(text.find("entropy_nats"), std::string::npos);
  EXPECT_NE(text.find("1.3297"), std::string::npos);
}

TEST(RoutingStats, BatchesAddUpAndTiesGoToTheLowestExpert) {
  RoutingStats whole(1, 4), parts(1, 4);
  whole.add(0, kGate0.data(), kTopk0.data(), nullptr, 4, 2);
  for (int n = 0; n < 4; n++) parts.add(0, kGate0.data() + 4 * n, kTopk0.data() + 2 * n, nullptr, 1, 2);
  EXPECT_EQ(whole.layer(0).tokens, 4);
  EXPECT_DOUBLE_EQ(whole.layer(0).entropy, parts.layer(0).entropy);
  EXPECT_DOUBLE_EQ(whole.layer(0).max_gate, parts.layer(0).max_gate);
  // The pad row (all gates .25) now counts: its argmax is expert 0, so expert 0 has 3 of 4.
  EXPECT_DOUBLE_EQ(whole.layer(0).top_share, 0.75);
  RoutingStats none(1, 4);
  EXPECT_EQ(none.layer(0).tokens, 0);
  EXPECT_EQ(none.layer(0).top_expert, -1);
}

TEST(RoutingStats, FromAForwardPass) {
  ModelConfig cfg = model_preset("tiny");
  cfg.n_experts = 16;
  cfg.d_ff = 64;
  CpuOps ops(1);
  const int B = 2, T = 16;
  Model model(cfg, Task::lm, ops, B, T);
  model.init_weights(3);
  std::vector<int32_t> tokens(B * T), targets(B * T, -1);
  Rng rng(3, Purpose::eval);
  for (auto& t : tokens) t = static_cast<int32_t>(rng.below(256));
  tokens[T + 14] = tokens[T + 15] = kPadToken;
  model.forward(Batch{tokens.data(), targets.data(), nullptr, B, T});
  RoutingStats rs(cfg.n_layers, cfg.n_experts);
  rs.add(model);
  for (int l = 0; l < cfg.n_layers; l++) {
    LayerRouting r = rs.layer(l);
    EXPECT_EQ(r.tokens, B * T - 2);
    EXPECT_GT(r.entropy_frac, 0.0);
    EXPECT_LE(r.entropy_frac, 1.0 + 1e-12);
    EXPECT_GE(r.top_share, 1.0 / cfg.n_experts);
    // A fresh router (logits of std about 0.16) is nearly uniform: max gate a little over 1/16.
    EXPECT_GT(r.max_gate, 1.0 / cfg.n_experts);
    EXPECT_LT(r.max_gate, 0.2);
  }
}

}  // namespace
}  // namespace hf
