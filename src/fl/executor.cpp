// An executor rank (1..R): hosts virtual clients and trains those the plan gives it.
// One round, top to bottom:
//   plan (broadcast) -> train my clients -> pack + reduce (expert-sparse, exact) ->
//   receive the changed parameters -> agree on a stop signal
#include "fl/engine.h"
#include "mpi/runtime.h"
#include "util/log.h"
#include "util/signals.h"

namespace hf {

void Engine::train_assigned(const RoundPlan& plan) {
  for (size_t p = 0; p < plan.slots.size(); p++)
    if (plan.slots[p].executor == world_rank()) trainer->train_client(plan.round, static_cast<int>(p), plan.slots[p], global.data(), update);
}

int run_executor(Engine& eng) {
  Changes changes;
  bool stopped = false;
  int64_t round = 0;
  eng.exchange->broadcast_model(eng.global.data(), eng.global.size());
  for (;;) {
    RoundPlan plan = eng.exchange->broadcast_plan(RoundPlan{});             // plan
    if (plan.stop) break;
    round = plan.round;
    eng.update.clear(static_cast<int>(plan.slots.size()));
    collectively([&] { eng.train_assigned(plan); });                       // train
    eng.exchange->reduce_update(eng.update);                                // pack + reduce
    eng.exchange->broadcast_changes(eng.update, changes, eng.global.data(), eng.model->table());  // apply
    eng.exchange->take_bytes();
    stopped = stop_agreed();
  }
  log_peak_rss();
  return stopped && round < eng.fl.rounds ? kExitRequeue : kExitOk;
}

}  // namespace hf
