#pragma once
// The server's update (docs/design.md section 7, "On the server"): turn the round's exact sums (fl/update.h) into
// average deltas and apply them with the server optimizer.
//   experts, Eq. 17:   delta_e = sum_c w_ce (E_e(c) - E_e) / sum_c w_ce, only where sum w > 0
//   gate, Eq. 18-21:   normalized: delta = sum_c alpha(c) dW(c) / sum_c alpha(c)
//                      raw_sum:    W <- sum_c alpha(c) W(c), alpha(c) = sum_{S_c} u s / |S|
//   dense:             FedAvg by |D_c|
//   server optimizer:  fedavg  w += server_lr * delta
//                      fedadam m = b1 m + (1-b1) delta, v = b2 v + (1-b2) delta^2,
//                              w += server_lr * m / (sqrt(v) + eps)   (Reddi et al. 2021)
// Computed in double from the integer sums, so the result is the same bits on any run.
#include <cstdint>
#include <vector>

#include "fl/fl_options.h"
#include "fl/update.h"

namespace hf {

// What the round changed, for the expert-sparse broadcast: experts = update.touched.
struct Changes {
  std::vector<uint8_t> router;  // (L)
  uint8_t dense = 0;
  int experts = 0;               // count of changed experts
};

class ServerAggregator {
 public:
  ServerAggregator(const ParamTable& table, const FlOptions& fl, bool raw_gate_sum);
  // Applies count sums of section t, from its element `offset` on: the server's path, chunk by
  // chunk as the reduce delivers them (fl/exchange.h), so it never holds every sum. Reads the
  // section's weight and the kept union from u, which travel before any sum.
  void apply_part(const RoundUpdate& u, const SumTarget& t, size_t offset, const int64_t* sums, size_t count,
                  float* params);
  // What the round changed (the broadcast's list), from u's weights once the reduce is done.
  Changes changes(const RoundUpdate& u) const;
  // The reference: every sum of an update held in memory, through apply_part, then changes().
  void apply(RoundUpdate& u, float* params, Changes& changes);

  // fedadam state (empty with fedavg), saved in checkpoints.
  std::vector<float> m, v;  // (P)

 private:
  // raw_gate_sum's 1/|S| for router l; 0 when the gate is averaged; -1 when S is empty (the
  // router is left as it is).
  double raw_scale(const RoundUpdate& u, int l) const;
  void step(float* params, Range r, const int64_t* sum, double w, double raw_scale);
  void step_chunk(float* params, Range r, const int64_t* sum, double w, double raw_scale);  // one thread's part
  static constexpr size_t kApplyChunk = size_t{1} << 15;  // elements per thread's part: fixed
  const ParamTable& table_;
  const FlOptions& fl_;
  bool raw_gate_sum_;
};

}  // namespace hf
