// hfedmoe eval --eval.checkpoint FILE --data.path DATASET: the checkpoint's model on the
// dataset's test split. The model comes from the checkpoint's stored configuration; any
// --model.* option given explicitly overrides it. Human-readable lines go to stderr (the
// log); one JSON line with every number goes to stdout, or to --eval.out (written atomically).
// A LoRA checkpoint holds adapters only: its frozen base is the checkpoint it names (or
// --eval.base), whose sha256 must be the one stored (data/lora_base.h).
#include <cmath>
#include <cstdio>

#include "commands/checkpoint_config.h"
#include "cli/checkpoint_path.h"
#include "cli/common_options.h"
#include "cli/run_dir.h"
#include "commands/commands.h"
#include "data/dataset.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "io/metrics.h"
#include "model/evaluate.h"
#include "data/lora_base.h"
#include "model/model.h"
#include "mpi/runtime.h"
#include "ops/ops.h"
#include "util/log.h"

namespace hf {
namespace {

struct EvalOptions {
  std::string checkpoint, data, out, base;
  int rows = 0;
  int batch_size = 16;
};

}  // namespace

int cmd_eval(int argc, char** argv) {
  Options o("eval", "evaluate a checkpoint's model on a dataset's test split");
  EvalOptions e;
  RunOptions run;
  ModelOptions model_opt;
  o.add("eval.checkpoint", &e.checkpoint, "checkpoint to evaluate (train or pretrain)")
      .add("data.path", &e.data, "dataset written by `hfedmoe prepare`; its test split is evaluated")
      .add("eval.out", &e.out, "write the JSON result line to this file instead of stdout")
      .add("eval.rows", &e.rows, "evaluate the first N test rows; 0 = all")
      .add("eval.batch_size", &e.batch_size, "rows per forward pass")
      .add("eval.base", &e.base,
           "LoRA checkpoints: the base checkpoint the adapters were trained over, when it is no longer where the "
           "checkpoint says (its sha256 must match)");
  add_run_options(o, run, {"run.threads", "run.log_level", "run.backend", "run.precision"});
  model_opt.add(o);
  bool go = false;
  ModelConfig cfg;
  Dataset data;
  Checkpoint meta;
  collectively([&] {
    go = o.parse(argc, argv, is_server());
    if (!go) return;
    if (e.checkpoint.empty()) fail("eval.checkpoint is not set", "pass --eval.checkpoint FILE");
    e.checkpoint = resolve_checkpoint("eval.checkpoint", e.checkpoint);
    if (e.data.empty()) fail("data.path is not set", "pass --data.path DATASET");
    check_range("eval.rows", e.rows, 0, 1 << 30);
    check_range("eval.batch_size", e.batch_size, 1, 1 << 16);
    validate_run_options(run);
    if (world_size() > 1) fail(strf("eval runs on one process, not %d", world_size()), "run it without mpirun");
    // Only the metadata here (the whole file checked); the weights are read into the model below.
    meta = load_checkpoint_meta(e.checkpoint);
    std::vector<std::pair<std::string, std::string>> overrides;
    for (const auto& [key, value] : parse_ini(o.resolved_ini()))
      if (key.rfind("model.", 0) == 0 && o.was_set(key)) overrides.push_back({key, value});
    cfg = model_config_from_ini(meta.config_ini, overrides);
    if (cfg.lora.enabled()) {
      if (e.base.empty()) e.base = meta.base.path;
      check_base_ref(meta.base, base_ref_of(e.base, meta.base.dtype), e.checkpoint);
    } else if (!e.base.empty()) {
      fail("eval.base is set but " + e.checkpoint + " has no adapters (its model is whole)", "drop --eval.base");
    }
    data = Dataset::load(e.data);
    data.check_tokenizer(cfg.tokenizer);
    if (data.task == Task::classify && cfg.n_classes != data.n_classes)
      fail(strf("dataset %s has %d classes but the checkpoint's model has n_classes=%d", e.data.c_str(), data.n_classes,
                cfg.n_classes),
           "evaluate a classification dataset with a checkpoint fine-tuned on it (or an LM dataset)");
    if (data.seq_len > cfg.seq_len)
      fail(strf("dataset %s has rows of %d tokens, longer than the model's seq_len=%d", e.data.c_str(), data.seq_len,
                cfg.seq_len),
           "prepare the dataset with a shorter seq_len");
    if (data.test.n == 0) fail("dataset " + e.data + " has an empty test split", "prepare it with a test_fraction > 0");
  });
  if (!go) return kExitOk;
  apply_run_options(run);

  Backend backend = open_backend(run);
  // A classification dataset is read out by the classification head; an LM dataset by the LM head.
  Model model(cfg, data.task, *backend.ops, e.batch_size, data.seq_len);
  if (cfg.lora.enabled()) load_lora_base(model, e.base, meta.seed);
  std::vector<float> weights(model.table().total());  // (P)
  load_model_weights(e.checkpoint, model.table(), weights.data());
  model.load_params(weights.data());
  const Split& test = data.test;
  int64_t n = e.rows > 0 ? std::min<int64_t>(e.rows, test.n) : test.n;

  MetricsRow row = {{"checkpoint", e.checkpoint}, {"kind", meta.kind}, {"round", meta.round},
                    {"method", meta.method},      {"dataset", e.data},   {"task", std::string(data.task == Task::lm ? "lm" : "classify")},
                    {"rows", n}};
  Evaluator evaluator(e.batch_size, test.T);
  EvalTally all;
  if (data.task == Task::lm) {
    all = evaluator.run(model, test, nullptr, n);
    row.push_back({"tokens", all.counted});
  } else {
    // Per-class accuracy: the rows of each class evaluated on their own, so the model's
    // correct counts split by class with no access to its predictions.
    std::vector<std::vector<int64_t>> by_class(data.n_classes);
    for (int64_t i = 0; i < n; i++) by_class[test.labels[i]].push_back(i);
    std::vector<EvalTally> per(data.n_classes);
    for (int k = 0; k < data.n_classes; k++) {
      per[k] = evaluator.run(model, test, by_class[k].data(), static_cast<int64_t>(by_class[k].size()));
      all.add(per[k]);
    }
    for (int k = 0; k < data.n_classes; k++) {
      row.push_back({"acc_" + data.classes[k], per[k].acc()});
      LOG_INFO("  class %-20s %6lld rows  acc %.4f", data.classes[k].c_str(), static_cast<long long>(per[k].counted),
               per[k].acc());
    }
  }
  row.insert(row.begin() + 7, {"loss", all.loss()});
  row.insert(row.begin() + 8, {"acc", all.acc()});
  LOG_INFO("%s (%s %s %lld) on %s: %lld test rows, loss %.4f, acc %.4f", e.checkpoint.c_str(), meta.kind.c_str(),
           meta.kind == "pretrain" ? "step" : "round", static_cast<long long>(meta.round), e.data.c_str(),
           static_cast<long long>(n), all.loss(), all.acc());
  std::string json = to_json(row) + "\n";
  if (e.out.empty())
    std::fputs(json.c_str(), stdout);
  else
    write_file_atomic(e.out, json);
  return kExitOk;
}

}  // namespace hf
