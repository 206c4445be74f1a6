// hfedmoe pretrain: causal-LM training of the MoE model on one process, from an HDF5 dataset
// (its train rows; its test rows for evaluation) or a plain text file (byte tokens cut into
// rows of model.seq_len; the last rows held out as the test split), read by data/pretrain_corpus.h.
//
// Determinism: the batch of step s is drawn from Rng(seed, pretrain, 0, 0, s), the learning
// rate is a function of s, and checkpoints hold the AdamW moments and step counts and the
// running train-loss sum, so a run stopped and resumed at any checkpoint ends bit-identical
// to one that never stopped. The CPU backend gives the same bits for any thread count
// (checked with 1 and 2), so run.threads may change on resume.
// Stop: SIGTERM/SIGUSR1 finish the current step, write a checkpoint, exit 75 (util/signals.h).
// Router specialisation (model/routing_stats.h) is measured on every evaluation (metrics
// columns routing_*_l<layer>) and reported for the final model: printed and written to
// <run>/routing.txt.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>

#include "cli/common_options.h"
#include "cli/run_dir.h"
#include "commands/commands.h"
#include "data/pretrain_corpus.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "io/metrics.h"
#include "model/adamw.h"
#include "model/batch.h"
#include "model/evaluate.h"
#include "model/model.h"
#include "model/routing_stats.h"
#include "mpi/runtime.h"
#include "ops/ops.h"
#include "util/human.h"
#include "util/log.h"
#include "util/rng.h"
#include "util/signals.h"

