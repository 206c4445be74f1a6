#pragma once
// Options of `hfedmoe train`: [fl] the federated protocol and the method, [data] the dataset,
// [train] the clients' local training. validate() checks each value alone (ranges, choices);
// checks that need the dataset or the model (clients, budgets) live in fl/clients.h.
#include <string>

#include "cli/options.h"

namespace hf {

struct FlOptions {
  std::string method = "hfedmoe";  // hfedmoe | fedavg | fedavg_unbounded | fedprox | random_moe | fedmoe
  int rounds = 20;
  int clients = 0;                  // N; 0 = every client of the dataset's partition
  int clients_per_round = 10;       // K
  double overcommit = 0;            // sample ceil(K * (1 + overcommit)), keep the first K to finish
  double deadline_s = 0;            // virtual seconds; 0 = no deadline
  int eval_every = 1;
  int eval_rows = 0;                // test rows evaluated; 0 = the whole test split
  double target_acc = 0;            // time-to-accuracy target; 0 = not reported
  float lambda = 0.5f;              // Eq. 3-5 mean/max mix
  float beta = 0.1f;                // Eq. 14 information-bottleneck weight
  float tau = 0.01f;                // Eq. 17-21 usage threshold
  std::string budget_mode = "mask"; // mask: route as usual, update only A; strict: route among A too
  std::string gate_agg = "normalized";  // normalized: sum alpha = 1; raw_sum: the paper's Eq. 21 as written
  std::string server_opt = "fedavg";    // fedavg | fedadam
  float server_lr = 1.0f;
  float prox_mu = 0.01f;            // fedprox
  std::string profiles = "jobs/profiles/default.csv";
  int budget = 0;                   // > 0: every client's C_budget (overrides the profiles' memory)
  std::string throttle = "none";    // none | sleep: sleep so a step lasts as long as on the profile
  std::string memory_check = "report";  // report | enforce: a step must fit the profile's memory (Method::fit_memory)
  std::string exchange = "auto";    // auto | mpi | nccl: how the round's sums and parameters travel (mpi/exchange_path.h)
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
};

void add_fl_options(Options& o, FlOptions& fl, DataOptions& data, TrainOptions& train);
void validate_fl_options(const FlOptions& fl, const DataOptions& data, const TrainOptions& train);

}  // namespace hf
