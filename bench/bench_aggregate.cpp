// Server-side aggregation throughput (issue 4): the exact fixed-point sums of client updates
// (fl/update.h), the exchange's pack/unpack (fl/exchange.h) and the server's apply
// (fl/aggregate.h, Eq. 17-21), for a model preset over a range of touched-expert fractions.
//
//   bench_aggregate [--preset small|tiny|base] [--clients C] [--reps N] [--exchange auto|mpi|nccl]
//                   [--chunk-mb M] [--max-fraction F] [--experts E]
//
// --chunk-mb is fl.exchange_chunk_mb (the packed buffer's chunks, fl/exchange.h); --max-fraction
// stops the table at that touched fraction (a `base` round at full density needs the time and
// memory of 8 clients' accumulate over 620M parameters); --experts E scales the preset's experts
// (`--preset base --experts 128`: the 4x model, 2.4 B parameters). At the end every rank's peak
// RSS is printed: what its role holds in a run (one fp32 model; on executors also a client's
// copy and the int64 sums of the experts it touched; none on rank 0 under mpiexec: it applies
// the reduced chunks as they arrive) plus the exchange's chunks.
//
// --exchange picks the transport as fl.exchange does (mpi/exchange_path.h); under mpiexec with
// one GPU per executor, `--exchange mpi` and `--exchange nccl` time the same payload both ways.
//
// Round shape: C clients each train the same fraction f of every layer's experts (experts
// e < f*E), so f*L*E expert blocks are touched in the round. Timed, median of --reps:
//   accumulate  C x (for every touched expert: expert_w += q(w); sum += q(w * (E(c) - E)))
//               = the executor-side fixed-point sum of C clients' expert blocks
//               (fl/fixed_point_sum.h: vectorised, on the OpenMP threads)
//   axpy        the same C passes as a plain fp32 axpy, y += w * E(c), on the same threads and
//               chunks: what the memory streams at, measured in the same run for comparison
//   pack        Exchange::reduce_update: mask agreement, pack of the int64 buffer (slot stats,
//               class counts, routers, dense, touched experts), and rank 0's apply of every
//               chunk as it arrives; in one process no bytes move, under mpiexec -np 1+R the
//               MPI_Reduce(SUM) to rank 0 is included (every rank then runs the whole
//               benchmark; rank 0 prints)
//   bcast       Exchange::broadcast_changes of the touched experts (rank 0 -> executors)
//   apply       ServerAggregator::apply of the expert blocks alone from sums held in memory
//               (Eq. 17: delta = sum / w, w += server_lr * delta; routers and dense weighted 0 so
//               they are skipped): the work rank 0 does inside pack, timed alone
//   dense       the per-client accumulate and the apply of routers + dense tensors (f-independent)
// GB/s (10^9 bytes per second) counts the fp32 bytes of the parameters reduced: for accumulate
// and axpy C * f*L*E * PE * 4 (each client's expert blocks), for apply f*L*E * PE * 4 (the global blocks
// updated), for dense C * (L*PR + PD) * 4 and (L*PR + PD) * 4; for pack the int64 buffer's bytes.
// Memory traffic is larger: accumulate reads 4 + 4 bytes (client, global) and reads and writes
// 8 (int64 sum) per element, 24 bytes per 4 counted; axpy reads 4 + 4 and writes 4, 12 per 4
// counted. So where both stream from memory, accumulate can reach at most half of axpy's GB/s
// (acc/axpy = 0.5); the traffic columns (traffic = 6x and 3x the counted bytes) show how close
// each comes to the memory's rate.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cli/backend.h"
#include "cli/options.h"
#include "fl/aggregate.h"
#include "fl/fixed_point.h"
#include "fl/update.h"
#include "fl/exchange.h"
#include "mpi/gpu_pinning.h"
#include "mpi/rank_usage.h"
#include "mpi/runtime.h"
#include "ops/cpu_parallel.h"
#include "util/check.h"
#include "bench_util.h"

