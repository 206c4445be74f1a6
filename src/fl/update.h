#pragma once
// The round's aggregate in exact fixed point (fl/fixed_point.h): what executors accumulate
// from their clients, what mpi/exchange.h reduces to rank 0, and what the server applies.
// Everything is a sum over clients, so it does not depend on which rank trained whom.
//
// Per expert (l, e) of the ParamTable: sum_c q(w_ce * (E_e(c) - E_e)) and sum_c q(w_ce);
// per router l: the same with the method's gate weight; dense tensors: the same with |D_c|.
// Weights are scaled into (0, 1] (fixed_point.h); the server divides sums by weights.
// Per plan slot: the client's statistics and its new persistent state (usage, importance),
// stored as the bits of the value: exactly one rank writes a slot and the others add 0.
// Per device class k and expert (l, e): how many of the round's clients of class k (status ok)
// trained the expert (it was in their trained set A in some local step); the server writes
// these counts to <run>/experts.csv.
// Dimensions: L layers, E experts, S = expert_block_size(), RC = E*C (one router),
// D = dense floats, P = slots in the round plan, K = device classes (profiles).
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "model/params.h"

namespace hf {

// Per-slot statistics (int64 fields; doubles travel as their bits).
enum SlotField : int {
  kSlotStatus = 0,      // 0 not run, 1 ok, 2 failed (over its budget)
  kSlotSteps,           // local steps done
  kSlotLossSum,         // double bits: sum of the steps' training losses
  kSlotFlops,           // double bits: FLOPs executed (Model::last_step_flops summed)
  kSlotExpertsTrained,  // distinct experts trained, summed over layers
  kSlotUpBytes,         // bytes this client would upload (dense + routers + its reported experts)
  kSlotPeakBytes,       // the most device memory a step of this client held, or needed when that failed it (MemoryModel)
  kSlotFields
};
enum SlotStatus : int64_t { kSlotNotRun = 0, kSlotOk = 1, kSlotFailed = 2 };

struct RoundUpdate {
  int L = 0, E = 0, P = 0, K = 1;
  size_t S = 0, RC = 0, D = 0;
  std::vector<Range> dense;            // the ParamTable's dense ranges, in arena order
  std::vector<uint8_t> touched;        // (L*E) 1 = some client reported this expert (weight > 0)
  std::vector<uint8_t> kept;           // (L*E) 1 = u_c(e) >= tau for some client: the union S of Eq. 18-21
  std::vector<int64_t> expert_w;       // (L*E)
  std::vector<int64_t> expert_sum;     // (L*E, S)
  std::vector<int64_t> router_w;       // (L)
  std::vector<int64_t> router_sum;     // (L, RC)
  int64_t dense_w = 0;
  std::vector<int64_t> dense_sum;      // (D)
  std::vector<int64_t> slots;          // (P, kSlotFields)
  std::vector<int64_t> slot_state;     // (P, 2*L*E) float bits: usage u_c then importance s_c
  std::vector<int64_t> class_trained;  // (K, L*E) clients of class k that trained expert (l, e)

  // Sizes every buffer for the table, the task, at most max_slots plan slots and n_classes device
  // classes (once, at start-up).
  void init(const ParamTable& table, Task task, int max_slots, int n_classes = 1);
  // Zeroes the sums for a round with P slots.
  void clear(int n_slots);

  // Adds w * (params - global) over [r.begin, r.end) to sum (fixed point). Returns false when a
  // value is out of the fixed-point range (fixed_point.h) or not finite.
  static bool add_weighted_delta(int64_t* sum, double w, const float* params, const float* global, Range r);

  int64_t* expert(int l, int e) { return expert_sum.data() + (static_cast<size_t>(l) * E + e) * S; }
  int64_t* router(int l) { return router_sum.data() + static_cast<size_t>(l) * RC; }
  int64_t* slot(int p) { return slots.data() + static_cast<size_t>(p) * kSlotFields; }
  int64_t* state(int p) { return slot_state.data() + static_cast<size_t>(p) * 2 * L * E; }
  int64_t* trained_by(int k) { return class_trained.data() + static_cast<size_t>(k) * L * E; }
};

// The dense tensors clients train and send: every tensor that is neither an expert nor a router
// and that the task uses (classification leaves the LM head out, the LM task the class head),
// adjacent ones merged, in arena order.
std::vector<Range> trained_dense_ranges(const ParamTable& table, Task task);

// Values <-> int64 bits for slot fields and slot state.
int64_t bits_of(double v);
double double_of(int64_t bits);
int64_t bits_of_float(float v);
float float_of(int64_t bits);

}  // namespace hf
