#include "fl/fl_options.h"

#include <charconv>
#include <cmath>
#include <utility>
#include <vector>

#include "fl/method.h"

namespace hf {
namespace {

// "auto" (-1) or a number in [lo, hi]; `what` says what auto means and what a number is.
double parse_auto_or_number(const std::string& key, const std::string& text, double lo, double hi, const std::string& what) {
  if (text == "auto") return -1;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
    fail(key + "=" + text + " is neither auto nor a number", "use " + what);
  check_range(key, v, lo, hi);
  return v;
}

}  // namespace

void add_adapter_options(Options& o, TrainOptions& train) {
  o.add("train.adapter", &train.adapter, "none (train every weight) or lora (adapters over a frozen base)")
      .add("train.lora_rank", &train.lora_rank, "rank r of each LoRA adapter")
      .add("train.lora_alpha", &train.lora_alpha, "LoRA alpha: the adapter's branch is scaled by alpha / r")
      .add("train.lora_targets", &train.lora_targets,
           "linear layers that get adapters: any of w1,w2,w3 (experts), wq,wk,wv,wo (attention)")
      .add("train.base_dtype", &train.base_dtype, "storage of the frozen base with adapters: fp32, bf16, int8 or nf4");
}

void add_fl_options(Options& o, FlOptions& fl, DataOptions& data, TrainOptions& train) {
  std::string methods;
  for (const std::string& name : method_names()) methods += (methods.empty() ? "" : ", ") + name;
  o.add("fl.method", &fl.method, "the federated method: " + methods)
      .add("fl.rounds", &fl.rounds, "federated rounds")
      .add("fl.clients", &fl.clients, "N clients; 0 = the dataset partition's client count")
      .add("fl.clients_per_round", &fl.clients_per_round, "K clients kept per round")
      .add("fl.overcommit", &fl.overcommit, "sample ceil(K*(1+overcommit)) and keep the first K to finish (virtual time)")
      .add("fl.deadline_s", &fl.deadline_s, "virtual seconds a client may take; slower ones are dropped (0 = none)")
      .add("fl.eval_every", &fl.eval_every, "evaluate on the test split every N rounds (and after the last)")
      .add("fl.eval_rows", &fl.eval_rows, "test rows per evaluation, spread evenly over the split; 0 = all")
      .add("fl.eval_last", &fl.eval_last, "headline figures: mean over the last this many evaluations")
      .add("fl.val_fraction", &fl.val_fraction,
           "share of each client's rows held out (seeded) for validation: 'best' and learning-rate choice use it")
      .add("fl.target_acc", &fl.target_acc, "report rounds and virtual time to this test accuracy (0 = off)")
      .add("fl.lambda", &fl.lambda, "Eq. 3-5: weight of the mean (vs the max) gate probability in s(e)")
      .add("fl.tau", &fl.tau, "Eq. 17-21: usage threshold for keeping an expert in aggregation; auto = 1/(2E)")
      .add("fl.budget_mode", &fl.budget_mode, "mask: route as usual and update only the selected experts; strict: route among them too")
      .add("fl.budget_scope", &fl.budget_scope,
           "layer: C_budget experts in every layer; model: C_budget * L experts placed over all layers by the method's order")
      .add("fl.reselect", &fl.reselect,
           "round: a selecting method (hfedmoe, random_moe) keeps its first step's experts all round; batch: it chooses every step")
      .add("fl.server_opt", &fl.server_opt, "fedavg (step server_lr along the average update) or fedadam")
      .add("fl.server_lr", &fl.server_lr, "server step size (1 with fedavg = plain averaging)")
      .add("fl.profiles", &fl.profiles, "device profile CSV (jobs/profiles/*.csv)")
      .add("fl.budget", &fl.budget, "> 0: every client trains at most this many experts per layer (overrides the profiles)")
      .add("fl.throttle", &fl.throttle, "none, or sleep so measured step time matches the device profile")
      .add("fl.memory_check", &fl.memory_check,
           "enforce: a step must fit the profile's memory_gb (hfedmoe and random_moe drop experts by their own order "
           "until it does, other methods fail the client; fedavg_unbounded is exempt); report: only count it")
      .add("fl.exchange", &fl.exchange, "auto (NCCL when every executor has its own GPU, else MPI), mpi or nccl")
      .add("fl.exchange_chunk_mb", &fl.exchange_chunk_mb,
           "MiB of the chunks the executors' int64 sums are packed and reduced in (two per rank at a time: the "
           "reduce of one overlaps packing the next) and the changed parameters broadcast in; any size gives the "
           "same bits")
      .add("fl.round_timeout_s", &fl.round_timeout_s,
           "hang watchdog: the server stops the job, naming the silent rank, when an executor has not finished its "
           "clients this many wall seconds after the plan; auto = max(600, 10x the busiest executor's planned "
           "FLOPs at 1 GFLOP/s), 0 = off")
      .add("data.path", &data.path, "dataset written by `hfedmoe prepare`")
      .add("train.local_steps", &train.local_steps, "local optimizer steps per client and round")
      .add("train.local_epochs", &train.local_epochs, "> 0: local epochs instead of local_steps")
      .add("train.batch_size", &train.batch_size, "sequences per local step")
      .add("train.lr", &train.lr, "client AdamW learning rate")
      .add("train.weight_decay", &train.weight_decay, "client AdamW weight decay")
      .add("train.grad_clip", &train.grad_clip, "global-norm gradient clip over the trained parameters (0 = off)")
      .add("train.init", &train.init, "checkpoint whose model starts the run (e.g. a pretrain checkpoint)")
      .add("train.init_hf", &train.init_hf,
           "Hugging Face model folder (config.json + safetensors) whose architecture and weights start the run");
  add_adapter_options(o, train);
  for (const MethodInfo& m : method_registry())
    if (m.add_options) m.add_options(o, fl);
}

void validate_fl_options(FlOptions& fl, const DataOptions& data, const TrainOptions& train) {
  check_choice("fl.method", fl.method, method_names());
  check_range("fl.rounds", fl.rounds, 1, 1 << 24);
  check_range("fl.clients", fl.clients, 0, 1 << 24);
  check_range("fl.clients_per_round", fl.clients_per_round, 1, 1 << 20);
  check_range("fl.overcommit", fl.overcommit, 0.0, 10.0);
  check_range("fl.deadline_s", fl.deadline_s, 0.0, 1e12);
  check_range("fl.eval_every", fl.eval_every, 1, 1 << 24);
  check_range("fl.eval_rows", fl.eval_rows, 0, 1 << 30);
  check_range("fl.target_acc", fl.target_acc, 0.0, 1.0);
  check_range("fl.lambda", fl.lambda, 0.0f, 1.0f);
  check_range("fl.eval_last", fl.eval_last, 1, 1 << 20);
  check_range("fl.val_fraction", fl.val_fraction, 0.0, 0.5);
  fl.tau_value = static_cast<float>(parse_auto_or_number("fl.tau", fl.tau, 0, 1, "auto (1/(2E)) or a usage threshold in [0, 1]"));
  fl.round_timeout_v = parse_auto_or_number("fl.round_timeout_s", fl.round_timeout_s, 0, 1e9,
                                            "auto (from the round's plan), a number of seconds, or 0 (no watchdog)");
  fl.budget_mode_v = parse_choice<BudgetMode>("fl.budget_mode", fl.budget_mode, {{"mask", BudgetMode::mask}, {"strict", BudgetMode::strict}});
  fl.budget_scope_v = parse_choice<BudgetScope>("fl.budget_scope", fl.budget_scope, {{"layer", BudgetScope::layer}, {"model", BudgetScope::model}});
  fl.reselect_v = parse_choice<Reselect>("fl.reselect", fl.reselect, {{"round", Reselect::round}, {"batch", Reselect::batch}});
  fl.server_opt_v = parse_choice<ServerOpt>("fl.server_opt", fl.server_opt, {{"fedavg", ServerOpt::fedavg}, {"fedadam", ServerOpt::fedadam}});
  check_range("fl.server_lr", fl.server_lr, 1e-6f, 100.0f);
  check_range("fl.budget", fl.budget, 0, 1 << 16);
  fl.throttle_v = parse_choice<Throttle>("fl.throttle", fl.throttle, {{"none", Throttle::none}, {"sleep", Throttle::sleep}});
  fl.memory_check_v = parse_choice<MemoryCheck>("fl.memory_check", fl.memory_check, {{"enforce", MemoryCheck::enforce}, {"report", MemoryCheck::report}});
  check_choice("fl.exchange", fl.exchange, {"auto", "mpi", "nccl"});
  check_range("fl.exchange_chunk_mb", fl.exchange_chunk_mb, 1, 1 << 20);
  for (const MethodInfo& m : method_registry())
    if (m.check_options) m.check_options(fl);
  if (data.path.empty()) fail("data.path is not set", "pass --data.path FILE (a dataset written by `hfedmoe prepare`)");
  check_range("train.local_steps", train.local_steps, 1, 1 << 20);
  check_range("train.local_epochs", train.local_epochs, 0, 1 << 10);
  check_range("train.batch_size", train.batch_size, 1, 1 << 16);
  check_range("train.lr", train.lr, 0.0f, 10.0f);
  check_range("train.weight_decay", train.weight_decay, 0.0f, 10.0f);
  check_range("train.grad_clip", train.grad_clip, 0.0f, 1e6f);
  check_choice("train.adapter", train.adapter, {"none", "lora"});
  check_choice("train.base_dtype", train.base_dtype, {"fp32", "bf16", "int8", "nf4"});
}

LoraConfig lora_options(const Options& o, const TrainOptions& train) {
  LoraConfig lora;
  if (train.adapter != "lora") {
    for (const char* key : {"train.lora_rank", "train.lora_alpha", "train.lora_targets", "train.base_dtype"})
      if (o.was_set(key))
        fail(strf("%s is set but train.adapter=%s", key, train.adapter.c_str()),
             strf("set train.adapter=lora, or drop %s", key));
    return lora;
  }
  if (train.lora_rank <= 0)
    fail(strf("train.lora_rank=%d must be positive", train.lora_rank), "use a rank of 1 or more, e.g. 8");
  lora.rank = train.lora_rank;
  lora.alpha = train.lora_alpha;
  lora.targets = parse_lora_targets(train.lora_targets);
  lora.base_dtype = parse_choice<BaseDtype>("train.base_dtype", train.base_dtype,
                                            {{"fp32", BaseDtype::fp32}, {"bf16", BaseDtype::bf16},
                                             {"int8", BaseDtype::int8}, {"nf4", BaseDtype::nf4}});
  return lora;
}

}  // namespace hf
