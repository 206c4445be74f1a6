#pragma once
// The federated exchange between rank 0 (server) and ranks 1..R (executors), MPI on CPU ranks.
// Every call is collective over MPI_COMM_WORLD. In a single process (no executors) the same
// calls run with one rank: no data moves and the byte counts are those of one in-process executor.
//
// Per round, in order:
//  1. broadcast_plan    server -> all: the round plan, fixed size 6 + 5 * max_slots int64
//  2. reduce_update     executors -> server, expert-sparse:
//       a. MPI_Allreduce(BOR) of two (L*E) byte masks: touched (some client reported the
//          expert) and kept (u_c(e) >= tau somewhere: the union S of Eq. 18-21)
//       b. each rank packs int64 [slot stats (P*F) | slot state (P*2LE) | per device class,
//          clients that trained each expert (K*LE) | router w (L) | router sums (L*E*C) |
//          dense w (1) | dense sums (D) | per touched expert in (l, e) order: w (1) + sums (S)]
//          and MPI_Reduce(SUM) to rank 0, which unpacks.
//       No per-client tensor crosses the wire: executors pre-aggregate their clients.
//  3. broadcast_changes server -> all: (L+1) bytes of flags (routers, dense changed), then fp32
//       [changed routers | dense if changed | touched experts in (l, e) order].
// Bytes (Exchange::Bytes) are counted from the buffers actually passed to MPI, per executor:
//   up   = R * (masks + packed int64 buffer)
//   down = R * (plan + masks + flags + fp32 payload)
//   dense_equiv = the same exchange if every expert were touched (what FedAvg over the whole
//   model moves through this same protocol).
#include <cstdint>
#include <vector>

#include "fl/aggregate.h"
#include "fl/plan.h"
#include "fl/update.h"

namespace hf {

class Exchange {
 public:
  struct Bytes {
    int64_t up = 0, down = 0, dense_equiv = 0;
  };

  Exchange(const RoundUpdate& shape, int max_slots);

  RoundPlan broadcast_plan(const RoundPlan& plan);  // plan: read on rank 0 only
  void reduce_update(RoundUpdate& u);
  // Rank 0: params hold the new values; others: receive them into params (P).
  void broadcast_changes(const RoundUpdate& u, Changes& ch, float* params, const ParamTable& table);
  // The whole arena, rank 0 -> all (start and resume). Not counted in round bytes.
  void broadcast_model(float* params, size_t n);

  Bytes take_bytes();  // this round's counts, then reset

 private:
  size_t packed_size(const RoundUpdate& u, int slots, int experts) const;
  int executors_;  // R, or 1 for the in-process executor
  int max_slots_;
  std::vector<int64_t> pack_;  // sized for every expert touched
  std::vector<uint8_t> masks_;
  std::vector<float> payload_;
  std::vector<uint8_t> flags_;  // (L + 1)
  std::vector<Range> ranges_;   // the changed ranges of a broadcast
  Bytes bytes_;
};

}  // namespace hf
