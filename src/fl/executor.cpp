// An executor rank (1..R): hosts virtual clients and trains those the plan gives it. Before
// each blocking step it reports its arrival to the server's watchdog (mpi/watchdog.h).
// One round, top to bottom:
//   plan (broadcast) -> train my clients -> pack + reduce (expert-sparse, exact) ->
//   receive the changed parameters -> report usage (peak memory, idle time) -> agree on a stop
//   signal
// Idle time is the round's wall time (from one usage report to the next) outside training: the
// wait for the plan, for the slowest executor at the reduce, and for the server's apply.
#include <chrono>

#include "fl/engine.h"
#include "mpi/rank_usage.h"
#include "mpi/runtime.h"
#include "mpi/watchdog.h"
#include "util/log.h"
#include "util/signals.h"

namespace hf {

void Engine::train_assigned(const RoundPlan& plan) {
  trainer->begin_round(global.data());
  for (size_t p = 0; p < plan.slots.size(); p++)
    if (plan.slots[p].executor == world_rank()) trainer->train_client(plan.round, static_cast<int>(p), plan.slots[p], global.data(), update);
}

int run_executor(Engine& eng) {
  Changes changes;
  bool stopped = false;
  int64_t round = 0;
  eng.exchange->broadcast_model(eng.global.data(), eng.global.size());
  int64_t arrival = 0;  // the watchdog's steps (mpi/watchdog.h), in the server's order (fl/server.cpp)
  using clock = std::chrono::steady_clock;
  auto seconds_since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  clock::time_point round_start = clock::now();
  for (;;) {
    report_arrival(arrival++);
    RoundPlan plan = eng.exchange->broadcast_plan(RoundPlan{});             // plan
    if (plan.stop) break;
    round = plan.round;
    eng.update.clear(static_cast<int>(plan.slots.size()));
    const clock::time_point train_start = clock::now();
    double train_s = 0;  // training alone: the agreement below waits for the slowest executor
    collectively([&] {                                                      // train
      try {
        eng.train_assigned(plan);
        train_s = seconds_since(train_start);
      } catch (...) {
        report_arrival(arrival);  // the failure itself is agreed here; the watchdog must not blame this rank
        throw;
      }
      report_arrival(arrival);
    });
    arrival++;
    eng.exchange->reduce_update(eng.update);                                // pack + reduce
    eng.exchange->broadcast_changes(eng.update, changes, eng.global.data(), eng.model->table());  // apply
    gather_rank_usage({peak_rss_mb(), seconds_since(round_start) - train_s});  // usage
    round_start = clock::now();
    eng.exchange->take_bytes();
    report_arrival(arrival++);
    stopped = stop_agreed();
  }
  log_peak_rss();
  return stopped && round < eng.fl.rounds ? kExitRequeue : kExitOk;
}

}  // namespace hf
