// Selection policies of the federated methods (fl/methods/), on a real forward of a small
// model (routing comes from the model) and on hand-made probe frequencies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "fl/hfedmoe_math.h"
#include "fl/method.h"
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
  std::vector<uint8_t> trainable, routable, trained_any;
  std::vector<double> freq;
  ClientRun run;
  Fixture() {
    model.init_weights(5);
    for (int i = 0; i < 32; i++) tokens.push_back(10 + (i * 37) % 200);
    model.forward(Batch{tokens.data(), nullptr, labels.data(), 2, 16});
    size_t LE = static_cast<size_t>(cfg.n_layers) * cfg.n_experts;
    trainable.assign(LE, 0), routable.assign(LE, 1), trained_any.assign(LE, 0), freq.assign(LE, 0);
    run.round = 3, run.client = 4, run.budget = 2, run.data_weight = 0.5, run.seed = 11;
    run.L = cfg.n_layers, run.E = cfg.n_experts, run.K = cfg.top_k;
    run.trainable = trainable.data(), run.routable = routable.data(), run.trained_any = trained_any.data();
    run.probe_freq = freq.data();
  }
  int count(const std::vector<uint8_t>& m, int l) const {
    int n = 0;
    for (int e = 0; e < cfg.n_experts; e++) n += m[l * cfg.n_experts + e];
    return n;
  }
};

TEST(FlMethods, HFedMoESelectsEq15OnTheBatchRouting) {
  Fixture f;
  FlOptions fl;
  fl.method = "hfedmoe";
  auto m = make_method(fl);
  ASSERT_TRUE(m->select_step(f.run, f.model));
  int N = 32, E = f.cfg.n_experts;
  for (int l = 0; l < f.cfg.n_layers; l++) {
    std::vector<float> I(E);
    ib_score(f.model.gate_probs(l), f.model.token_valid(), N, E, fl.lambda, fl.beta, I.data());
    std::vector<int> A = select_experts(I.data(), f.model.topk_experts(l), f.model.token_valid(), N, 2, E, 2);
    std::vector<uint8_t> want(E, 0);
    for (int e : A) want[e] = 1;
    EXPECT_EQ(std::vector<uint8_t>(f.trainable.begin() + l * E, f.trainable.begin() + (l + 1) * E), want) << "layer " << l;
    EXPECT_EQ(f.count(f.trainable, l), 2);
  }
}

// fl.memory_check=enforce: with "memory" = trained experts and a limit 2 below the selection,
// HFedMoE drops the two trained experts with the lowest IB scores over all layers; FedAvg and
// strict HFedMoE cannot shrink (false, selection untouched).
TEST(FlMethods, HFedMoEFitsMemoryByDroppingTheLowestScoredExperts) {
  Fixture f;
  FlOptions fl;
  auto m = make_method(fl);
  ASSERT_TRUE(m->select_step(f.run, f.model));
  const int N = 32, E = f.cfg.n_experts, L = f.cfg.n_layers;
  std::vector<float> I(static_cast<size_t>(L) * E);
  for (int l = 0; l < L; l++)
    ib_score(f.model.gate_probs(l), f.model.token_valid(), N, E, fl.lambda, fl.beta, &I[l * E]);
  std::vector<int> chosen;  // trained (l, e), ascending IB score
  for (int i = 0; i < L * E; i++)
    if (f.trainable[i]) chosen.push_back(i);
  std::stable_sort(chosen.begin(), chosen.end(), [&](int a, int b) { return I[a] < I[b]; });
  ASSERT_EQ(chosen.size(), 4u);  // budget 2 in each of 2 layers
  auto trained = [&f] {
    double n = 0;
    for (uint8_t t : f.trainable) n += t;
    return n;
  };
  std::vector<uint8_t> want = f.trainable;
  want[chosen[0]] = want[chosen[1]] = 0;
  ASSERT_TRUE(m->fit_memory(f.run, f.model, trained, 2.0));
  EXPECT_EQ(f.trainable, want);
  EXPECT_FALSE(m->fit_memory(f.run, f.model, [] { return 1.0; }, 0.5)) << "nothing left to drop must fail";

  ASSERT_TRUE(m->select_step(f.run, f.model));  // the full selection again
  std::vector<uint8_t> before = f.trainable;
  FlOptions avg;
  avg.method = "fedavg";
  EXPECT_FALSE(make_method(avg)->fit_memory(f.run, f.model, trained, 0.0));
  f.run.use_routable = true;  // strict: the batch was routed among A
  EXPECT_FALSE(m->fit_memory(f.run, f.model, trained, 0.0));
  EXPECT_EQ(f.trainable, before);
}

TEST(FlMethods, HFedMoEStrictRoutesOnlyAmongA) {
  Fixture f;
  FlOptions fl;
  fl.budget_mode = "strict";
  auto m = make_method(fl);
  m->begin_client(f.run);
  EXPECT_TRUE(f.run.use_routable);
  EXPECT_TRUE(m->preselect_forward());  // A comes from a routing forward, then the step routes among A
  ASSERT_TRUE(m->select_step(f.run, f.model));
  EXPECT_EQ(f.routable, f.trainable);
  EXPECT_EQ(f.count(f.routable, 0), 2);
  fl.budget_mode = "mask";
  auto mask = make_method(fl);
  mask->begin_client(f.run);
  EXPECT_FALSE(f.run.use_routable);
  EXPECT_FALSE(mask->preselect_forward());
}

