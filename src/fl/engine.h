#pragma once
// `hfedmoe train`: the pieces every rank builds identically (options, dataset, clients,
// method, model, the round's aggregate and the exchange), and the two roles' loops:
// fl/server.cpp (rank 0) and fl/executor.cpp (ranks 1..R; in a single process rank 0 runs the
// executor part in-process). Each round reads top to bottom in both files:
//   plan -> train -> pack -> reduce -> apply -> broadcast -> evaluate -> checkpoint
#include <memory>
#include <string>
#include <vector>

#include "cli/common_options.h"
#include "cli/run_dir.h"
#include "data/dataset.h"
#include "fl/clients.h"
#include "fl/fl_options.h"
#include "fl/local_train.h"
#include "fl/method.h"
#include "fl/plan.h"
#include "fl/update.h"
#include "data/lora_base.h"
#include "model/model.h"
#include "fl/exchange.h"
#include "ops/ops.h"

namespace hf {

struct Engine {
  RunOptions run;
  FlOptions fl;
  DataOptions data_opt;
  TrainOptions train;
  ModelConfig model_cfg;
  std::string config_ini;  // the resolved configuration (for checkpoints)
  BaseRef base;            // LoRA: the frozen base the checkpoints name and a resume checks
  RunDir dir;

  Dataset data;
  Method method;
  ClientTable clients;
  std::unique_ptr<Ops> ops;    // run.backend on executors; the server computes on the CPU
  int device = -1;             // this rank's CUDA device, -1 = CPU
  std::unique_ptr<Model> model;
  std::vector<float> global;  // (P) this rank's copy of the global model
  std::unique_ptr<CostModel> cost;
  std::vector<int> executors;  // world ranks that train clients
  int max_slots = 0;
  RoundUpdate update;
  std::unique_ptr<Exchange> exchange;
  std::unique_ptr<LocalTrainer> trainer;

  // Collective: loads, checks and sizes everything (every input error agreed on all ranks).
  // ops and device come from open_backend (cli/common_options.h) first; it writes nothing, so
  // it runs before open_run_dir (a refused run leaves no run directory).
  void setup();
  // Trains this rank's clients of the plan into `update` (the executor's step 2).
  void train_assigned(const RoundPlan& plan);
};

// Logs this process's peak resident set size ("peak RSS X MB": VmHWM of /proc/self/status).
void log_peak_rss();

int run_server(Engine& eng);    // returns the exit code
int run_executor(Engine& eng);   // returns the exit code

}  // namespace hf
