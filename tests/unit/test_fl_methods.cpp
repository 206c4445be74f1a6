// Selection policies of the federated methods (fl/methods/), on a real forward of a small
// model (routing comes from the model) and on hand-made probe frequencies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "fl/hfedmoe_math.h"
#include "fl/method.h"
#include "fl/selection.h"
#include "model/model.h"
#include "ops/cpu_ops.h"

namespace hf {
namespace {

CpuOps& ops() {
  static CpuOps o(1);
  return o;
}

ModelConfig small_moe() {
  ModelConfig c = model_preset("tiny");
  c.d_model = 16, c.n_heads = 2, c.n_kv_heads = 2, c.n_layers = 2, c.n_experts = 6, c.top_k = 2, c.d_ff = 8;
  c.seq_len = 16, c.n_classes = 2;
  return c;
}

// One forward of B=2, T=16 on fixed tokens; the masks and the ClientRun the trainer would pass.
struct Fixture {
  ModelConfig cfg = small_moe();
  Model model{cfg, Task::classify, ops(), 2, 16};
  std::vector<int32_t> tokens, labels{0, 1};
  std::vector<uint8_t> trainable, routable, trained_any, eligible;
  std::vector<float> score;
  ClientRun run;
  Fixture() {
    model.init_weights(5);
    for (int i = 0; i < 32; i++) tokens.push_back(10 + (i * 37) % 200);
    model.forward(Batch{tokens.data(), nullptr, labels.data(), 2, 16});
    size_t LE = static_cast<size_t>(cfg.n_layers) * cfg.n_experts;
    trainable.assign(LE, 0), routable.assign(LE, 1), trained_any.assign(LE, 0);
    eligible.assign(LE, 0), score.assign(LE, 0.0f);
    run.round = 3, run.client = 4, run.budget = 2, run.data_weight = 0.5, run.seed = 11;
    run.L = cfg.n_layers, run.E = cfg.n_experts, run.K = cfg.top_k;
    run.trainable = trainable.data(), run.routable = routable.data(), run.trained_any = trained_any.data();
    run.score = score.data(), run.eligible = eligible.data();
  }
  int count(const std::vector<uint8_t>& m, int l) const {
    int n = 0;
    for (int e = 0; e < cfg.n_experts; e++) n += m[l * cfg.n_experts + e];
    return n;
  }
  int count_all(const std::vector<uint8_t>& m) const { return count(m, 0) + count(m, 1); }
  // The IB scores of the forward, (L, E).
  std::vector<float> ib(const FlOptions& fl) const {
    const int N = 32, E = cfg.n_experts;
    std::vector<float> I(static_cast<size_t>(cfg.n_layers) * E);
    for (int l = 0; l < cfg.n_layers; l++)
      ib_score(model.gate_probs(l), model.token_valid(), N, E, fl.lambda, fl.beta, &I[l * E]);
    return I;
  }
};

FlOptions options(const std::string& method) {
  FlOptions fl;
  fl.method = method;
  return fl;
}

TEST(FlMethods, PlaceBudgetPerLayerAndOverTheModelHighestScoreFirstTiesToTheLowerIndex) {
  // L = 2, E = 4. Layer 0 scores 0.1 0.9 0.5 0.5; layer 1: 0.8 0.7 0.2 0.6; expert 3 of layer 0 ineligible.
  const float score[8] = {0.1f, 0.9f, 0.5f, 0.5f, 0.8f, 0.7f, 0.2f, 0.6f};
  const uint8_t eligible[8] = {1, 1, 1, 0, 1, 1, 1, 1};
  std::vector<uint8_t> chosen(8);
  place_budget(score, nullptr, 2, 4, 2, BudgetScope::layer, 0, chosen.data());
  EXPECT_EQ(chosen, (std::vector<uint8_t>{0, 1, 1, 0, 1, 1, 0, 0})) << "the tie 0.5/0.5 goes to expert 2";
  place_budget(score, eligible, 2, 4, 2, BudgetScope::layer, 0, chosen.data());
  EXPECT_EQ(chosen, (std::vector<uint8_t>{0, 1, 1, 0, 1, 1, 0, 0}));
  // Model scope, 2 * 2 = 4 experts anywhere: 0.9, 0.8, 0.7, 0.6.
  place_budget(score, nullptr, 2, 4, 2, BudgetScope::model, 0, chosen.data());
  EXPECT_EQ(chosen, (std::vector<uint8_t>{0, 1, 0, 0, 1, 1, 0, 1}));
  // Budget 1 over the model with at least 1 per layer (strict routing would need top_k): 0.9 and 0.8.
  place_budget(score, nullptr, 2, 4, 1, BudgetScope::model, 1, chosen.data());
  EXPECT_EQ(chosen, (std::vector<uint8_t>{0, 1, 0, 0, 1, 0, 0, 0}));
  // Model scope, budget 1, min 2 per layer: the floor is the budget (1 per layer), 2 in all.
  const float skewed[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.9f, 0.8f, 0.7f, 0.6f};
  place_budget(skewed, nullptr, 2, 4, 1, BudgetScope::model, 2, chosen.data());
  EXPECT_EQ(chosen, (std::vector<uint8_t>{0, 0, 0, 1, 1, 0, 0, 0}));
  place_budget(skewed, nullptr, 2, 4, 1, BudgetScope::model, 0, chosen.data());
  EXPECT_EQ(chosen, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 0, 0}));
  const float bad[8] = {NAN, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_THROW(place_budget(bad, nullptr, 2, 4, 1, BudgetScope::layer, 0, chosen.data()), Error);
}

TEST(FlMethods, HFedMoESelectsEq15OnTheBatchRouting) {
  Fixture f;
  FlOptions fl = options("hfedmoe");
  auto m = make_method(fl);
  EXPECT_TRUE(m.selection->chooses_from_routing());
  m.selection->choose(f.run, f.model);
  int N = 32, E = f.cfg.n_experts;
  std::vector<float> I = f.ib(fl);
  for (int l = 0; l < f.cfg.n_layers; l++) {
    std::vector<int> A = select_experts(&I[l * E], f.model.topk_experts(l), f.model.token_valid(), N, 2, E, 2);
    std::vector<uint8_t> want(E, 0);
    for (int e : A) want[e] = 1;
    EXPECT_EQ(std::vector<uint8_t>(f.trainable.begin() + l * E, f.trainable.begin() + (l + 1) * E), want) << "layer " << l;
    EXPECT_EQ(f.count(f.trainable, l), 2);
  }
}

// fl.budget_scope=model: C_budget * L experts of the routed union, the highest IB scores over all layers.
TEST(FlMethods, HFedMoEModelScopePlacesTheBudgetOverAllLayersByScore) {
  Fixture f;
  FlOptions fl = options("hfedmoe");
  fl.budget_scope_v = BudgetScope::model;
  make_method(fl).selection->choose(f.run, f.model);
  std::vector<float> I = f.ib(fl);
  std::vector<uint8_t> used(12), want(12);
  routed_experts(f.model, used.data());
  place_budget(I.data(), used.data(), 2, 6, 2, BudgetScope::model, 0, want.data());
  EXPECT_EQ(f.trainable, want);
  EXPECT_EQ(f.count_all(f.trainable), 4);
  for (int i = 0; i < 12; i++) {
    if (f.trainable[i]) {
      EXPECT_TRUE(used[i]) << "only routed experts are chosen";
    }
  }
}

// fl.reselect: round keeps the first step's choice; batch chooses at every step. FedMoE and
// FedAvg choose once per round whatever the option says.
TEST(FlMethods, ReselectDecidesWhichStepsChoose) {
  for (const char* name : {"hfedmoe", "random_moe"}) {
    FlOptions fl = options(name);
    EXPECT_TRUE(make_method(fl).selection->chooses_at(0)) << name;
    EXPECT_FALSE(make_method(fl).selection->chooses_at(3)) << name;
    fl.reselect_v = Reselect::batch;
    EXPECT_TRUE(make_method(fl).selection->chooses_at(3)) << name;
  }
  for (const char* name : {"fedmoe", "fedavg", "fedprox"}) {
    FlOptions fl = options(name);
    fl.reselect_v = Reselect::batch;
    EXPECT_TRUE(make_method(fl).selection->chooses_at(0)) << name;
    EXPECT_FALSE(make_method(fl).selection->chooses_at(1)) << name;
  }
}

// The memory rule's shrink: with "memory" = trained experts and a limit 2 below the selection,
// HFedMoE drops the two trained experts with the lowest IB scores over all layers; FedAvg and
// strict HFedMoE cannot shrink.
TEST(FlMethods, HFedMoEFitsMemoryByDroppingTheLowestScoredExperts) {
  Fixture f;
  FlOptions fl = options("hfedmoe");
  auto m = make_method(fl);
  m.selection->choose(f.run, f.model);
  std::vector<float> I = f.ib(fl);
  std::vector<int> chosen;  // trained (l, e), ascending IB score
  for (int i = 0; i < 12; i++)
    if (f.trainable[i]) chosen.push_back(i);
  std::stable_sort(chosen.begin(), chosen.end(), [&](int a, int b) { return I[a] < I[b]; });
  ASSERT_EQ(chosen.size(), 4u);  // budget 2 in each of 2 layers
  auto trained = [&f] { return static_cast<double>(f.count_all(f.trainable)); };
  std::vector<uint8_t> want = f.trainable;
  want[chosen[0]] = want[chosen[1]] = 0;
  ASSERT_TRUE(m.selection->fit_memory(f.run, f.model, trained, 2.0));
  EXPECT_EQ(f.trainable, want);
  EXPECT_FALSE(m.selection->fit_memory(f.run, f.model, [] { return 1.0; }, 0.5)) << "nothing left to drop must fail";

  m.selection->choose(f.run, f.model);  // the full selection again
  std::vector<uint8_t> before = f.trainable;
  EXPECT_FALSE(make_method(options("fedavg")).selection->fit_memory(f.run, f.model, trained, 0.0));
  f.run.use_routable = true;  // strict: the batch was routed among A
  EXPECT_FALSE(m.selection->fit_memory(f.run, f.model, trained, 0.0));
  EXPECT_EQ(f.trainable, before);
}

TEST(FlMethods, StrictRoutingRoutesOnlyAmongTheChoice) {
  Fixture f;
  FlOptions fl = options("hfedmoe");
  fl.budget_mode_v = BudgetMode::strict;
  auto m = make_method(fl);
  EXPECT_TRUE(m.traits.strict_routing);
  f.run.use_routable = true;
  m.selection->choose(f.run, f.model);
  EXPECT_EQ(f.routable, f.trainable);
  EXPECT_EQ(f.count(f.routable, 0), 2);
  EXPECT_FALSE(make_method(options("hfedmoe")).traits.strict_routing);
  EXPECT_TRUE(make_method(options("fedmoe")).traits.strict_routing);
  EXPECT_FALSE(make_method(options("fedavg")).traits.strict_routing);
}

// Eq. 17 with the default tau = auto = 1/(2E) (E = 6: 0.0833): an expert the client trained but
// used less than that is left out of the aggregation; the gate's alpha sums over S_c only.
TEST(FlMethods, HFedMoELeavesExpertsUnderTauOutOfAggregation) {
  Fixture f;
  FlOptions fl = options("hfedmoe");
  EXPECT_FLOAT_EQ(fl.tau_for(6), 1.0f / 12);
  auto m = make_method(fl);
  std::vector<float> usage(12, 0.0f), imp(12, 0.0f);
  usage[0] = 0.5f, usage[1] = 0.08f, usage[2] = 0.3f, usage[3] = 0.09f;  // layer 0
  imp[0] = 0.4f, imp[1] = 0.9f, imp[2] = 0.2f, imp[3] = 0.5f;
  f.trained_any[0] = f.trained_any[1] = f.trained_any[3] = 1;  // expert 2 used but not trained
  f.run.usage = usage.data(), f.run.importance = imp.data();
  EXPECT_EQ(m.weights->expert_weight(f.run, 0, 0), 0.5);  // trained, u >= tau: |D_c| (scaled)
  EXPECT_EQ(m.weights->expert_weight(f.run, 0, 1), 0.0);  // trained, u = 0.08 < 1/12
  EXPECT_EQ(m.weights->expert_weight(f.run, 0, 3), 0.5);  // trained, u = 0.09 >= 1/12
  EXPECT_EQ(m.weights->expert_weight(f.run, 0, 2), 0.0);  // not trained
  // Eq. 18-20 numerator: sum over S_c = {0, 2, 3} of u * s = 0.5*0.4 + 0.3*0.2 + 0.09*0.5
  EXPECT_NEAR(m.weights->router_weight(f.run, 0), 0.305, 1e-6);
  fl.tau_value = 0.01f;  // an explicit threshold keeps expert 1
  EXPECT_EQ(make_method(fl).weights->expert_weight(f.run, 0, 1), 0.5);
}

TEST(FlMethods, FedAvgTrainsEveryExpertAndOnlyTheUnboundedOneIgnoresMemory) {
  Fixture f;
  FlOptions fl = options("fedavg");
  auto m = make_method(fl);
  m.selection->choose(f.run, f.model);
  EXPECT_EQ(f.count_all(f.trainable), 12);  // every expert trains
  f.trained_any = f.trainable;
  EXPECT_EQ(m.weights->expert_weight(f.run, 1, 5), 0.5);
  EXPECT_TRUE(m.traits.memory_bound);
  EXPECT_FALSE(m.traits.needs_budget);
  EXPECT_TRUE(make_method(options("fedprox")).traits.memory_bound);
  EXPECT_FALSE(make_method(options("fedavg_unbounded")).traits.memory_bound);
  for (const char* name : {"hfedmoe", "random_moe", "fedmoe"}) EXPECT_TRUE(make_method(options(name)).traits.memory_bound);
}

// FedProx's gradient hook adds mu (w - w_global) over the trained ranges only; FedAvg's adds nothing.
TEST(FlMethods, FedProxAddsTheProximalGradientOnTheTrainedRanges) {
  FlOptions fl = options("fedprox");
  fl.prox_mu = 0.25f;
  std::vector<float> grads(6, 1.0f), params = {1, 2, 3, 4, 5, 6}, global(6, 2.0f);
  const std::vector<Range> trained = {{1, 3}, {5, 6}};
  Method prox = make_method(fl);
  EXPECT_TRUE(prox.traits.reads_global);
  prox.selection->adjust_gradients(GradientStep{ops(), grads.data(), params.data(), global.data(), trained});
  EXPECT_EQ(grads, (std::vector<float>{1, 1, 1.25f, 1, 1, 2}));
  std::vector<float> untouched(6, 1.0f);
  Method avg = make_method(options("fedavg"));
  EXPECT_FALSE(avg.traits.reads_global);
  avg.selection->adjust_gradients(GradientStep{ops(), untouched.data(), params.data(), global.data(), trained});
  EXPECT_EQ(untouched, std::vector<float>(6, 1.0f));
}

TEST(FlMethods, RandomMoEDrawsBudgetExpertsPerLayerFromSeedRoundClientStep) {
  Fixture f;
  FlOptions fl = options("random_moe");
  auto m = make_method(fl);
  f.run.budget = 3;
  m.selection->choose(f.run, f.model);
  std::vector<uint8_t> first = f.trainable;
  EXPECT_EQ(f.count(first, 0), 3);
  EXPECT_EQ(f.count(first, 1), 3);
  EXPECT_EQ(f.routable, std::vector<uint8_t>(12, 1)) << "mask mode routes among all";
  m.selection->choose(f.run, f.model);
  EXPECT_EQ(f.trainable, first) << "same (seed, round, client, step): same subset";
  bool other_client = false, other_step = false;
  for (int c = 0; c < 20 && !other_client; c++) {
    f.run.client = 100 + c;
    m.selection->choose(f.run, f.model);
    other_client = f.trainable != first;
  }
  f.run.client = 4;
  for (int s = 1; s < 20 && !other_step; s++) {
    f.run.step = s;
    m.selection->choose(f.run, f.model);
    other_step = f.trainable != first;
  }
  EXPECT_TRUE(other_client) << "other clients draw other subsets";
  EXPECT_TRUE(other_step) << "fl.reselect=batch draws anew at each step";
  f.trained_any[2] = 1;
  EXPECT_EQ(m.weights->expert_weight(f.run, 0, 2), 0.5);
  EXPECT_EQ(m.weights->expert_weight(f.run, 0, 3), 0.0);
}

// random_moe's shrink drops its trained experts in a seeded random order until the step fits.
TEST(FlMethods, RandomMoEFitsMemoryByDroppingRandomExperts) {
  Fixture f;
  FlOptions fl = options("random_moe");
  auto m = make_method(fl);
  f.run.budget = 3;
  m.selection->choose(f.run, f.model);
  std::vector<uint8_t> chosen = f.trainable;
  auto trained = [&f] { return static_cast<double>(f.count_all(f.trainable)); };
  ASSERT_TRUE(m.selection->fit_memory(f.run, f.model, trained, 4.0));
  EXPECT_EQ(f.count_all(f.trainable), 4);
  for (int i = 0; i < 12; i++) EXPECT_LE(f.trainable[i], chosen[i]) << "only chosen experts are dropped";
  std::vector<uint8_t> once = f.trainable;
  f.trainable = chosen;
  ASSERT_TRUE(m.selection->fit_memory(f.run, f.model, trained, 4.0));
  EXPECT_EQ(f.trainable, once) << "the order is a function of (seed, round, client, step)";
  f.trainable = chosen;
  EXPECT_FALSE(m.selection->fit_memory(f.run, f.model, [] { return 1.0; }, 0.5));
}

// FedMoE runs its two probe forwards through the trainer's callback, then keeps the experts
// with the most top-k hits over them (the hits of this fixture's one forward, twice).
TEST(FlMethods, FedMoEKeepsTheMostFrequentExpertsOfItsProbes) {
  Fixture f;
  auto m = make_method(options("fedmoe"));
  int probes = 0;
  f.run.probe_forward = [&probes](int i) { EXPECT_EQ(i, probes++ % 2); };
  f.run.budget = 2;
  f.run.use_routable = true;
  m.selection->choose(f.run, f.model);
  EXPECT_EQ(probes, 2);
  std::vector<float> hits(12, 0.0f);
  for (int l = 0; l < 2; l++)
    for (int n = 0; n < 32; n++)
      if (f.model.token_valid()[n])
        for (int k = 0; k < 2; k++) hits[l * 6 + f.model.topk_experts(l)[n * 2 + k]] += 2.0f;
  std::vector<uint8_t> want(12);
  place_budget(hits.data(), nullptr, 2, 6, 2, BudgetScope::layer, 2, want.data());
  EXPECT_EQ(f.routable, want);
  EXPECT_EQ(f.trainable, want);
  EXPECT_EQ(f.score, hits);
  f.trained_any = f.trainable;
  for (int i = 0; i < 6; i++) EXPECT_EQ(m.weights->expert_weight(f.run, 0, i), want[i] ? 0.5 : 0.0) << i;
  // Model scope: 4 experts over both layers, but top_k = 2 in each layer first (strict routing).
  FlOptions model_scope = options("fedmoe");
  model_scope.budget_scope_v = BudgetScope::model;
  make_method(model_scope).selection->choose(f.run, f.model);
  EXPECT_EQ(f.routable, want) << "the top-2 floor of each layer already spends the budget";
}

TEST(FlMethods, EveryNameMakesItsMethod) {
  for (const std::string& name : method_names()) EXPECT_EQ(make_method(options(name)).name, name);
}

}  // namespace
}  // namespace hf