namespace hf {
namespace {

struct PretrainOptions {
  std::string data;  // HDF5 dataset or text file
  int steps = 1000;
  int batch_size = 8;
  float lr = 1e-3f;
  float min_lr = 1e-4f;
  int warmup = 50;
  float weight_decay = 0.0f;
  float grad_clip = 1.0f;
  int eval_every = 100;
  int eval_rows = 0;
  int log_every = 10;
  double test_fraction = 0.1;
};

void add_pretrain_options(Options& o, PretrainOptions& p) {
  o.add("data.path", &p.data, "an HDF5 dataset from `hfedmoe prepare` (train rows) or a plain text file")
      .add("pretrain.steps", &p.steps, "optimizer steps in all (a resumed run continues to this count)")
      .add("pretrain.batch_size", &p.batch_size, "rows per step")
      .add("pretrain.lr", &p.lr, "peak learning rate (AdamW)")
      .add("pretrain.min_lr", &p.min_lr, "learning rate at the end of the cosine decay")
      .add("pretrain.warmup", &p.warmup, "steps of linear warm-up")
      .add("pretrain.weight_decay", &p.weight_decay, "AdamW decoupled weight decay (every tensor)")
      .add("pretrain.grad_clip", &p.grad_clip, "global gradient-norm clip; 0 = off")
      .add("pretrain.eval_every", &p.eval_every, "evaluate on the test split every N steps (and at step 0 and the end); 0 = only at the end")
      .add("pretrain.eval_rows", &p.eval_rows, "test rows evaluated, spread evenly over the test split; 0 = all")
      .add("pretrain.log_every", &p.log_every, "print progress and append a metrics row every N steps")
      .add("pretrain.test_fraction", &p.test_fraction, "text input: share of rows held out as the test split");
}

void validate(const PretrainOptions& p) {
  if (p.data.empty()) fail("data.path is not set", "pass --data.path FILE (an HDF5 dataset or a text file)");
  check_range("pretrain.steps", p.steps, 1, 1 << 30);
  check_range("pretrain.batch_size", p.batch_size, 1, 1 << 16);
  check_range("pretrain.lr", p.lr, 0.0f, 10.0f);
  check_range("pretrain.min_lr", p.min_lr, 0.0f, p.lr);
  check_range("pretrain.warmup", p.warmup, 0, 1 << 30);
  check_range("pretrain.weight_decay", p.weight_decay, 0.0f, 10.0f);
  check_range("pretrain.grad_clip", p.grad_clip, 0.0f, 1e6f);
  check_range("pretrain.eval_every", p.eval_every, 0, 1 << 30);
  check_range("pretrain.eval_rows", p.eval_rows, 0, 1 << 30);
  check_range("pretrain.log_every", p.log_every, 1, 1 << 30);
  check_range("pretrain.test_fraction", p.test_fraction, 0.0, 0.5);
}

// Batch buffers, sized once: tokens and targets (B, T), row ids (B).
struct BatchBuf {
  std::vector<int32_t> tokens, targets;
  std::vector<int64_t> rows;
  BatchBuf(int B, int T) : tokens(static_cast<size_t>(B) * T), targets(static_cast<size_t>(B) * T), rows(B) {}
  Batch fill(const Split& s, int B) {
    fill_batch(s, rows.data(), B, Task::lm, tokens.data(), targets.data(), nullptr);
    return Batch{tokens.data(), targets.data(), nullptr, B, s.T, s.pad};
  }
};

}  // namespace

int cmd_pretrain(int argc, char** argv) {
  Options o("pretrain", "causal-LM pretraining of the MoE model on an HDF5 dataset or a text file (one process)");
  RunOptions run;
  ModelOptions model_opt;
  PretrainOptions p;
  add_run_options(o, run);
  model_opt.add(o);
  add_pretrain_options(o, p);
  ModelConfig cfg;
  std::string config_ini;
  bool go = false;
  collectively([&] {
    go = o.parse(argc, argv, is_server());
    if (!go) return;
    validate_run_options(run);
    validate(p);
    cfg = model_opt.resolve(o);
    config_ini = o.resolved_ini();
    if (world_size() > 1)
      fail(strf("pretrain runs on one process, not %d", world_size()), "run it without mpirun (or with -np 1)");
  });
  if (!go) return kExitOk;
  apply_run_options(run);
  install_stop_handlers();

  // Every check before the run directory: a refused run (no device, no corpus, a checkpoint of
  // another run) leaves nothing behind. Keys that may differ from the stored configuration when
  // resuming: none of them changes a result.
  Backend backend = open_backend(run);
  PretrainCorpus corpus = load_pretrain_corpus(p.data, cfg, p.test_fraction);
  RunDir rd = open_run_dir(run, config_ini,
                           {"pretrain", "pretrain.steps",
                            {"run.log_level", "run.ckpt_every", "run.ckpt_keep", "run.resume", "run.threads",
                             "pretrain.eval_every", "pretrain.eval_rows", "pretrain.log_every"}});
  LOG_INFO("%s", corpus.what.c_str());
  const int B = p.batch_size, T = corpus.train.T;
  Ops& ops = *backend.ops;
  Model model(cfg, Task::lm, ops, B, T);
  const ParamTable& table = model.table();
  const size_t P = table.total();
  AdamWConfig acfg;
  acfg.weight_decay = p.weight_decay;
  AdamW opt(table, ops, acfg);
  LrSchedule sched{p.lr, p.min_lr, p.warmup, p.steps};
  const std::vector<Range> all = {{0, P}};
  MetricsLog metrics;
  double loss_sum = 0;  // train loss summed since the last metrics row, and its step count
  int64_t loss_steps = 0, tokens_seen = 0;

  int64_t step = 0;
  const std::string& from = rd.resume;  // checked against this run by open_run_dir
  if (from.empty()) {
    model.init_weights(run.seed);
    metrics.open(rd.path, {});
  } else {
    Checkpoint ck = load_checkpoint(from, table);
    auto need = [&](bool ok, const char* what) {
      if (!ok) fail(from + ": /server/" + what + " is missing or has the wrong size", "resume from a checkpoint written by pretrain");
    };
    need(ck.server_f32["adam_m"].size() == P && ck.server_f32["adam_v"].size() == P, "adam_m/adam_v");
    need(ck.server_i64["adam_steps"].size() == opt.steps().size(), "adam_steps");
    need(ck.server_f64["loss_sum"].size() == 1 && ck.server_i64["counters"].size() == 2, "loss_sum/counters");
    model.load_params(ck.model.data());
    ops.upload(opt.m(), ck.server_f32["adam_m"].data(), P * sizeof(float));
    ops.upload(opt.v(), ck.server_f32["adam_v"].data(), P * sizeof(float));
    opt.steps() = ck.server_i64["adam_steps"];
    loss_sum = ck.server_f64["loss_sum"][0];
    loss_steps = ck.server_i64["counters"][0];
    tokens_seen = ck.server_i64["counters"][1];
    step = ck.round;
    metrics.open(rd.path, ck.metrics);
    LOG_INFO("resumed from %s at step %lld", from.c_str(), static_cast<long long>(step));
  }

  auto save = [&] {
    Checkpoint ck;
    ck.kind = "pretrain";
    ck.round = step;
    ck.seed = run.seed;
    ck.method = "pretrain";
    ck.config_ini = config_ini;
    const float* params = model.params_on_host();
    ck.model.assign(params, params + P);
    for (auto [name, moment] : {std::pair{"adam_m", opt.m()}, std::pair{"adam_v", opt.v()}}) {
      std::vector<float>& host = ck.server_f32[name];
      host.resize(P);
      ops.download(host.data(), moment, P * sizeof(float));
    }
    ck.server_i64["adam_steps"] = opt.steps();
    ck.server_f64["loss_sum"] = {loss_sum};
    ck.server_i64["counters"] = {loss_steps, tokens_seen};
    ck.metrics = metrics.rows();
    return save_checkpoint(ck, table, rd.ckpt_dir(), run.ckpt_keep);
  };

  BatchBuf buf(B, T);
  Evaluator evaluator(B, T);
  // Evaluation rows: all, or eval_rows spread evenly over the test split (a prepared mix holds
  // its corpora one after the other, so its first rows would be one corpus only).
  const std::vector<int64_t> eval_rows = spread_rows(corpus.test.n, p.eval_rows > 0 ? p.eval_rows : corpus.test.n);
  double grad_norm = NAN;
  std::optional<RoutingStats> routing;  // of the last evaluation
  auto evaluate = [&] {
    routing.emplace(cfg.moe_layers(), cfg.n_experts);
    return evaluator.run(model, corpus.test, eval_rows.data(), static_cast<int64_t>(eval_rows.size()), &*routing);
  };
  auto add_row = [&](bool eval) {
    eval = eval && corpus.test.n > 0;
    EvalTally ev = eval ? evaluate() : EvalTally{};
    double train_loss = loss_steps ? loss_sum / loss_steps : NAN;
    MetricsRow row = {{"step", step},
                      {"tokens", tokens_seen},
                      {"train_loss", train_loss},
                      {"lr", step > 0 ? static_cast<double>(sched.at(step - 1)) : NAN},  // the rate of the last step
                      {"grad_norm", grad_norm},
                      {"test_loss", ev.loss()},
                      {"test_acc", ev.acc()}};
    for (int l = 0; l < cfg.moe_layers(); l++) {  // columns named by the model layer
      LayerRouting r = eval ? routing->layer(l) : LayerRouting{0, NAN, NAN, -1, NAN, NAN};
      const int at = cfg.model_layer(l);
      row.push_back({strf("routing_entropy_l%d", at), r.entropy});
      row.push_back({strf("routing_entropy_frac_l%d", at), r.entropy_frac});
      row.push_back({strf("routing_top_share_l%d", at), r.top_share});
      row.push_back({strf("routing_max_gate_l%d", at), r.max_gate});
    }
    metrics.append(row);
    loss_sum = 0;
    loss_steps = 0;
    return ev;
  };
  if (step == 0 && metrics.rows().empty()) {
    EvalTally ev = add_row(true);
    LOG_INFO("step 0/%d: test loss %.4f, test acc %.4f (the initial model)", p.steps, ev.loss(), ev.acc());
  }

  using clock = std::chrono::steady_clock;
  auto t_start = clock::now(), t_last = t_start;
  int64_t first_step = step, tokens_last = tokens_seen;
  while (step < p.steps) {
    Rng rng(run.seed, Purpose::pretrain, 0, 0, static_cast<uint64_t>(step));
    for (int b = 0; b < B; b++) buf.rows[b] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(corpus.train.n)));
    ForwardResult fr = model.forward(buf.fill(corpus.train, B));
    if (!std::isfinite(fr.loss))
      throw Error(strf("non-finite loss (%g) at step %lld; lower --pretrain.lr, raise --pretrain.warmup, or set "
                       "--pretrain.grad_clip; the last checkpoint is in %s",
                       fr.loss, static_cast<long long>(step + 1), rd.ckpt_dir().c_str()),
                  kExitRuntime, true);
    model.backward();
    grad_norm = opt.clip_grad_norm(model.grads(), all, p.grad_clip);
    opt.step(model.params(), model.grads(), all, sched.at(step));
    step++;
    loss_sum += fr.loss;
    loss_steps++;
    tokens_seen += fr.counted;

