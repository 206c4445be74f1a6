#pragma once
// The n_clients virtual clients of a run, as flat arrays (thousands fit on every rank): training and
// held-out rows, device profile, expert budget, and the compact state that persists across rounds
// (usage u_c and importance s_c of the last round it took part in; participation counts).
// Built identically on every rank from (dataset, profiles, seed); only rank 0 updates the state.
#include <cstdint>
#include <string>
#include <vector>

#include "fl/fl_options.h"
#include "fl/profiles.h"
#include "model/params.h"

namespace hf {

struct Dataset;

struct ClientTable {
  int n_clients = 0, L = 0, E = 0;
  std::vector<DeviceProfile> profiles;
  std::vector<int64_t> shard;       // (n_clients) |D_c|, the client's training rows
  std::vector<int64_t> held_out;    // (n_clients) its validation rows (fl.val_fraction of its partition, seeded)
  std::vector<int64_t> row_offsets; // (n_clients + 1) into rows
  std::vector<int64_t> rows;        // per client: its training rows, then its validation rows (dataset train split ids)
  int64_t max_shard = 1;            // scales |D_c| into (0, 1] for the fixed-point sums
  std::vector<int> profile;         // (n_clients) index into profiles
  std::vector<int> budget;          // (n_clients) C_budget(c), experts per layer, clamped to [0, E]
  // persistent state
  std::vector<float> usage;         // (n_clients, L*E) u_c(e) of the last round the client trained
  std::vector<float> importance;    // (n_clients, L*E) s_c(e) (Eq. 3-5) averaged over that round's steps
  std::vector<int64_t> rounds_done; // (n_clients) rounds the client completed
  std::vector<int64_t> last_round;  // (n_clients) last round it completed, -1 = never

  // Validates n_clients against the dataset, loads and assigns profiles, derives budgets: every input
  // error is one usage error (the caller runs it inside collectively()).
  static ClientTable build(const FlOptions& fl, const TrainOptions& train, const Dataset& data,
                           const ParamTable& table, bool method_needs_budget, uint64_t seed);
  double weight(int c) const { return static_cast<double>(shard[c]) / static_cast<double>(max_shard); }
  const int64_t* train_rows(int c) const { return rows.data() + row_offsets[c]; }         // (shard[c])
  const int64_t* val_rows(int c) const { return rows.data() + row_offsets[c] + shard[c]; }  // (held_out[c])
};

// A client's partition rows[0..n) split for validation: a shuffle keyed by (seed, client) holds
// out floor(fraction * n) rows (at most n - 1). Appends the training rows, then the held-out
// rows, each part sorted, to out; returns the number of training rows.
int64_t hold_out(const int64_t* rows, int64_t n, double fraction, uint64_t seed, int client, std::vector<int64_t>& out);

}  // namespace hf
