#pragma once
// The round plan (docs/design.md section 3, step 1): which clients train this round, their budgets,
// and which executor rank trains each. A pure function of (seed, round, options, clients), so
// a resumed run plans the same rounds; executors receive it by broadcast.
//
// Virtual clock (section 5): a client's time = FLOPs / (tflops * 1e12) + download bytes /
// downlink + upload bytes / uplink. The plan predicts it before training (FLOPs of a full
// forward + backward of the active parameters, uploads of C_budget experts per layer); the
// over-commit and deadline decisions use the prediction, so dropped stragglers never train.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "fl/clients.h"
#include "fl/fl_options.h"
#include "fl/method.h"
#include "fl/update.h"

namespace hf {

// One kept client. Every field is 8 bytes: the plan travels as int64 words (plan_words).
struct PlanSlot {
  int64_t client = 0;
  int64_t budget = 0;
  int64_t executor = 0;    // world rank that trains it
  int64_t steps = 0;       // local steps
  double predicted_s = 0;  // predicted virtual time
};

struct RoundPlan {
  struct Header {
    int64_t round = 0;    // 1-based
    int64_t stop = 0;     // 1: no more rounds, executors leave their loop
    int64_t sampled = 0;  // drawn from the population (per_round with over-commit)
    int64_t offline = 0;  // sampled but unavailable this round
    int64_t late = 0;     // available but dropped by over-commit or the deadline
    int64_t n_slots = 0;  // slots.size() on the wire
  };
  int64_t round = 0;
  bool stop = false;
  int sampled = 0, offline = 0, late = 0;
  std::vector<PlanSlot> slots;  // the kept clients, by client id

  // The wire format: Header, then max_slots PlanSlots (unused ones zero).
  std::vector<int64_t> serialize(int max_slots) const;
  static RoundPlan deserialize(const std::vector<int64_t>& buf);
};
static_assert(std::is_trivially_copyable_v<PlanSlot> && sizeof(PlanSlot) % sizeof(int64_t) == 0 &&
              sizeof(RoundPlan::Header) % sizeof(int64_t) == 0, "the plan travels as int64 words");
// int64 words of a plan of at most max_slots slots.
constexpr size_t plan_words(int max_slots) {
  return (sizeof(RoundPlan::Header) + static_cast<size_t>(max_slots) * sizeof(PlanSlot)) / sizeof(int64_t);
}

// What a client's round costs, for the prediction and the clock.
struct CostModel {
  double step_flops = 0;        // one local step, full forward + backward: 6 * active params * B * T
  double model_bytes = 0;       // the download: the whole arena, fp32
  double shared_up_bytes = 0;   // the trained dense tensors + routers, fp32
  double expert_bytes = 0;      // one expert block, fp32
  CostModel(const ParamTable& table, Task task, int batch, int seq_len);
  double up_bytes(int experts_total) const { return shared_up_bytes + experts_total * expert_bytes; }
};

int64_t local_steps(const TrainOptions& train, int64_t shard);
// The hang watchdog's deadline for a round's training (fl.round_timeout_s, mpi/watchdog.h), in
// wall seconds: the option, or with auto max(600, 10 x the FLOPs planned for the busiest
// executor at 1 GFLOP/s), a slow CPU core's pace; 0 = no deadline.
double round_timeout_s(const FlOptions& fl, const RoundPlan& plan, const CostModel& cost);
double client_time_s(const DeviceProfile& p, double flops, double down_bytes, double up_bytes);
int max_plan_slots(const FlOptions& fl, int n_clients);

// executors: the world ranks that train clients (1..R, or {0} in a single process).
RoundPlan make_plan(int64_t round, uint64_t seed, const FlOptions& fl, const TrainOptions& train,
                    const ClientTable& clients, const CostModel& cost, const Method& method,
                    const std::vector<int>& executors);

}  // namespace hf
