// The round plan (fl/plan.h): deterministic sampling, availability, over-commit keeping the
// fastest per_round by predicted virtual time, the deadline, balanced executor assignment, and the
// watchdog's deadline.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "fl/plan.h"

namespace hf {
namespace {

struct Population {
  FlOptions fl;
  TrainOptions train;
  ClientTable clients;
  ParamTable table{model_preset("tiny")};
  CostModel cost{table, Task::lm, 8, 128};
  Population() {
    clients.n_clients = 20, clients.L = 2, clients.E = 8;
    DeviceProfile slow{"slow", 0.1, 1, 1, 1, 1.0, 0.5}, fast{"fast", 10, 1, 100, 100, 1.0, 0.5};
    clients.profiles = {slow, fast};
    for (int c = 0; c < clients.n_clients; c++) {
      clients.shard.push_back(10 + c);
      clients.profile.push_back(c % 2);  // odd clients are fast
      clients.budget.push_back(2);
    }
    clients.max_shard = 29;
    fl.clients_per_round = 4;
  }
  RoundPlan plan(int64_t round, std::vector<int> executors = {1, 2}) {
    return make_plan(round, 1, fl, train, clients, cost, make_method(fl), executors);
  }
};

TEST(FlPlan, SamplingIsAFunctionOfSeedAndRound) {
  Population s;
  RoundPlan a = s.plan(3), b = s.plan(3), c = s.plan(4);
  ASSERT_EQ(a.slots.size(), 4u);
  std::vector<int> ia, ib, ic;
  for (auto& x : a.slots) ia.push_back(x.client);
  for (auto& x : b.slots) ib.push_back(x.client);
  for (auto& x : c.slots) ic.push_back(x.client);
  EXPECT_EQ(ia, ib);
  EXPECT_NE(ia, ic);
  EXPECT_TRUE(std::is_sorted(ia.begin(), ia.end()));
  EXPECT_EQ(std::set<int>(ia.begin(), ia.end()).size(), 4u);
}

TEST(FlPlan, OvercommitKeepsTheFastestAndDeadlineDropsTheSlow) {
  Population s;
  s.fl.clients_per_round = 8;  // the same 8 are sampled as with K = 4 and over-commit 1.0
  RoundPlan all = s.plan(1);
  ASSERT_EQ(all.slots.size(), 8u);
  std::vector<PlanSlot> by_time = all.slots;
  std::stable_sort(by_time.begin(), by_time.end(), [](const PlanSlot& a, const PlanSlot& b) {
    return a.predicted_s != b.predicted_s ? a.predicted_s < b.predicted_s : a.client < b.client;
  });
  std::set<int> fastest;
  for (int i = 0; i < 4; i++) fastest.insert(by_time[i].client);
  s.fl.clients_per_round = 4;
  s.fl.overcommit = 1.0;
  RoundPlan p = s.plan(1);
  EXPECT_EQ(p.sampled, 8);
  EXPECT_EQ(p.late, 4);
  std::set<int> kept;
  for (const PlanSlot& x : p.slots) kept.insert(x.client);
  EXPECT_EQ(kept, fastest);
  s.fl.overcommit = 0;
  s.fl.deadline_s = 1e-9;  // nobody makes it
  RoundPlan none = s.plan(1);
  EXPECT_EQ(none.slots.size(), 0u);
  EXPECT_EQ(none.late, 4);
}

TEST(FlPlan, PredictedTimeIsFlopsOverRatePlusBytesOverBandwidth) {
  Population s;
  RoundPlan p = s.plan(2);
  for (const PlanSlot& x : p.slots) {
    const DeviceProfile& d = s.clients.profiles[s.clients.profile[x.client]];
    double want = 5 * s.cost.step_flops / (d.tflops * 1e12) + 8 * s.cost.model_bytes / (d.downlink_mbps * 1e6) +
                  8 * s.cost.up_bytes(2 * 2) / (d.uplink_mbps * 1e6);
    EXPECT_DOUBLE_EQ(x.predicted_s, want);
  }
}

TEST(FlPlan, ExecutorsGetBalancedWorkAndPlansRoundTrip) {
  Population s;
  s.train.local_epochs = 1;  // steps = ceil(|D_c| / 8): unequal work
  RoundPlan p = s.plan(5, {1, 2});
  int64_t load[3] = {0, 0, 0};
  for (const PlanSlot& x : p.slots) load[x.executor] += x.steps;
  EXPECT_LE(std::abs(load[1] - load[2]), 4);
  RoundPlan q = RoundPlan::deserialize(p.serialize(6));
  ASSERT_EQ(q.slots.size(), p.slots.size());
  for (size_t i = 0; i < p.slots.size(); i++) {
    EXPECT_EQ(q.slots[i].client, p.slots[i].client);
    EXPECT_EQ(q.slots[i].executor, p.slots[i].executor);
    EXPECT_EQ(q.slots[i].steps, p.slots[i].steps);
    EXPECT_EQ(q.slots[i].predicted_s, p.slots[i].predicted_s);
  }
  EXPECT_EQ(q.round, 5);
}

// fl.round_timeout_s: a number is the deadline (0 = none); auto is 10x the FLOPs planned for the
// busiest executor at 1 GFLOP/s, at least 600 s.
TEST(FlPlan, WatchdogDeadlineIsTheOptionOrFromTheBusiestExecutorsPlannedFlops) {
  Population s;
  RoundPlan p = s.plan(1, {1, 2});
  std::vector<double> flops(3, 0.0);
  for (const PlanSlot& slot : p.slots) flops[slot.executor] += static_cast<double>(slot.steps) * s.cost.step_flops;
  const double busiest = std::max(flops[1], flops[2]);
  ASSERT_GT(busiest, 0);
  EXPECT_DOUBLE_EQ(round_timeout_s(s.fl, p, s.cost), std::max(600.0, 10 * busiest / 1e9));
  for (PlanSlot& slot : p.slots) slot.steps *= 100000;  // a plan far beyond 600 s at 1 GFLOP/s
  EXPECT_DOUBLE_EQ(round_timeout_s(s.fl, p, s.cost), 10 * 100000 * busiest / 1e9);
  EXPECT_GT(round_timeout_s(s.fl, p, s.cost), 600);
  s.fl.round_timeout_v = 0;
  EXPECT_EQ(round_timeout_s(s.fl, p, s.cost), 0);
  s.fl.round_timeout_v = 30;
  EXPECT_EQ(round_timeout_s(s.fl, p, s.cost), 30);
}

}  // namespace
}  // namespace hf
