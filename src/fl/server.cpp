// The server, rank 0. One round, top to bottom:
//   plan (sample, availability, deadline, assign) -> broadcast the plan -> [single process:
//   train in-process] -> reduce the executors' exact sums -> apply (Eq. 17-21, server
//   optimizer) -> broadcast what changed -> gather every rank's usage -> evaluate -> metrics
//   row -> checkpoint
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

#include "fl/aggregate.h"
#include "fl/engine.h"
#include "fl/experts_csv.h"
#include "fl/server_state.h"
#include "fl/validation.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "io/metrics.h"
#include "model/evaluate.h"
#include "mpi/rank_usage.h"
#include "mpi/runtime.h"
#include "mpi/watchdog.h"
#include "util/human.h"
#include "util/log.h"
#include "util/signals.h"

namespace hf {
namespace {

double metric_double(const MetricsRow& row, const std::string& key) {
  for (const auto& [k, v] : row)
    if (k == key) {
      if (auto* d = std::get_if<double>(&v)) return *d;
      if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    }
  return NAN;
}

// The headline figures (means over the last fl.eval_last evaluations), the best validation
// round and the test accuracy there, rounds and virtual time to the target: printed and written
// to summary.txt. Test accuracy chooses nothing.
std::string summary(const Engine& eng, const std::vector<MetricsRow>& rows) {
  double final_acc = NAN, best_val = NAN, test_at_best = NAN, vt = 0, wall = 0, up = 0, down = 0, dense = 0, cup = 0,
         cdense = 0;
  int64_t best_round = 0, hit_round = 0;
  double hit_time = NAN;
  std::vector<double> test_accs, val_accs;
  for (const MetricsRow& r : rows) {
    double acc = metric_double(r, "test_acc"), val = metric_double(r, "val_acc");
    vt = metric_double(r, "virtual_time_s");
    wall = metric_double(r, "wall_time_s");
    cup += metric_double(r, "client_bytes_up"), cdense += metric_double(r, "client_dense_bytes_up");
    up += metric_double(r, "bytes_up"), down += metric_double(r, "bytes_down"), dense += metric_double(r, "dense_bytes_equiv");
    if (!std::isfinite(acc)) continue;
    int64_t round = static_cast<int64_t>(metric_double(r, "round"));
    final_acc = acc;
    test_accs.push_back(acc);
    if (std::isfinite(val)) {
      val_accs.push_back(val);
      if (!(val <= best_val)) best_val = val, best_round = round, test_at_best = acc;
    }
    if (eng.fl.target_acc > 0 && hit_round == 0 && acc >= eng.fl.target_acc) hit_round = round, hit_time = vt;
  }
  auto last_mean = [k = static_cast<size_t>(eng.fl.eval_last)](const std::vector<double>& v) -> double {
    if (v.empty()) return NAN;
    size_t n = std::min(k, v.size());
    double sum = 0;
    for (size_t i = v.size() - n; i < v.size(); i++) sum += v[i];
    return sum / static_cast<double>(n);
  };
  std::string s;
  s += strf("method              %s\n", eng.fl.method.c_str());
  s += strf("rounds              %zu\n", rows.size());
  s += strf("test_acc_last_mean  %.4f (mean of the last %d evaluations)\n", last_mean(test_accs), eng.fl.eval_last);
  s += strf("val_acc_last_mean   %.4f\n", last_mean(val_accs));
  s += strf("final_test_acc      %.4f\n", final_acc);
  s += strf("best_val_acc        %.4f (round %lld)\n", best_val, static_cast<long long>(best_round));
  s += strf("test_acc_at_best_val %.4f\n", test_at_best);
  if (eng.fl.target_acc > 0) {
    if (hit_round > 0)
      s += strf("target_acc %.3f     reached in round %lld, virtual time %.1f s\n", eng.fl.target_acc,
                static_cast<long long>(hit_round), hit_time);
    else
      s += strf("target_acc %.3f     not reached\n", eng.fl.target_acc);
  }
  s += strf("virtual_time_s      %.1f\n", vt);
  s += strf("wall_time_s         %.1f\n", wall);
  s += strf("bytes_up            %.0f (%s)\n", up, human_bytes(up).c_str());
  s += strf("bytes_down          %.0f (%s)\n", down, human_bytes(down).c_str());
  s += strf("dense_bytes_equiv   %.0f (%s)\n", dense, human_bytes(dense).c_str());
  s += strf("client_bytes_up     %.0f (%s)\n", cup, human_bytes(cup).c_str());
  s += strf("client_dense_up     %.0f (%s)\n", cdense, human_bytes(cdense).c_str());
  return s;
}

// Rank 0's waits for its executors since the last metrics row: wall and CPU seconds, so the
// metrics show that the server waits without spinning.
struct WaitTally {
  double wall_s = 0, cpu_s = 0;
};

// The hang watchdog (mpi/watchdog.h): waits for every executor to arrive at the protocol's
// next step; one silent past the deadline (0: none) stops the job with one line naming it.
void await_executors(int64_t step, double deadline, int64_t round, const char* doing, WaitTally& waits) {
  if (world_size() == 1) return;
  const double cpu_before = process_cpu_s();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int> silent = await_arrivals(step, deadline);
  waits.wall_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  waits.cpu_s += process_cpu_s() - cpu_before;
  if (silent.empty()) return;
  std::string ranks;
  for (int r : silent) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  abort_all(strf("executor rank %s has not %s in round %lld within %.0f s (fl.round_timeout_s): stopped, swapping or "
                 "far slower than planned; check that rank's node, or raise fl.round_timeout_s (0 = no watchdog)",
                 ranks.c_str(), doing, static_cast<long long>(round), deadline),
            kExitRuntime);
}

// The usage columns of a metrics row from every rank's report (index = rank; rank 0 is the
// server). Executors' idle time is NaN in a single process, which has no executor ranks.
MetricsRow usage_columns(const std::vector<RankUsage>& ranks, double server_cpu_s, const WaitTally& waits) {
  double peak = 0, idle_sum = 0, idle_max = 0;
  for (const RankUsage& r : ranks) peak = std::max(peak, r.peak_rss_mb);
  for (size_t r = 1; r < ranks.size(); r++) {
    idle_sum += ranks[r].idle_s;
    idle_max = std::max(idle_max, ranks[r].idle_s);
  }
  const double executors = static_cast<double>(ranks.size()) - 1;
  return {
      {"server_cpu_s", server_cpu_s},
      {"server_wait_s", waits.wall_s},
      {"server_wait_cpu_s", waits.cpu_s},
      {"executor_idle_s_mean", executors > 0 ? idle_sum / executors : NAN},
      {"executor_idle_s_max", executors > 0 ? idle_max : NAN},
      {"rank_peak_rss_mb", peak},
  };
}

// Runs collectives that every executor has arrived at under a CollectiveWatch (mpi/watchdog.h).
void watched(double deadline, int64_t round, const char* what, const std::function<void()>& collectives) {
  CollectiveWatch watch(world_size() > 1 ? deadline : 0, strf("%s of round %lld", what, static_cast<long long>(round)));
  collectives();
}

}  // namespace

int run_server(Engine& eng) {
  const ParamTable& table = eng.model->table();
  ServerAggregator agg(table, eng.fl, eng.method.traits.raw_gate_sum);
  Evaluator evaluator(eng.train.batch_size, eng.data.seq_len);
  Validator validator(eng.clients, eng.clients.L, eng.clients.E);
  const Split& test = eng.data.test;
  const std::vector<int64_t> test_rows = spread_rows(test.n, eng.fl.eval_rows > 0 ? eng.fl.eval_rows : test.n);
  MetricsLog metrics;
  Changes changes;
  ServerState state{0, agg, eng.clients};
  double& vclock = state.virtual_time_s;
  int64_t start = 0;

  // Resume from the latest checkpoint (or run.resume), else start from init weights.
  const std::string& resume = eng.dir.resume;  // checked against this run by open_run_dir
  std::vector<MetricsRow> old_rows;
  if (!resume.empty()) {
    Checkpoint ck = load_checkpoint(resume, table);
    state.load_from(ck, resume, eng.run.seed, eng.fl.method);
    if (eng.model_cfg.lora.enabled()) check_base_ref(ck.base, eng.base, resume);
    eng.global = ck.model;
    start = ck.round;
    old_rows = ck.metrics;
    LOG_INFO("resuming from %s after round %lld", resume.c_str(), static_cast<long long>(start));
  }
  metrics.open(eng.dir.path, old_rows);
  ExpertsCsv experts_csv;
  experts_csv.open(eng.dir.file("experts.csv"), start);
  auto checkpoint = [&](int64_t round) {
    Checkpoint ck;
    ck.round = round;
    ck.seed = eng.run.seed;
    ck.method = eng.fl.method;
    ck.config_ini = eng.config_ini;
    ck.base = eng.base;
    ck.model = eng.global;
    state.save_to(ck);
    ck.metrics = metrics.rows();
    std::string path = save_checkpoint(ck, table, eng.dir.ckpt_dir(), eng.run.ckpt_keep);
    LOG_INFO("checkpoint %s", path.c_str());
  };

  eng.exchange->broadcast_model(eng.global.data(), eng.global.size());
  const size_t LE = static_cast<size_t>(eng.clients.L) * eng.clients.E;
  auto t0 = std::chrono::steady_clock::now();
  double wall_before = old_rows.empty() ? 0 : metric_double(old_rows.back(), "wall_time_s");
  bool stopped = false;
  int64_t round = start;
  int64_t arrival = 0;  // the watchdog's step count, in the executors' order (fl/executor.cpp)
  double deadline = 0;  // the watchdog's, for this round's plan
  WaitTally waits;      // since the last metrics row
  double cpu_at_row = process_cpu_s();
  std::vector<RankUsage> usage;
  while (round < eng.fl.rounds && !stopped) {
    round++;
    // 1. plan
    RoundPlan plan = make_plan(round, eng.run.seed, eng.fl, eng.train, eng.clients, *eng.cost, eng.method, eng.executors);
    deadline = round_timeout_s(eng.fl, plan, *eng.cost);
    await_executors(arrival++, deadline, round, "come back for the plan", waits);
    watched(deadline, round, "the plan's broadcast", [&] { eng.exchange->broadcast_plan(plan); });
    // 2. train (in-process executor when there are no executor ranks); the watchdog waits for
    //    every executor's report with a deadline before the blocking collectives
    eng.update.clear(static_cast<int>(plan.slots.size()));
    await_executors(arrival++, deadline, round, "finished its clients", waits);
    watched(deadline, round, "the exchange", [&] {
      collectively([&] {
        if (world_size() == 1) eng.train_assigned(plan);
      });
      // 3. pack + reduce + apply, 4. broadcast what changed
      eng.exchange->reduce_update(eng.update, &agg, eng.global.data());  // applied chunk by chunk
      changes = agg.changes(eng.update);
      eng.exchange->broadcast_changes(eng.update, changes, eng.global.data(), table);
      usage = gather_rank_usage({peak_rss_mb(), 0});
    });
    Exchange::Bytes bytes = eng.exchange->take_bytes();

    // clients' state, statistics and the virtual clock
    int ok = 0, failed = 0;
    double loss_sum = 0, round_s = 0, experts = 0, client_up = 0, mem_peak = 0;
    int over_memory = 0;
    int64_t steps = 0;
    for (size_t p = 0; p < plan.slots.size(); p++) {
      const SlotStats& st = eng.update.stats[p];
      int c = static_cast<int>(plan.slots[p].client);
      const DeviceProfile& prof = eng.clients.profiles[eng.clients.profile[c]];
      double up = st.status == kSlotOk ? static_cast<double>(st.up_bytes) : 0.0;
      round_s = std::max(round_s, client_time_s(prof, st.flops, eng.cost->model_bytes, up));
      mem_peak = std::max(mem_peak, static_cast<double>(st.peak_bytes));
      if (st.status != kSlotOk) {
        failed += st.status == kSlotFailed;
        continue;
      }
      ok++;
      over_memory += static_cast<double>(st.peak_bytes) > prof.memory_gb * kBytesPerGB;  // counted although it did not fit
      client_up += up;
      loss_sum += st.loss_sum;
      steps += st.steps;
      experts += static_cast<double>(st.experts_trained) / eng.clients.L;
      const double* state = eng.update.state(static_cast<int>(p));
      for (size_t i = 0; i < LE; i++) {
        eng.clients.usage[c * LE + i] = static_cast<float>(state[i]);
        eng.clients.importance[c * LE + i] = static_cast<float>(state[LE + i]);
      }
      eng.clients.rounds_done[c]++;
      eng.clients.last_round[c] = round;
    }
    vclock += round_s;

    // 5. evaluate, log
    EvalTally ev;    // test loss and accuracy of the new global model
    Validation val;  // on the clients' held-out rows
    if (round % eng.fl.eval_every == 0 || round == eng.fl.rounds) {
      eng.model->load_params(eng.global.data());
      ev = evaluator.run(*eng.model, test, test_rows.data(), static_cast<int64_t>(test_rows.size()));
      val = validator.run(*eng.model, evaluator, eng.data);
    }
    double wall = wall_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MetricsRow row = {
        {"round", round},
        {"method", eng.fl.method},
        {"test_acc", ev.acc()},
        {"test_loss", ev.loss()},
        {"val_acc", val.all.acc()},
        {"val_loss", val.all.loss()},
        {"client_acc_mean", val.client_acc_mean},
        {"client_acc_p10", val.client_acc_p10},
        {"expert_load_cv", val.expert_load_cv},
        {"train_loss", steps > 0 ? loss_sum / steps : NAN},
        {"virtual_time_s", vclock},
        {"round_virtual_s", round_s},
        {"wall_time_s", wall},
        {"bytes_up", bytes.up},
        {"bytes_down", bytes.down},
        {"dense_bytes_equiv", bytes.dense_equiv},
        {"client_bytes_up", static_cast<int64_t>(client_up)},
        {"client_dense_bytes_up", static_cast<int64_t>(ok * eng.cost->model_bytes)},
        {"clients_sampled", static_cast<int64_t>(plan.sampled)},
        {"clients_dropped", static_cast<int64_t>(plan.offline + plan.late)},
        {"clients_ok", static_cast<int64_t>(ok)},
        {"clients_failed", static_cast<int64_t>(failed)},
        {"experts_trained_mean", ok > 0 ? experts / ok : 0.0},
        {"experts_changed", static_cast<int64_t>(changes.experts)},
        {"client_mem_peak_gb", mem_peak / kBytesPerGB},
        {"clients_over_memory", static_cast<int64_t>(over_memory)},
    };
    const double cpu_now = process_cpu_s();
    for (auto& column : usage_columns(usage, cpu_now - cpu_at_row, waits)) row.push_back(column);
    cpu_at_row = cpu_now;
    waits = WaitTally{};
    metrics.append(row);
    experts_csv.append(round, eng.update, eng.clients.profiles);
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double eta = elapsed / static_cast<double>(round - start) * static_cast<double>(eng.fl.rounds - round);
    std::string acc = std::isfinite(ev.acc()) ? strf("val %.4f test %.4f", val.all.acc(), ev.acc()) : std::string("acc -");
    LOG_INFO("round %lld/%d  elapsed %s  ETA %s  %s  loss %.4f  ok %d/%zu failed %d  vtime %.1fs  up %s",
             static_cast<long long>(round), eng.fl.rounds, human_duration(elapsed).c_str(), human_duration(eta).c_str(),
             acc.c_str(), steps > 0 ? loss_sum / steps : NAN, ok, plan.slots.size(), failed, vclock,
             human_bytes(static_cast<double>(bytes.up)).c_str());

    // 6. checkpoint (on schedule, at the end, or when a stop signal arrived on any rank)
    await_executors(arrival++, deadline, round, "come back from the exchange", waits);
    watched(deadline, round, "the stop vote", [&] { stopped = stop_agreed(); });
    if (stopped && round < eng.fl.rounds)
      LOG_WARN("a stop signal (SIGTERM or SIGUSR1) reached a rank: checkpointing round %lld, then exit %d",
               static_cast<long long>(round), kExitRequeue);
    bool last = round == eng.fl.rounds;
    if (stopped || last || (eng.run.ckpt_every > 0 && round % eng.run.ckpt_every == 0)) checkpoint(round);
  }
  RoundPlan done;
  done.stop = true;
  await_executors(arrival++, deadline, round, "come back for the plan", waits);
  eng.exchange->broadcast_plan(done);
  log_peak_rss();
  if (stopped && round < eng.fl.rounds) {
    LOG_WARN("stopped by a signal after round %lld; the checkpoint resumes it (exit %d)", static_cast<long long>(round),
             kExitRequeue);
    return kExitRequeue;
  }
  std::string s = summary(eng, metrics.rows());
  write_file_atomic(eng.dir.file("summary.txt"), s);
  std::fputs(s.c_str(), stdout);
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace hf
