#include "fl/clients.h"

#include <algorithm>
#include <cmath>

#include "data/dataset.h"
#include "fl/memory_model.h"
#include "mpi/runtime.h"
#include "util/log.h"
#include "util/rng.h"

namespace hf {

int64_t hold_out(const int64_t* rows, int64_t n, double fraction, uint64_t seed, int client, std::vector<int64_t>& out) {
  std::vector<int64_t> mine(rows, rows + n);
  Rng rng(seed, Purpose::validation, 0, static_cast<uint64_t>(client));
  rng.shuffle(mine.data(), mine.size());
  const int64_t train = n - std::min<int64_t>(static_cast<int64_t>(std::floor(fraction * static_cast<double>(n))), n - 1);
  std::sort(mine.begin(), mine.begin() + train);
  std::sort(mine.begin() + train, mine.end());
  out.insert(out.end(), mine.begin(), mine.end());
  return train;
}

ClientTable ClientTable::build(const FlOptions& fl, const TrainOptions& train, const Dataset& data,
                               const ParamTable& table, bool method_needs_budget, uint64_t seed) {
  const ModelConfig& m = table.config();
  ClientTable t;
  t.L = m.moe_layers();  // the routing-facing arrays count MoE layers (model/params.h)
  t.E = m.n_experts;
  int have = data.n_clients();
  t.n_clients = fl.clients > 0 ? fl.clients : have;
  if (t.n_clients > have)
    fail(strf("fl.clients=%d but dataset %s partitions its training rows among %d clients", t.n_clients,
              data.path.c_str(), have),
         "ask for at most that many clients, or re-run `hfedmoe prepare` with more clients");
  if (fl.clients_per_round > t.n_clients)
    fail(strf("fl.clients_per_round=%d exceeds the %d clients", fl.clients_per_round, t.n_clients),
         "lower fl.clients_per_round or use more clients");
  t.shard.resize(t.n_clients), t.held_out.resize(t.n_clients), t.row_offsets.assign(1, 0);
  for (int c = 0; c < t.n_clients; c++) {
    const int64_t n = data.client_size(c);
    if (n <= 0)
      fail(strf("client %d of dataset %s has no training rows", c, data.path.c_str()),
           "re-run `hfedmoe prepare` with fewer clients or a partition that gives every client data");
    t.shard[c] = hold_out(data.client_rows(c), n, fl.val_fraction, seed, c, t.rows);
    t.held_out[c] = n - t.shard[c];
    t.row_offsets.push_back(static_cast<int64_t>(t.rows.size()));
    t.max_shard = std::max(t.max_shard, t.shard[c]);
  }

  t.profiles = load_profiles(fl.profiles);
  t.profile = assign_profiles(t.profiles, t.n_clients, seed);
  std::vector<int> class_budget(t.profiles.size());
  for (size_t i = 0; i < t.profiles.size(); i++) {
    BudgetDerivation b = derive_budget(t.profiles[i], m, data.task, train.batch_size, data.seq_len);
    class_budget[i] = fl.budget > 0 ? std::min(fl.budget, m.n_experts) : b.budget;
    if (is_server())
      LOG_INFO("profile %s: C_budget = %d experts per layer%s (%s)", t.profiles[i].name.c_str(), class_budget[i],
             fl.budget > 0 ? " (fl.budget)" : "", b.explain().c_str());
  }
  t.budget.resize(t.n_clients);
  for (int c = 0; c < t.n_clients; c++) {
    t.budget[c] = class_budget[t.profile[c]];
    if (method_needs_budget && t.budget[c] < 1)
      fail(strf("device profile '%s' (%s) leaves no memory for even one expert of model '%s' (client %d)",
                t.profiles[t.profile[c]].name.c_str(), fl.profiles.c_str(), m.preset.c_str(), c),
           "give the profile more memory_gb, use a smaller model or batch, or set fl.budget");
  }
  size_t le = static_cast<size_t>(t.L) * t.E;
  t.usage.assign(t.n_clients * le, 0.0f);
  t.importance.assign(t.n_clients * le, 0.0f);
  t.rounds_done.assign(t.n_clients, 0);
  t.last_round.assign(t.n_clients, -1);
  return t;
}

}  // namespace hf
