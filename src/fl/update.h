#pragma once
// The round's aggregate in exact fixed point (fl/fixed_point.h): what executors accumulate
// from their clients, what fl/exchange.h reduces to rank 0, and what the server applies.
// Everything is a sum over clients, so it does not depend on which rank trained whom.
//
// Per expert (l, e) of the ParamTable: sum_c q(w_ce * (E_e(c) - E_e)) and sum_c q(w_ce);
// per router l: the same with the method's gate weight; dense tensors: the same with |D_c|.
// Weights are scaled into (0, 1] (fixed_point.h); the server divides sums by weights.
// Per plan slot: the client's statistics (SlotStats) and its new persistent state (usage,
// importance). Exactly one rank writes a slot and the others leave it zero, so the sum of the
// slot's 8-byte words is the writer's bits: doubles cross the int64 reduction unchanged.
// Per device class j and expert (l, e): how many of the round's clients of class j (status ok)
// trained the expert (it was in their trained set A in some local step); the server writes
// these counts to <run>/experts.csv.
// Letters (docs/design.md section 1): L layers, E experts, PE = floats of one expert block,
// PR = floats of one router (E*C), PD = trained dense floats, n_slots = slots of the round
// plan, n_profiles = device classes.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "model/model.h"
#include "model/params.h"

namespace hf {

enum SlotStatus : int64_t { kSlotNotRun = 0, kSlotOk = 1, kSlotFailed = 2 };

// One client's statistics of the round. Every field is 8 bytes, so the struct travels as
// int64 words (kSlotWords) in the reduced buffer.
struct SlotStats {
  int64_t status = kSlotNotRun;  // kSlotFailed: a step did not fit the client's memory
  int64_t steps = 0;             // local steps done
  double loss_sum = 0;           // sum of the steps' training losses
  double flops = 0;              // FLOPs executed (Model::last_step_flops summed)
  int64_t experts_trained = 0;   // distinct experts trained, summed over layers
  int64_t up_bytes = 0;          // bytes this client would upload (dense + routers + its reported experts)
  int64_t peak_bytes = 0;        // the most device memory a step held, or needed when that failed it (MemoryModel)
};
constexpr size_t kSlotWords = sizeof(SlotStats) / sizeof(int64_t);
static_assert(sizeof(SlotStats) == kSlotWords * sizeof(int64_t) && std::is_trivially_copyable_v<SlotStats>,
              "SlotStats must be a block of 8-byte words");

struct RoundUpdate {
  int L = 0, E = 0, n_slots = 0, n_profiles = 1;
  size_t PE = 0, PR = 0, PD = 0;
  std::vector<Range> dense;            // the ParamTable's dense ranges, in arena order
  std::vector<uint8_t> touched;        // (L*E) 1 = some client reported this expert (weight > 0)
  std::vector<uint8_t> kept;           // (L*E) 1 = u_c(e) >= tau for some client: the union S of Eq. 18-21
  std::vector<int64_t> expert_w;       // (L*E)
  std::vector<int64_t> expert_sum;     // (L*E, PE)
  std::vector<int64_t> router_w;       // (L)
  std::vector<int64_t> router_sum;     // (L, PR)
  int64_t dense_w = 0;
  std::vector<int64_t> dense_sum;      // (PD)
  std::vector<SlotStats> stats;        // (n_slots)
  std::vector<double> slot_state;      // (n_slots, 2*L*E) usage u_c then importance s_c (floats, held exactly)
  std::vector<int64_t> class_trained;  // (n_profiles, L*E) clients of class j that trained expert (l, e)

  // Sizes every buffer for the table, the task, at most max_slots plan slots and n_profiles
  // device classes (once, at start-up).
  void init(const ParamTable& table, Task task, int max_slots, int n_profiles = 1);
  // Zeroes the sums for a round with n_slots slots.
  void clear(int n_slots);

  // Adds w * (params - global) over [r.begin, r.end) to sum (fixed point; fl/fixed_point_sum.h,
  // vectorised and threaded). Returns false when a value is out of the fixed-point range
  // (fixed_point.h) or not finite.
  static bool add_weighted_delta(int64_t* sum, double w, const float* params, const float* global, Range r);

  int64_t* expert(int l, int e) { return expert_sum.data() + (static_cast<size_t>(l) * E + e) * PE; }
  const int64_t* expert(int l, int e) const { return expert_sum.data() + (static_cast<size_t>(l) * E + e) * PE; }
  int64_t* router(int l) { return router_sum.data() + static_cast<size_t>(l) * PR; }
  const int64_t* router(int l) const { return router_sum.data() + static_cast<size_t>(l) * PR; }
  double* state(int p) { return slot_state.data() + static_cast<size_t>(p) * 2 * L * E; }
  const double* state(int p) const { return slot_state.data() + static_cast<size_t>(p) * 2 * L * E; }
  int64_t* trained_by(int j) { return class_trained.data() + static_cast<size_t>(j) * L * E; }
  const int64_t* trained_by(int j) const { return class_trained.data() + static_cast<size_t>(j) * L * E; }

  // The wire format of the reduced buffer, the one list that sizing, packing and unpacking
  // (fl/exchange.cpp) all walk: f(void* data, size_t words) per section of 8-byte words, in order
  //   stats (n, kSlotWords) | slot_state (n, 2*L*E) | class_trained (n_profiles, L*E) |
  //   router_w (L) | router_sum (L, PR) | dense_w (1) | dense_sum (PD) |
  //   per expert (l, e) in `sent` (nullptr: every expert), in (l, e) order: expert_w (1), its sum (PE)
  // for n slots (at most the max_slots of init).
  template <class F>
  void for_each_section(int n, const uint8_t* sent, F&& f) {
    const size_t LE = static_cast<size_t>(L) * E;
    f(stats.data(), static_cast<size_t>(n) * kSlotWords);
    f(slot_state.data(), static_cast<size_t>(n) * 2 * LE);
    f(class_trained.data(), static_cast<size_t>(n_profiles) * LE);
    f(router_w.data(), static_cast<size_t>(L));
    f(router_sum.data(), static_cast<size_t>(L) * PR);
    f(&dense_w, size_t{1});
    f(dense_sum.data(), PD);
    for (size_t i = 0; i < LE; i++)
      if (!sent || sent[i]) {
        f(&expert_w[i], size_t{1});
        f(expert_sum.data() + i * PE, PE);
      }
  }
  // Words of the reduced buffer for n slots and the experts in `sent` (nullptr: every expert).
  size_t wire_words(int n, const uint8_t* sent);
};
static_assert(sizeof(double) == sizeof(int64_t), "slot state travels as int64 words");

// The dense tensors clients train and send: every tensor that is neither an expert nor a router
// and that the task uses (classification leaves the LM head out, the LM task the class head),
// adjacent ones merged, in arena order.
std::vector<Range> trained_dense_ranges(const ParamTable& table, Task task);

}  // namespace hf
