// hfedmoe train: federated fine-tuning. Rank 0 serves (fl/server.cpp), ranks 1..R execute
// virtual clients (fl/executor.cpp); without mpirun, rank 0 also runs the clients in-process.
#include "commands/commands.h"
#include "fl/engine.h"
#include "data/hf_folder.h"
#include "mpi/runtime.h"
#include "util/log.h"
#include "util/signals.h"

namespace hf {

int cmd_train(int argc, char** argv) {
  Engine eng;
  ModelOptions model_opt;
  Options o("train", "Federated fine-tuning of an MoE model with HFedMoE or a baseline (fl.method).\n"
                     "mpirun -np 1+R: rank 0 is the server, ranks 1..R host the virtual clients.");
  add_run_options(o, eng.run);
  model_opt.add(o);
  add_fl_options(o, eng.fl, eng.data_opt, eng.train);
  bool go = true;
  collectively([&] {
    go = o.parse(argc, argv, is_server());
    if (!go) return;
    validate_run_options(eng.run);
    validate_fl_options(eng.fl, eng.data_opt, eng.train);
    eng.model_cfg = model_opt.resolve(o);
    if (!eng.train.init_hf.empty()) {
      // The folder's config.json is the architecture; the options keep what it does not say.
      for (const char* key : {"model.preset", "model.vocab_size", "model.d_model", "model.n_layers", "model.n_experts",
                              "model.top_k", "model.d_ff", "model.n_heads", "model.n_kv_heads", "model.hf_family",
                              "model.first_k_dense", "model.dense_d_ff"})
        if (o.was_set(key))
          fail(std::string(key) + " is set with train.init_hf", "drop it: " + eng.train.init_hf + "/config.json describes the model");
      ModelConfig c = hf_folder_config(eng.train.init_hf, o.was_set("model.tokenizer") ? eng.model_cfg.tokenizer : "");
      c.n_classes = eng.model_cfg.n_classes;
      c.aux_loss_coef = eng.model_cfg.aux_loss_coef;
      c.capacity_factor = eng.model_cfg.capacity_factor;
      if (o.was_set("model.seq_len")) c.seq_len = eng.model_cfg.seq_len;
      model_opt.adopt(c);
      eng.model_cfg = c;
    }
    eng.model_cfg.lora = lora_options(o, eng.train);
    eng.model_cfg.validate();
    eng.config_ini = o.resolved_ini();
  });
  if (!go) return kExitOk;
  apply_run_options(eng.run);
  install_stop_handlers();
  // Every check before the run directory: a refused run (no device, a bad dataset, budget or
  // checkpoint) leaves nothing behind. Keys that may change on resume change no result but
  // the number of rounds (docs/user-guide.md, "Checkpoints and resume").
  Backend backend = open_backend(eng.run);
  eng.ops = std::move(backend.ops);
  eng.device = backend.device;
  eng.setup();
  eng.dir = open_run_dir(eng.run, eng.config_ini,
                         {"train", "fl.rounds",
                          {"fl.rounds", "run.log_level", "run.threads", "run.ckpt_every", "run.ckpt_keep", "run.resume", "fl.eval_every",
                           "fl.exchange", "fl.exchange_chunk_mb", "fl.round_timeout_s"}});
  if (is_server()) return run_server(eng);
  return run_executor(eng);
}

}  // namespace hf
