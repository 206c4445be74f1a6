#pragma once
// What the server carries from round to round, and its place in a train checkpoint
// (io/checkpoint.h): /server/virtual_time_s (1), /server/adam_m and adam_v (P, fedadam only),
// /clients/usage and importance (n_clients, L*E), /clients/rounds_done and last_round
// (n_clients). One schema for saving and resuming: a resumed run continues bit for bit.
#include <cstdint>
#include <string>
#include <vector>

#include "fl/aggregate.h"
#include "fl/clients.h"
#include "io/checkpoint.h"

namespace hf {

struct ServerState {
  double virtual_time_s = 0;
  ServerAggregator& agg;  // the server optimizer's moments
  ClientTable& clients;   // usage, importance and participation

  void save_to(Checkpoint& ck) const;
  // Checks the checkpoint's kind, seed and method against this run's, then every array's presence
  // and size: a usage error naming the checkpoint, the array and the fix otherwise.
  void load_from(const Checkpoint& ck, const std::string& path, uint64_t seed, const std::string& method);
};

}  // namespace hf
