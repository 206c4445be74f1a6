#pragma once
// Options of `hfedmoe train`: [fl] the federated protocol and the method, [data] the dataset,
// [train] the clients' local training. validate_fl_options() checks each value alone (ranges,
// choices) and parses the choices into enums once; checks that need the dataset or the model
// (clients, budgets) live in fl/clients.h.
#include <string>
#include <utility>
#include <vector>

#include "cli/options.h"
#include "model/config.h"

namespace hf {

enum class BudgetMode { mask, strict };      // mask: route as usual, update only A; strict: route among A too
enum class BudgetScope { layer, model };     // C_budget experts in every layer, or C_budget * L placed over the model
enum class Reselect { batch, round };        // a selecting method chooses A at every local step, or once per round
enum class MemoryCheck { report, enforce };  // enforce: a step that does not fit its device fails the client
enum class GateAgg { normalized, raw_sum };  // hfedmoe: alpha-weighted average, or Eq. 21 as printed
enum class ServerOpt { fedavg, fedadam };
enum class Throttle { none, sleep };         // sleep: stretch a step to the device profile's duration

struct FlOptions {
  std::string method = "hfedmoe";  // hfedmoe | fedavg | fedavg_unbounded | fedprox | random_moe | fedmoe
  int rounds = 20;
  int clients = 0;                  // n_clients; 0 = every client of the dataset's partition
  int clients_per_round = 10;       // per_round: clients kept per round
  double overcommit = 0;            // sample ceil(per_round * (1 + overcommit)), keep the first per_round to finish
  double deadline_s = 0;            // virtual seconds; 0 = no deadline
  int eval_every = 1;
  int eval_rows = 0;                // test rows evaluated; 0 = the whole test split
  int eval_last = 5;                // headline figures: mean over the last this many evaluations
  double val_fraction = 0.2;        // share of each client's rows held out for validation (seeded)
  double target_acc = 0;            // time-to-accuracy target; 0 = not reported
  float lambda = 0.5f;              // Eq. 3-5 mean/max mix (every method reports importance)
  std::string tau = "auto";         // Eq. 17-21 usage threshold; auto = 1/(2E), half the uniform usage
  std::string budget_mode = "mask";
  std::string budget_scope = "layer";
  std::string reselect = "round";
  std::string server_opt = "fedavg";    // fedavg | fedadam
  float server_lr = 1.0f;
  std::string profiles = "jobs/profiles/default.csv";
  int budget = 0;                   // > 0: every client's C_budget (overrides the profiles' memory)
  std::string throttle = "none";    // none | sleep: sleep so a step lasts as long as on the profile
  std::string memory_check = "enforce";
  std::string exchange = "auto";    // auto | mpi | nccl: how the round's sums and parameters travel (mpi/exchange_path.h)
  int exchange_chunk_mb = 64;       // MiB of the chunks the sums are reduced and parameters broadcast in (fl/exchange.h)
  std::string round_timeout_s = "auto";  // hang watchdog (mpi/watchdog.h): auto, seconds, or 0 = off

  // The methods' own options, declared and checked by their files (fl/methods/, method_registry).
  float beta = 0.1f;                    // hfedmoe: Eq. 14 information-bottleneck weight
  std::string gate_agg = "normalized";  // hfedmoe: normalized (sum alpha = 1) or raw_sum (Eq. 21 as written)
  float prox_mu = 0.01f;                // fedprox

  // Parsed from the strings above by validate_fl_options.
  BudgetMode budget_mode_v = BudgetMode::mask;
  BudgetScope budget_scope_v = BudgetScope::layer;
  Reselect reselect_v = Reselect::round;
  MemoryCheck memory_check_v = MemoryCheck::enforce;
  GateAgg gate_agg_v = GateAgg::normalized;
  ServerOpt server_opt_v = ServerOpt::fedavg;
  Throttle throttle_v = Throttle::none;
  float tau_value = -1;  // < 0: auto
  double round_timeout_v = -1;  // < 0: auto
  float tau_for(int n_experts) const { return tau_value >= 0 ? tau_value : 0.5f / static_cast<float>(n_experts); }
};

struct DataOptions {
  std::string path;  // an HDF5 dataset written by `hfedmoe prepare`
};

struct TrainOptions {
  int local_steps = 5;   // optimizer steps per client per round (when local_epochs == 0)
  int local_epochs = 0;  // > 0: ceil(epochs * |D_c| / batch_size) steps instead
  int batch_size = 8;
  float lr = 1e-3f;
  float weight_decay = 0.0f;
  float grad_clip = 1.0f;  // global-norm clip over the trained parameters; 0 = off
  std::string init;        // a checkpoint (pretrain or train) whose /model starts the run
  std::string init_hf;     // a Hugging Face model folder (data/hf_folder.h): its architecture and weights start the run
  // Parameter-efficient fine-tuning (model/config.h LoraConfig): adapters over a frozen base.
  std::string adapter = "none";  // none | lora
  int lora_rank = 8;
  float lora_alpha = 16.0f;
  std::string lora_targets = "w1,w2,w3,wq,wk,wv,wo";
  std::string base_dtype = "fp32";  // fp32 | bf16 | int8 | nf4
};

void add_fl_options(Options& o, FlOptions& fl, DataOptions& data, TrainOptions& train);
// Only the adapter options (train.adapter, train.lora_*, train.base_dtype; part of the above),
// for reading them back from a checkpoint's stored configuration.
void add_adapter_options(Options& o, TrainOptions& train);
// Checks every value and parses the choices into the *_v enums.
void validate_fl_options(FlOptions& fl, const DataOptions& data, const TrainOptions& train);
// The adapter options as the model's LoraConfig (rank 0 with train.adapter=none); an adapter
// option given without train.adapter=lora is a one-line usage error. o: what was set.
LoraConfig lora_options(const Options& o, const TrainOptions& train);

// The enum of a choice option; a bad value is check_choice's one-line usage error.
template <class Enum>
Enum parse_choice(const std::string& key, const std::string& value, const std::vector<std::pair<std::string, Enum>>& choices) {
  std::vector<std::string> names;
  for (const auto& [name, v] : choices) {
    if (name == value) return v;
    names.push_back(name);
  }
  check_choice(key, value, names);
  return choices.front().second;  // not reached: check_choice failed
}

}  // namespace hf
