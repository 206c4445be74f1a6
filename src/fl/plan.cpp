#include "fl/plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>

#include "util/check.h"
#include "util/rng.h"

namespace hf {

CostModel::CostModel(const ParamTable& table, Task task, int batch, int seq_len) {
  const ModelConfig& c = table.config();
  step_flops = 6.0 * static_cast<double>(table.active_params_per_token()) * batch * seq_len;
  model_bytes = 4.0 * static_cast<double>(table.total());
  expert_bytes = 4.0 * static_cast<double>(table.expert_block_size());
  shared_up_bytes = 4.0 * static_cast<double>(table.router(0).size()) * c.moe_layers();
  for (const Range& r : trained_dense_ranges(table, task)) shared_up_bytes += 4.0 * static_cast<double>(r.size());
}

int64_t local_steps(const TrainOptions& train, int64_t shard) {
  if (train.local_epochs <= 0) return train.local_steps;
  return std::max<int64_t>(1, (train.local_epochs * shard + train.batch_size - 1) / train.batch_size);
}

double round_timeout_s(const FlOptions& fl, const RoundPlan& plan, const CostModel& cost) {
  if (fl.round_timeout_v >= 0) return fl.round_timeout_v;
  std::map<int64_t, double> flops;  // by executor rank
  for (const PlanSlot& s : plan.slots) flops[s.executor] += static_cast<double>(s.steps) * cost.step_flops;
  double busiest = 0;
  for (const auto& [rank, f] : flops) busiest = std::max(busiest, f);
  return std::max(600.0, 10.0 * busiest / 1e9);
}

double client_time_s(const DeviceProfile& p, double flops, double down_bytes, double up_bytes) {
  return flops / (p.tflops * 1e12) + 8.0 * down_bytes / (p.downlink_mbps * 1e6) + 8.0 * up_bytes / (p.uplink_mbps * 1e6);
}

int max_plan_slots(const FlOptions& fl, int n_clients) {
  int m = static_cast<int>(std::ceil(fl.clients_per_round * (1.0 + fl.overcommit) - 1e-9));
  return std::min(std::max(m, fl.clients_per_round), n_clients);
}

std::vector<int64_t> RoundPlan::serialize(int max_slots) const {
  HF_CHECK(static_cast<int>(slots.size()) <= max_slots, "plan of %zu slots > %d", slots.size(), max_slots);
  std::vector<int64_t> b(plan_words(max_slots), 0);
  const Header h{round, stop ? 1 : 0, sampled, offline, late, static_cast<int64_t>(slots.size())};
  std::memcpy(b.data(), &h, sizeof h);
  if (!slots.empty())  // memcpy from a null data() is undefined even for 0 bytes (the stop plan)
    std::memcpy(b.data() + sizeof h / sizeof(int64_t), slots.data(), slots.size() * sizeof(PlanSlot));
  return b;
}

RoundPlan RoundPlan::deserialize(const std::vector<int64_t>& b) {
  Header h;
  std::memcpy(static_cast<void*>(&h), b.data(), sizeof h);
  RoundPlan p;
  p.round = h.round;
  p.stop = h.stop != 0;
  p.sampled = static_cast<int>(h.sampled);
  p.offline = static_cast<int>(h.offline);
  p.late = static_cast<int>(h.late);
  p.slots.resize(static_cast<size_t>(h.n_slots));
  if (!p.slots.empty())
    std::memcpy(static_cast<void*>(p.slots.data()), b.data() + sizeof h / sizeof(int64_t), p.slots.size() * sizeof(PlanSlot));
  return p;
}

RoundPlan make_plan(int64_t round, uint64_t seed, const FlOptions& fl, const TrainOptions& train,
                    const ClientTable& clients, const CostModel& cost, const Method& method,
                    const std::vector<int>& executors) {
  RoundPlan plan;
  plan.round = round;
  // 1. Sample m distinct clients: a partial Fisher-Yates shuffle keyed by (seed, round).
  int m = max_plan_slots(fl, clients.n_clients);
  std::vector<int> ids(clients.n_clients);
  std::iota(ids.begin(), ids.end(), 0);
  Rng rng(seed, Purpose::sample_clients, static_cast<uint64_t>(round));
  for (int i = 0; i < m; i++) std::swap(ids[i], ids[i + static_cast<int>(rng.below(clients.n_clients - i))]);
  plan.sampled = m;

  // 2. Availability: one draw per (round, client); then the predicted virtual time.
  std::vector<PlanSlot> cand;
  for (int i = 0; i < m; i++) {
    int c = ids[i];
    const DeviceProfile& p = clients.profiles[clients.profile[c]];
    Rng avail(seed, Purpose::sample_clients, static_cast<uint64_t>(round), static_cast<uint64_t>(c) + 1);
    if (avail.uniform() >= p.availability) {
      plan.offline++;
      continue;
    }
    PlanSlot s;
    s.client = c;
    s.budget = clients.budget[c];
    s.steps = local_steps(train, clients.shard[c]);
    int up_experts = method.upload_experts(std::max(clients.budget[c], 0), clients.E) * clients.L;
    s.predicted_s = client_time_s(p, s.steps * cost.step_flops, cost.model_bytes, cost.up_bytes(up_experts));
    cand.push_back(s);
  }

  // 3. Keep the first K to finish (virtual time, ties by id) that meet the deadline.
  std::sort(cand.begin(), cand.end(), [](const PlanSlot& a, const PlanSlot& b) {
    return a.predicted_s != b.predicted_s ? a.predicted_s < b.predicted_s : a.client < b.client;
  });
  for (const PlanSlot& s : cand) {
    bool in_time = fl.deadline_s <= 0 || s.predicted_s <= fl.deadline_s;
    if (in_time && static_cast<int>(plan.slots.size()) < fl.clients_per_round)
      plan.slots.push_back(s);
    else
      plan.late++;
  }

  // 4. Executors: longest predicted work first onto the least-loaded rank (ties: lowest rank).
  //    Balances wall time; the result does not depend on it (fl/update.h).
  std::vector<size_t> order(plan.slots.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    double ca = plan.slots[a].steps, cb = plan.slots[b].steps;
    return ca != cb ? ca > cb : plan.slots[a].client < plan.slots[b].client;
  });
  std::vector<double> load(executors.size(), 0.0);
  for (size_t i : order) {
    size_t best = std::min_element(load.begin(), load.end()) - load.begin();
    plan.slots[i].executor = executors[best];
    load[best] += static_cast<double>(plan.slots[i].steps);
  }
  std::sort(plan.slots.begin(), plan.slots.end(), [](const PlanSlot& a, const PlanSlot& b) { return a.client < b.client; });
  return plan;
}

}  // namespace hf