TEST(FlMethods, HFedMoEReportsTrainedExpertsAboveTauAndAlphaForTheGate) {
  Fixture f;
  FlOptions fl;
  fl.tau = 0.1f;
  auto m = make_method(fl);
  std::vector<float> usage(12, 0.0f), imp(12, 0.0f);
  usage[0] = 0.5f, usage[1] = 0.05f, usage[2] = 0.3f;  // layer 0
  imp[0] = 0.4f, imp[1] = 0.9f, imp[2] = 0.2f;
  f.trained_any[0] = 1, f.trained_any[1] = 1;  // expert 2 used but not trained
  f.run.usage = usage.data(), f.run.importance = imp.data();
  EXPECT_EQ(m->expert_weight(f.run, 0, 0), 0.5);  // trained, u >= tau: |D_c| (scaled)
  EXPECT_EQ(m->expert_weight(f.run, 0, 1), 0.0);  // trained, u < tau
  EXPECT_EQ(m->expert_weight(f.run, 0, 2), 0.0);  // not trained
  // Eq. 18-20 numerator: sum over S_c = {0, 2} of u * s = 0.5*0.4 + 0.3*0.2
  EXPECT_NEAR(m->router_weight(f.run, 0), 0.26, 1e-6);
}

TEST(FlMethods, FedAvgFailsAClientWhoseRoutedExpertsExceedItsBudget) {
  Fixture f;
  FlOptions fl;
  fl.method = "fedavg";
  auto m = make_method(fl);
  std::vector<uint8_t> used(12);
  routed_experts(f.model, used.data());
  int most = std::max(f.count(used, 0), f.count(used, 1));
  ASSERT_GT(most, 2) << "the batch should route to more than 2 experts in some layer";
  f.run.budget = most - 1;
  EXPECT_FALSE(m->select_step(f.run, f.model));
  f.run.budget = most;
  EXPECT_TRUE(m->select_step(f.run, f.model));
  EXPECT_EQ(f.count(f.trainable, 0) + f.count(f.trainable, 1), 12);  // every expert trains
  EXPECT_EQ(m->expert_weight(f.run, 1, 5), 0.5);
  fl.method = "fedavg_unbounded";
  f.run.budget = 0;
  EXPECT_TRUE(make_method(fl)->select_step(f.run, f.model));
}

TEST(FlMethods, FedProxHasTheProximalWeight) {
  FlOptions fl;
  fl.method = "fedprox";
  fl.prox_mu = 0.25f;
  EXPECT_EQ(make_method(fl)->prox_mu(), 0.25f);
  fl.method = "fedavg";
  EXPECT_EQ(make_method(fl)->prox_mu(), 0.0f);
}

TEST(FlMethods, RandomMoEDrawsBudgetExpertsPerLayerFromSeedRoundClient) {
  Fixture f;
  FlOptions fl;
  fl.method = "random_moe";
  auto m = make_method(fl);
  f.run.budget = 3;
  m->begin_client(f.run);
  std::vector<uint8_t> first = f.routable;
  EXPECT_EQ(f.count(first, 0), 3);
  EXPECT_EQ(f.count(first, 1), 3);
  EXPECT_FALSE(f.run.use_routable);  // budget_mode=mask routes among all
  ASSERT_TRUE(m->select_step(f.run, f.model));
  EXPECT_EQ(f.trainable, first);
  m->begin_client(f.run);
  EXPECT_EQ(f.routable, first) << "same (seed, round, client): same subset";
  bool differs = false;
  for (int c = 0; c < 20 && !differs; c++) {
    f.run.client = 100 + c;
    m->begin_client(f.run);
    differs = f.routable != first;
  }
  EXPECT_TRUE(differs) << "other clients draw other subsets";
  f.trained_any[2] = 1;
  EXPECT_EQ(m->expert_weight(f.run, 0, 2), 0.5);
  EXPECT_EQ(m->expert_weight(f.run, 0, 3), 0.0);
}

TEST(FlMethods, FedMoEKeepsTheMostFrequentExpertsWithinBudgetTiesById) {
  Fixture f;
  FlOptions fl;
  fl.method = "fedmoe";
  auto m = make_method(fl);
  double freq[12] = {1, 5, 5, 0, 2, 9,   // layer 0: 5, then 1 and 2 tie at 5 -> 1 (lower id)
                     0, 0, 0, 0, 0, 0};  // layer 1: all tie -> 0, 1
  f.run.probe_freq = freq;
  f.run.budget = 2;
  m->begin_client(f.run);
  std::vector<uint8_t> want = {0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0};
  EXPECT_EQ(f.routable, want);
  EXPECT_TRUE(f.run.use_routable);
  ASSERT_TRUE(m->select_step(f.run, f.model));
  EXPECT_EQ(f.trainable, want);
  EXPECT_EQ(m->expert_weight(f.run, 0, 5), 0.5);
  EXPECT_EQ(m->expert_weight(f.run, 0, 2), 0.0);
}

TEST(FlMethods, EveryNameMakesItsMethod) {
  for (const std::string& name : method_names()) {
    FlOptions fl;
    fl.method = name;
    EXPECT_EQ(make_method(fl)->name(), name);
  }
}

}  // namespace
}  // namespace hf