    bool eval = (p.eval_every > 0 && step % p.eval_every == 0) || step == p.steps;
    if (eval || step % p.log_every == 0) {
      double train_loss = loss_sum / loss_steps;
      EvalTally ev = add_row(eval);
      auto now = clock::now();
      double dt = std::chrono::duration<double>(now - t_last).count();
      double per_step = std::chrono::duration<double>(now - t_start).count() / static_cast<double>(step - first_step);
      std::string test = eval ? strf(" | test loss %.4f acc %.4f", ev.loss(), ev.acc()) : "";
      LOG_INFO("step %lld/%d | loss %.4f | lr %.2e | norm %.3f | %.0f tok/s | ETA %s%s", static_cast<long long>(step),
               p.steps, train_loss, sched.at(step - 1), grad_norm, (tokens_seen - tokens_last) / dt,
               human_duration(per_step * static_cast<double>(p.steps - step)).c_str(), test.c_str());
      t_last = now;
      tokens_last = tokens_seen;
    }
    bool stop = stop_requested() && step < p.steps;
    if ((run.ckpt_every > 0 && step % run.ckpt_every == 0) || step == p.steps || stop) {
      std::string path = save();
      LOG_INFO("checkpoint %s", path.c_str());
    }
    if (stop) {
      LOG_WARN("stopped by a signal at step %lld; rerun the same command to resume (exit %d)",
               static_cast<long long>(step), kExitRequeue);
      return kExitRequeue;
    }
  }
  if (first_step == p.steps) LOG_INFO("nothing to do: %s is already at step %d", from.c_str(), p.steps);
  if (corpus.test.n == 0) {
    LOG_WARN("no test rows: no routing report");
    return kExitOk;
  }
  if (first_step == p.steps) evaluate();  // the final evaluation ran in an earlier process
  std::string report = strf("# router specialisation of %s (step %d) over %lld test rows of %s\n", rd.path.c_str(),
                            p.steps, static_cast<long long>(eval_rows.size()), p.data.c_str()) +
                       routing->report();
  write_file_atomic(rd.file("routing.txt"), report);
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) LOG_INFO("%s", line.c_str());
  LOG_INFO("routing report written to %s", rd.file("routing.txt").c_str());
  return kExitOk;
}

}  // namespace hf
