#include "fl/engine.h"

#include <fstream>
#include <string>

#include "cli/checkpoint_path.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "data/hf_folder.h"
#include "fl/fixed_point.h"
#include "mpi/runtime.h"
#include "util/human.h"
#include "util/log.h"

namespace hf {

void Engine::setup() {
  // Every check here runs on every rank with the same inputs; collectively() makes the first
  // failure everyone's, printed once.
  collectively([&] {
    data = Dataset::load(data_opt.path);
    const ModelConfig& m = model_cfg;
    if (data.task == Task::classify && m.n_classes != data.n_classes)
      fail(strf("dataset %s has %d classes but model.n_classes=%d", data.path.c_str(), data.n_classes, m.n_classes),
           strf("set model.n_classes = %d", data.n_classes));
    if (data.seq_len > m.seq_len)
      fail(strf("dataset %s has sequences of %d tokens, longer than model.seq_len=%d", data.path.c_str(), data.seq_len, m.seq_len),
           "raise model.seq_len or prepare the dataset with a shorter seq_len");
    data.check_tokenizer(m.tokenizer);
    if (data.vocab_size > m.vocab_size)
      fail(strf("dataset %s uses %d token ids but model.vocab_size=%d", data.path.c_str(), data.vocab_size, m.vocab_size),
           "set model.vocab_size to the dataset's vocabulary");
    if (m.n_experts > 256) fail(strf("model.n_experts=%d exceeds 256", m.n_experts), "use at most 256 experts per layer");
    method = make_method(fl);
    clients = ClientTable::build(fl, train, data, ParamTable(m), method.traits.needs_budget, run.seed);
    if (method.traits.strict_routing)
      for (int c = 0; c < clients.n_clients; c++)
        if (clients.budget[c] < m.top_k)
          fail(strf("fl.method=%s routes tokens only among a client's experts, but client %d (profile %s) has C_budget=%d < top_k=%d",
                    fl.method.c_str(), c, clients.profiles[clients.profile[c]].name.c_str(), clients.budget[c], m.top_k),
               "use fl.budget_mode=mask, more memory in the profile, or fl.budget >= top_k");
    int R = world_size() - 1;
    if (R > clients.n_clients)
      fail(strf("%d executor ranks but only %d clients", R, clients.n_clients), "launch at most 1 + n_clients ranks (mpirun -np)");
    max_slots = max_plan_slots(fl, clients.n_clients);
    if (max_slots > kMaxContributions)
      fail(strf("up to %d clients per round exceeds the exact-aggregation limit of %d", max_slots, kMaxContributions),
           "lower fl.clients_per_round or fl.overcommit");
    if (!train.init.empty()) train.init = resolve_checkpoint("train.init", train.init);
    if (!train.init.empty() && !path_exists(train.init))
      fail("train.init=" + train.init + " does not exist", "pass a checkpoint written by `hfedmoe pretrain` or `train`");
    if (!train.init.empty() && !train.init_hf.empty())
      fail("both train.init and train.init_hf are set", "start the run from one of them");
  });

  // The initial weights, from train.init (a checkpoint) or train.init_hf (an HF folder), into
  // dst laid out by t; false when the source lacks the classification head (left as dst holds it).
  const std::string init_source = train.init_hf.empty() ? train.init : train.init_hf;
  auto load_initial = [&](const ParamTable& t, float* dst) {
    return train.init_hf.empty() ? load_model_weights(train.init, t, dst, /*keep_absent_head=*/true)
                                 : load_hf_folder_initial(train.init_hf, t, dst);
  };
  model = std::make_unique<Model>(model_cfg, data.task, *ops, train.batch_size, data.seq_len);
  const ParamTable& table = model->table();
  global.resize(table.total());
  if (model_cfg.lora.enabled()) {
    // The frozen base never travels: every rank derives the same bits from run.seed and
    // train.init (the model without adapters). The arena (adapters, and the tensors trained in
    // full from the same sources) then starts the global model as in a run without adapters.
    collectively([&] {
      load_lora_base(*model, init_source, run.seed);
      if (is_server()) {
        base = base_ref_of(init_source, base_dtype_name(model_cfg.lora.base_dtype));
        if (!init_source.empty())
          LOG_INFO("frozen base (%s) and initial model from %s (sha256 %s)", base.dtype.c_str(), init_source.c_str(),
                   base.sha256.c_str());
      }
      const float* init = model->params_on_host();
      std::copy(init, init + table.total(), global.begin());
    });
  } else if (is_server()) {
    collectively([&] {
      // A fresh model; train.init then replaces every tensor but a classification head that
      // an LM checkpoint lacks, which so starts exactly as in a run without train.init.
      model->init_weights(run.seed);
      const float* init = model->params_on_host();
      std::copy(init, init + table.total(), global.begin());
      if (!init_source.empty()) {
        bool whole = load_initial(table, global.data());
        LOG_INFO("initial model from %s", init_source.c_str());
        if (!whole)
          LOG_INFO("%s has no classification head (an LM checkpoint): cls_head/w and cls_head/b start fresh from "
                   "run.seed=%llu", init_source.c_str(), static_cast<unsigned long long>(run.seed));
      }
    });
  } else {
    collectively([] {});
  }
  cost = std::make_unique<CostModel>(table, data.task, train.batch_size, data.seq_len);
  executors.clear();
  for (int r = 1; r < world_size(); r++) executors.push_back(r);
  if (executors.empty()) executors.push_back(0);
  update.init(table, data.task, max_slots, static_cast<int>(clients.profiles.size()));
  exchange = std::make_unique<Exchange>(update, max_slots, fl.exchange, device, static_cast<size_t>(fl.exchange_chunk_mb) << 20);
  if (!is_server() || world_size() == 1) {
    trainer = std::make_unique<LocalTrainer>(*model, *ops, method, fl, train, data, clients, run.seed);
    // What this executor's device really holds, once, for all its virtual clients (their
    // per-step memory is accounted against their profiles: metrics client_mem_peak_gb).
    LOG_INFO("rank %d: %s backend%s holds %s (model, gradients and workspace for %d x %d) + %s (AdamW moments)",
             world_rank(), ops->name(), device >= 0 ? strf(" on GPU %d", device).c_str() : "",
             human_bytes(static_cast<double>(model->backend_bytes())).c_str(), train.batch_size, data.seq_len,
             human_bytes(2.0 * sizeof(float) * table.total()).c_str());
  }
  if (is_server())
    LOG_INFO("%s: %d clients (%d per round, up to %d sampled), %zu parameters, %zu executors, %s", fl.method.c_str(),
             clients.n_clients, fl.clients_per_round, max_slots, table.total(), executors.size(), data.path.c_str());
}

void log_peak_rss() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long long kb = -1;
  while (status >> key)
    if (key == "VmHWM:") {
      status >> kb;
      break;
    }
  if (kb >= 0) LOG_INFO("peak RSS %.1f MB (VmHWM of rank %d, 1 MB = 10^6 bytes)", kb * 1024 / 1e6, world_rank());
}

}  // namespace hf