namespace hf {
namespace {

using namespace bench;

template <typename... A>
void say(const char* fmt, A... a) {
  if (is_server()) std::printf(fmt, a...);
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Args {
  std::string preset = "small";
  int clients = 8, reps = 3;
  std::string exchange = "mpi";
  int chunk_mb = 64;
  double max_fraction = 1;
  int experts = 0;  // > 0: the preset with this many experts per layer (e.g. 4x base's 32)
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i++) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(k + " needs a value", "e.g. bench_aggregate --preset small --clients 8 --reps 3");
      return argv[++i];
    };
    if (k == "--preset") a.preset = value();
    else if (k == "--clients") a.clients = std::atoi(value().c_str());
    else if (k == "--reps") a.reps = std::atoi(value().c_str());
    else if (k == "--exchange") a.exchange = value();
    else if (k == "--chunk-mb") a.chunk_mb = std::atoi(value().c_str());
    else if (k == "--max-fraction") a.max_fraction = std::atof(value().c_str());
    else if (k == "--experts") a.experts = std::atoi(value().c_str());
    else fail("unknown option " + k, "bench_aggregate [--preset small|tiny|base] [--clients C] [--reps N] "
              "[--exchange auto|mpi|nccl] [--chunk-mb M] [--max-fraction F] [--experts E]");
  }
  if (a.experts < 0) fail("--experts must be positive (or 0: the preset's)", "e.g. --preset base --experts 128");
  if (a.clients < 1 || a.reps < 1 || a.chunk_mb < 1) fail("--clients, --reps and --chunk-mb must be positive", "e.g. --clients 8 --reps 3 --chunk-mb 64");
  if (!(a.max_fraction > 0 && a.max_fraction <= 1)) fail("--max-fraction must be in (0, 1]", "e.g. --max-fraction 0.25");
  check_choice("--exchange", a.exchange, {"auto", "mpi", "nccl"});
  return a;
}

// y[r] += a * x[r] on the accumulate's threads and chunks (fl/fixed_point_sum.cpp).
void axpy(float a, const float* x, float* y, Range r) {
  parallel_chunks(r.size(), kMinParallelWork, [&](size_t begin, size_t end) {
    for (size_t i = r.begin + begin; i < r.begin + end; i++) y[i] += a * x[i];
  });
}

}  // namespace
}  // namespace hf

namespace hf {
namespace {

void run_benchmark(int argc, char** argv) {
  Args args = parse(argc, argv);
  ModelConfig cfg = model_preset(args.preset);
  cfg.n_classes = 2;
  if (args.experts > 0) cfg.n_experts = args.experts;
  ParamTable table(cfg);
  const int L = cfg.moe_layers(), E = cfg.n_experts, C = args.clients;
  RoundUpdate u;
  u.init(table, Task::classify, C, 3);
  const int device = pin_this_rank(cuda_device_count(), false).device;
  Exchange exchange(u, C, args.exchange, device, static_cast<size_t>(args.chunk_mb) << 20);
  FlOptions fl;
  ServerAggregator agg(table, fl, false);
  // Each rank holds what its role holds in a run: one fp32 model (the server's global, which it
  // applies to; an executor's global, which its clients start from and the broadcast updates;
  // here also the axpy's target) and, on executors, one client's trained copy and the sums of the
  // touched experts. Under mpiexec rank 0 plays the server alone: no client, no sums.
  const bool server_only = world_size() > 1 && is_server();
  auto client_value = [](size_t i) { return 0.5f + 1e-3f * static_cast<float>(i % 97); };
  std::vector<float> model(table.total(), 0.5f), client;
  if (!server_only) {
    client.resize(table.total());
    for (size_t i = 0; i < client.size(); i++) client[i] = client_value(i);
  }
  auto reset_model = [&] { std::fill(model.begin(), model.end(), 0.5f); };
  const size_t PE = u.PE, dense_router = static_cast<size_t>(L) * u.PR + u.PD;
  const int executors = world_size() > 1 ? world_size() - 1 : 1;

  say("bench_aggregate: preset %s (L=%d, E=%d, PE=%zu floats per expert block, %zu parameters), %d clients, "
      "median of %d, %d MPI rank(s)%s\n", args.preset.c_str(), L, E, PE, table.total(), C, args.reps, world_size(),
      world_size() > 1 ? " (pack includes the MPI_Reduce to rank 0)" : " (pack: no MPI traffic)");
  say("machine: %s, %d cores online, load average %s (1/5/15 min) at start\n", cpu_model().c_str(),
              static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)), load_average().c_str());
  say("GB/s = 10^9 fp32 bytes of parameters reduced per second (pack: int64 buffer bytes); see the header\n\n");
  say("%9s %8s | %12s %9s %9s %9s %9s %8s | %12s %12s %9s | %12s %9s | %12s %9s\n", "fraction", "experts",
      "accumulate_s", "GB/s", "traffic", "axpy_GB/s", "traffic", "acc/axpy", "pack_MB", "pack_s", "GB/s", "apply_s",
      "GB/s", "bcast_s", "GB/s");

