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
// Expert sums are held only for the experts this rank's clients touched: a pool of PE-word
// blocks handed out on first use in a round and kept for later rounds, so an executor's memory
// follows what its clients trained, not the model (docs/design.md section 4).
// Letters (docs/design.md section 1): L layers, E experts, PE = floats of one expert block,
// PR = floats of one router (E*C), PD = trained dense floats, n_slots = slots of the round
// plan, n_profiles = device classes.
#include <cstdint>
#include <memory>
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

// What a section of sums updates: the parameters at `params` (an expert block, a router, a
// dense range); kind none for the sections that are not sums (weights, statistics, state).
struct SumTarget {
  enum Kind { none, expert, router, dense } kind = none;
  int index = 0;  // expert: l*E + e; router: l
  Range params;
};

struct RoundUpdate {
  int L = 0, E = 0, n_slots = 0, n_profiles = 1;
  size_t PE = 0, PR = 0, PD = 0;
  std::vector<Range> dense;            // the ParamTable's dense ranges, in arena order
  std::vector<uint8_t> touched;        // (L*E) 1 = some client reported this expert (weight > 0)
  std::vector<uint8_t> kept;           // (L*E) 1 = u_c(e) >= tau for some client: the union S of Eq. 18-21
  std::vector<int64_t> expert_w;       // (L*E)
  std::vector<int64_t> router_w;       // (L)
  std::vector<int64_t> router_sum;     // (L, PR)
  int64_t dense_w = 0;
  std::vector<int64_t> dense_sum;      // (PD)
  std::vector<SlotStats> stats;        // (n_slots)
  std::vector<double> slot_state;      // (n_slots, 2*L*E) usage u_c then importance s_c (floats, held exactly)
  std::vector<int64_t> class_trained;  // (n_profiles, L*E) clients of class j that trained expert (l, e)

  std::vector<Range> routers;          // (L) router l's parameters
  std::vector<Range> experts;          // (L*E) expert block (l, e)'s parameters

  // Sizes every buffer for the table, the task, at most max_slots plan slots and n_profiles
  // device classes (once, at start-up).
  void init(const ParamTable& table, Task task, int max_slots, int n_profiles = 1);
  // Zeroes the sums for a round with n_slots slots.
  void clear(int n_slots);

  // Adds w * (params - global) over [r.begin, r.end) to sum (fixed point; fl/fixed_point_sum.h,
  // vectorised and threaded). Returns false when a value is out of the fixed-point range
  // (fixed_point.h) or not finite.
  static bool add_weighted_delta(int64_t* sum, double w, const float* params, const float* global, Range r);

  // Expert (l, e)'s sum (PE), zeroed and taken from the pool on its first use in the round.
  int64_t* expert(int l, int e);
  // Expert i = l*E + e's sum (PE): its block, or zeros when this rank holds none this round.
  const int64_t* expert_sum(size_t i) const { return held_[i] < 0 ? zeros_.data() : pool_[held_[i]].get(); }
  int experts_held() const { return pool_used_; }
  int64_t* router(int l) { return router_sum.data() + static_cast<size_t>(l) * PR; }
  const int64_t* router(int l) const { return router_sum.data() + static_cast<size_t>(l) * PR; }
  double* state(int p) { return slot_state.data() + static_cast<size_t>(p) * 2 * L * E; }
  const double* state(int p) const { return slot_state.data() + static_cast<size_t>(p) * 2 * L * E; }
  int64_t* trained_by(int j) { return class_trained.data() + static_cast<size_t>(j) * L * E; }
  const int64_t* trained_by(int j) const { return class_trained.data() + static_cast<size_t>(j) * L * E; }

  // The wire format of the reduced buffer, the one list that sizing, packing, unpacking and the
  // server's apply (fl/exchange.cpp, fl/aggregate.cpp) all walk: f(void* data, size_t words,
  // SumTarget) per section of 8-byte words, in order
  //   stats (n, kSlotWords) | slot_state (n, 2*L*E) | class_trained (n_profiles, L*E) |
  //   router_w (L) | router_sum (L, PR) per router | dense_w (1) | dense_sum (PD) per dense range |
  //   per expert (l, e) in `sent` (nullptr: every expert), in (l, e) order: expert_w (1), its sum (PE)
  // for n slots (at most the max_slots of init). Sums name the parameters they update (SumTarget);
  // their weight always travels before them. An expert this rank holds no sum of is read from
  // zeros (expert_sum), which a caller must not write.
  template <class F>
  void for_each_section(int n, const uint8_t* sent, F&& f) {
    const size_t LE = static_cast<size_t>(L) * E;
    const SumTarget none{};
    f(stats.data(), static_cast<size_t>(n) * kSlotWords, none);
    f(slot_state.data(), static_cast<size_t>(n) * 2 * LE, none);
    f(class_trained.data(), static_cast<size_t>(n_profiles) * LE, none);
    f(router_w.data(), static_cast<size_t>(L), none);
    for (int l = 0; l < L; l++) f(router(l), PR, SumTarget{SumTarget::router, l, routers[l]});
    f(&dense_w, size_t{1}, none);
    int64_t* sum = dense_sum.data();
    for (const Range& r : dense) {
      f(sum, r.size(), SumTarget{SumTarget::dense, 0, r});
      sum += r.size();
    }
    for (size_t i = 0; i < LE; i++)
      if (!sent || sent[i]) {
        f(&expert_w[i], size_t{1}, none);
        f(const_cast<int64_t*>(expert_sum(i)), PE, SumTarget{SumTarget::expert, static_cast<int>(i), experts[i]});
      }
  }
  // Words of the reduced buffer for n slots and the experts in `sent` (nullptr: every expert).
  size_t wire_words(int n, const uint8_t* sent);

 private:
  std::vector<int32_t> held_;                   // (L*E) pool index of expert i's sum this round, -1 = none
  std::vector<std::unique_ptr<int64_t[]>> pool_;  // blocks of PE words, reused round after round
  int pool_used_ = 0;
  std::vector<int64_t> zeros_;                  // (PE) the sum of an expert nobody here touched
};
static_assert(sizeof(double) == sizeof(int64_t), "slot state travels as int64 words");

// The dense tensors clients train and send: every tensor that is neither an expert nor a router
// and that the task uses (classification leaves the LM head out, the LM task the class head),
// adjacent ones merged, in arena order.
std::vector<Range> trained_dense_ranges(const ParamTable& table, Task task);

}  // namespace hf
