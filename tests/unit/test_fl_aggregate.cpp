// Server aggregation (fl/aggregate.h) from exact fixed-point sums (fl/update.h), with hand numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "fl/aggregate.h"
#include "fl/method.h"
#include "fl/fixed_point.h"
#include "fl/update.h"

namespace hf {
namespace {

ModelConfig cfg() {
  ModelConfig c = model_preset("tiny");
  c.d_model = 8, c.n_heads = 2, c.n_kv_heads = 2, c.n_layers = 1, c.n_experts = 3, c.top_k = 1, c.d_ff = 4;
  c.vocab_size = 16, c.n_classes = 2;
  return c;
}

// Adds a client whose parameters are global + d on expert (0, e) (weight w), the router (weight
// wr) and dense (weight w).
void add_client(RoundUpdate& u, const ParamTable& t, const std::vector<float>& global, int e, float d, double w, double wr) {
  std::vector<float> p = global;
  for (float& x : p) x += d;
  Range r = t.expert_block(0, e);
  u.touched[e] = 1;
  u.kept[e] = 1;
  u.expert_w[e] += to_fixed(w);
  ASSERT_TRUE(RoundUpdate::add_weighted_delta(u.expert(0, e), w, p.data(), global.data(), r));
  u.router_w[0] += to_fixed(wr);
  ASSERT_TRUE(RoundUpdate::add_weighted_delta(u.router(0), wr, p.data(), global.data(), t.router(0)));
  u.dense_w += to_fixed(w);
  int64_t* s = u.dense_sum.data();
  for (const Range& dr : u.dense) {
    ASSERT_TRUE(RoundUpdate::add_weighted_delta(s, w, p.data(), global.data(), dr));
    s += dr.size();
  }
}

TEST(FlAggregate, Eq17ExpertsRouterAndDenseByHand) {
  ParamTable t(cfg());
  std::vector<float> global(t.total(), 1.0f), params = global;
  RoundUpdate u;
  u.init(t, Task::classify, 4);
  u.clear(2);
  add_client(u, t, global, 0, 0.5f, 0.25, 0.25);  // client A: expert 0 +0.5, weight 0.25
  add_client(u, t, global, 0, 2.0f, 0.75, 0.75);  // client B: expert 0 +2.0, weight 0.75
  add_client(u, t, global, 1, -1.0f, 0.5, 0.0);   // client C: expert 1 -1.0, router weight 0
  FlOptions fl;
  ServerAggregator agg(t, fl, false);
  Changes ch;
  agg.apply(u, params.data(), ch);
  Range e0 = t.expert_block(0, 0), e1 = t.expert_block(0, 1), e2 = t.expert_block(0, 2);
  // expert 0: 1 + (0.25*0.5 + 0.75*2) / 1.0 = 2.625; expert 1: only C, 1 - 1 = 0; expert 2 unchanged
  EXPECT_FLOAT_EQ(params[e0.begin], 2.625f);
  EXPECT_FLOAT_EQ(params[e0.end - 1], 2.625f);
  EXPECT_FLOAT_EQ(params[e1.begin], 0.0f);
  EXPECT_FLOAT_EQ(params[e2.begin], 1.0f);
  // router: (0.25*0.5 + 0.75*2 + 0*(-1)) / 1.0 = 1.625 -> 2.625
  EXPECT_FLOAT_EQ(params[t.router(0).begin], 2.625f);
  // dense: (0.25*0.5 + 0.75*2 + 0.5*(-1)) / 1.5 = 0.75 -> 1.75
  EXPECT_FLOAT_EQ(params[u.dense[0].begin], 1.75f);
  EXPECT_EQ(ch.experts, 2);
  EXPECT_EQ(ch.router[0], 1);
  EXPECT_EQ(ch.dense, 1);
}

TEST(FlAggregate, RawGateSumIsEq21AsPrinted) {
  ParamTable t(cfg());
  std::vector<float> global(t.total(), 2.0f), params = global;
  RoundUpdate u;
  u.init(t, Task::classify, 4);
  u.clear(2);
  add_client(u, t, global, 0, 1.0f, 0.5, 0.2);  // alpha numerators 0.2 and 0.4, |S| = 2 (experts 0, 1)
  add_client(u, t, global, 1, 1.0f, 0.5, 0.4);
  FlOptions fl;
  fl.gate_agg_v = GateAgg::raw_sum;
  ServerAggregator agg(t, fl, make_method(fl).traits.raw_gate_sum);
  Changes ch;
  agg.apply(u, params.data(), ch);
  // W = sum_c (a_c / |S|) W_c = (0.2 + 0.4) / 2 * 3.0 = 0.9
  EXPECT_NEAR(params[t.router(0).begin], 0.9f, 1e-6);
}

TEST(FlAggregate, FedAdamStepsAlongTheAverageDelta) {
  ParamTable t(cfg());
  std::vector<float> global(t.total(), 0.0f), params = global;
  RoundUpdate u;
  u.init(t, Task::classify, 4);
  u.clear(1);
  add_client(u, t, global, 2, 0.1f, 1.0, 1.0);
  FlOptions fl;
  fl.server_opt_v = ServerOpt::fedadam;
  fl.server_lr = 0.01f;
  ServerAggregator agg(t, fl, false);
  Changes ch;
  agg.apply(u, params.data(), ch);
  // m = 0.1 * 0.1 = 0.01, v = 0.01 * 0.01 = 1e-4, step = lr * m / (sqrt(v) + 1e-3) = 0.01 * 0.01 / 0.011
  EXPECT_NEAR(params[t.expert_block(0, 2).begin], 0.01 * 0.01 / 0.011, 1e-7);
  EXPECT_EQ(params[t.expert_block(0, 0).begin], 0.0f);  // untouched: no step, moments stay zero
  EXPECT_EQ(agg.m[t.expert_block(0, 0).begin], 0.0f);
}

TEST(FlAggregate, FixedPointSumsDoNotDependOnOrderOrGrouping) {
  // Float sums of these differ by order; the fixed-point sums must not.
  std::vector<double> x = {1e-3, 0.3333333, -2.5e-7, 12.75, -0.1, 7e-5, 0.2, -9.999};
  int64_t a = 0, b = 0, c1 = 0, c2 = 0;
  for (double v : x) a += to_fixed(v);
  for (auto it = x.rbegin(); it != x.rend(); ++it) b += to_fixed(*it);
  for (size_t i = 0; i < x.size(); i += 2) c1 += to_fixed(x[i]);
  for (size_t i = 1; i < x.size(); i += 2) c2 += to_fixed(x[i]);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c1 + c2);
  EXPECT_NEAR(from_fixed(a), 3.18540305, 1e-8);  // resolution 2^-32 per term
  EXPECT_TRUE(fixed_in_range(65535.0));
  EXPECT_FALSE(fixed_in_range(65536.0));
  EXPECT_FALSE(fixed_in_range(std::nan("")));
}

TEST(FlAggregate, OutOfRangeDeltaIsReported) {
  float p[2] = {1e6f, 0.0f}, g[2] = {0.0f, 0.0f};
  int64_t s[2] = {0, 0};
  EXPECT_FALSE(RoundUpdate::add_weighted_delta(s, 1.0, p, g, Range{0, 2}));
}

}  // namespace
}  // namespace hf

namespace hf {
namespace {

TEST(FlAggregate, ClientsSendOnlyTheDenseTensorsTheirTaskTrains) {
  ParamTable t(cfg());  // n_classes = 2, untied: both heads exist
  size_t experts = t.expert_block_size() * 3, routers = t.router(0).size();
  size_t lm_head = t.get(ParamKind::lm_head).numel();
  size_t cls = t.get(ParamKind::cls_w).numel() + t.get(ParamKind::cls_b).numel();
  auto total = [](const std::vector<Range>& rs) {
    size_t n = 0;
    for (const Range& r : rs) n += r.size();
    return n;
  };
  EXPECT_EQ(total(trained_dense_ranges(t, Task::classify)), t.total() - experts - routers - lm_head);
  EXPECT_EQ(total(trained_dense_ranges(t, Task::lm)), t.total() - experts - routers - cls);
}

}  // namespace
}  // namespace hf