  // A run's executor takes its sum blocks from the pool once and reuses them round after round
  // (fl/update.h); first use costs the page faults of fresh memory, which the timed rounds below
  // would otherwise count. Touch the most blocks the table will use, untimed.
  const int max_per_layer = std::min(E, static_cast<int>(args.max_fraction * E));
  if (!server_only)
    for (int l = 0; l < L; l++)
      for (int e = 0; e < max_per_layer; e++) u.expert(l, e);
  for (int per_layer : {1, 2, 4, 8, 16, 32, 64, 128}) {
    if (per_layer > max_per_layer) break;
    const int touched = per_layer * L;
    const double f = static_cast<double>(per_layer) / E;
    std::vector<double> t_acc, t_axpy, t_pack, t_apply, t_bcast;
    size_t packed_bytes = 0;
    for (int rep = 0; rep < args.reps && !server_only; rep++) {
      u.clear(C);
      reset_model();
      auto t0 = clk::now();
      for (int c = 0; c < C; c++) {
        double w = 1.0 / (c + 1);
        for (int l = 0; l < L; l++)
          for (int e = 0; e < per_layer; e++) {
            int i = l * E + e;
            u.touched[i] = 1;
            u.expert_w[i] += to_fixed(w);
            RoundUpdate::add_weighted_delta(u.expert(l, e), w, client.data(), model.data(), table.expert_block(l, e));
          }
        u.stats[c].status = kSlotOk;
      }
      t_acc.push_back(seconds_since(t0));
      reset_model();
      t0 = clk::now();
      for (int c = 0; c < C; c++) {
        float w = 1.0f / static_cast<float>(c + 1);
        for (int l = 0; l < L; l++)
          for (int e = 0; e < per_layer; e++) axpy(w, client.data(), model.data(), table.expert_block(l, e));
      }
      t_axpy.push_back(seconds_since(t0));
    }
    // rank 0 prints the executors' accumulate and axpy (rank 1's under mpiexec: the largest)
    double executor_s[2] = {server_only ? 0 : median(t_acc), server_only ? 0 : median(t_axpy)};
    MPI_Allreduce(MPI_IN_PLACE, executor_s, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    for (int rep = 0; rep < args.reps; rep++) {
      if (server_only) u.clear(C);  // the plan's slots, known to every rank; no sums
      reset_model();
      auto t0 = clk::now();
      exchange.reduce_update(u, is_server() ? &agg : nullptr, model.data());
      t_pack.push_back(seconds_since(t0));
      packed_bytes = static_cast<size_t>(exchange.take_bytes().up / executors) - 2 * static_cast<size_t>(L) * E;
      // Verify, not only time: every client moved expert (0, 0) by the same delta, so its weighted
      // mean is that delta and the global block moves by server_lr times it.
      size_t at = table.expert_block(0, 0).begin;
      double want = 0.5 + fl.server_lr * (static_cast<double>(client_value(at)) - 0.5);
      if (is_server()) HF_CHECK(std::fabs(model[at] - want) < 1e-6, "apply gave %g, expected %g", model[at], want);
      Changes ch = agg.changes(u);
      HF_CHECK(ch.experts == touched, "applied %d experts, expected %d", ch.experts, touched);
      t0 = clk::now();
      exchange.broadcast_changes(u, ch, model.data(), table);
      t_bcast.push_back(seconds_since(t0));
      exchange.take_bytes();
      t0 = clk::now();
      agg.apply(u, model.data(), ch);
      t_apply.push_back(seconds_since(t0));
    }
    double expert_bytes = static_cast<double>(touched) * PE * 4;
    double acc = executor_s[0], axpy_s = executor_s[1], pack = median(t_pack), apply = median(t_apply), bcast = median(t_bcast);
    const double acc_gbs = C * expert_bytes / acc / 1e9, axpy_gbs = C * expert_bytes / axpy_s / 1e9;
    say("%9.4f %8d | %12.4f %9.2f %9.2f %9.2f %9.2f %8.2f | %12.1f %12.4f %9.2f | %12.4f %9.2f | %12.4f %9.2f\n", f,
        touched, acc, acc_gbs, 6 * acc_gbs, axpy_gbs, 3 * axpy_gbs, acc_gbs / axpy_gbs, packed_bytes / 1e6, pack,
        packed_bytes / pack / 1e9, apply, expert_bytes / apply / 1e9, bcast, expert_bytes / bcast / 1e9);
  }

  // Routers + dense: the same for every fraction.
  std::vector<double> t_acc, t_apply;
  for (int rep = 0; rep < args.reps; rep++) {
    u.clear(C);
    reset_model();
    auto t0 = clk::now();
    for (int c = 0; c < C && !server_only; c++) {
      double w = 1.0 / (c + 1);
      for (int l = 0; l < L; l++) {
        u.router_w[l] += to_fixed(w);
        RoundUpdate::add_weighted_delta(u.router(l), w, client.data(), model.data(), table.router(l));
      }
      u.dense_w += to_fixed(w);
      int64_t* sum = u.dense_sum.data();
      for (const Range& r : u.dense) {
        RoundUpdate::add_weighted_delta(sum, w, client.data(), model.data(), r);
        sum += r.size();
      }
    }
    t_acc.push_back(seconds_since(t0));
    if (server_only) {  // the weights the reduce would deliver, over zero sums: the same work
      std::fill(u.router_w.begin(), u.router_w.end(), to_fixed(1.0));
      u.dense_w = to_fixed(1.0);
    }
    reset_model();
    Changes ch;
    t0 = clk::now();
    agg.apply(u, model.data(), ch);
    t_apply.push_back(seconds_since(t0));
  }
  double acc_s = server_only ? 0 : median(t_acc);
  MPI_Allreduce(MPI_IN_PLACE, &acc_s, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  double bytes = static_cast<double>(dense_router) * 4;
  say("\nrouters + dense (%zu floats): accumulate %.4f s (%.2f GB/s over %d clients), apply %.4f s (%.2f GB/s)\n",
              dense_router, acc_s, C * bytes / acc_s / 1e9, C, median(t_apply),
              bytes / median(t_apply) / 1e9);
  say("load average %s at the end\n", load_average().c_str());
  const std::vector<RankUsage> ranks = gather_rank_usage({peak_rss_mb(), 0});
  for (size_t r = 0; r < ranks.size(); r++)
    say("peak RSS rank %zu: %.0f MB (chunks of %d MiB)\n", r, ranks[r].peak_rss_mb, args.chunk_mb);
}

}  // namespace
}  // namespace hf

int main(int argc, char** argv) {
  return hf::mpi_main(argc, argv, [](int argc_mpi, char** argv_mpi) {
    hf::run_benchmark(argc_mpi, argv_mpi);
    return 0;
  });
}
