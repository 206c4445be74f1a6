// hfedmoe export: model weights between hfedmoe checkpoints and Hugging Face safetensors
// (the model's family's tensor names, model.hf_family, io/safetensors.h). Two directions,
// chosen by the input given:
//   --export.checkpoint CKPT.h5   --export.out model.safetensors   checkpoint -> safetensors
//   --export.checkpoint CKPT.h5   --export.out DIR/                checkpoint -> HF folder
//   --export.import F.safetensors --export.out model.h5            safetensors -> checkpoint
//   --export.import DIR           --export.out model.h5            HF folder (data/hf_folder.h) -> checkpoint
// An export carries the checkpoint's resolved configuration in __metadata__["hfedmoe_config"],
// so importing it needs no options. A foreign file (no such metadata) takes the model from
// --model.* options. An import is a "pretrain" checkpoint at step 0 with only /model: a start
// for `train --train.init` or an input for `eval`, not a pretrain run to resume.
#include <cstdio>
#include <filesystem>

#include "cli/checkpoint_config.h"
#include "cli/checkpoint_path.h"
#include "cli/common_options.h"
#include "cli/run_dir.h"
#include "commands/commands.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "data/hf_folder.h"
#include "io/safetensors.h"
#include "mpi/runtime.h"
#include "util/log.h"
#include "version.h"

namespace hf {
namespace {

void export_checkpoint(const std::string& in, const std::string& out) {
  ParamTable table = stored_model_table(in);  // the model its own stored configuration describes
  Checkpoint ck = load_checkpoint(in, table);
  if (!out.empty() && (out.back() == '/' || std::filesystem::is_directory(out))) {
    save_hf_folder(out, table, ck.model.data());
    LOG_INFO("wrote %s: config.json and model.safetensors, %zu tensors (%s names)", out.c_str(),
             table.tensors().size(), table.config().hf_family.c_str());
    return;
  }
  save_safetensors(out, table, ck.model.data(),
                   {{"format", "pt"},
                    {"hfedmoe_config", ck.config_ini},
                    {"hfedmoe_source", std::filesystem::path(in).filename().string()},
                    {"hfedmoe_kind", ck.kind},
                    {"hfedmoe_round", std::to_string(ck.round)},
                    {"hfedmoe_build", HFEDMOE_VERSION " (" HFEDMOE_GIT_DESCRIBE ")"}});
  LOG_INFO("wrote %s: %zu tensors, %zu parameters (F32, %s names)", out.c_str(), table.tensors().size(), table.total(),
           table.config().hf_family.c_str());
}

// The checkpoint is written by save_checkpoint into a private folder next to `out` and then
// renamed onto it, so `out` appears complete or not at all.
void import_safetensors(const std::string& in, const std::string& out, const ModelConfig& cfg, const std::string& config,
                        bool folder) {
  ParamTable table(cfg);
  Checkpoint ck;
  ck.kind = "pretrain";
  ck.method = "import";
  ck.config_ini = config;
  ck.model.resize(table.total());
  if (folder)
    load_hf_folder_weights(in, table, ck.model.data());
  else
    load_safetensors(in, table, ck.model.data());
  std::string dir = out + ".import.d";
  std::filesystem::remove_all(dir);
  std::string written = save_checkpoint(ck, table, dir, 1);
  commit_file(written, out);
  std::filesystem::remove_all(dir);
  LOG_INFO("wrote %s: %zu parameters from %s", out.c_str(), table.total(), in.c_str());
}

}  // namespace

int cmd_export(int argc, char** argv) {
  Options o("export",
            "model weights between an hfedmoe checkpoint and Hugging Face safetensors (the model family's names):\n"
            "  hfedmoe export --export.checkpoint CKPT.h5 --export.out model.safetensors (or a folder DIR/)\n"
            "  hfedmoe export --export.import HF_MODEL_DIR --export.out ckpt.h5 [--model.tokenizer ID]\n"
            "  hfedmoe export --export.import model.safetensors --export.out ckpt.h5 [--model.* for a foreign file]");
  std::string checkpoint, import, out;
  ModelOptions model_opt;
  o.add("export.checkpoint", &checkpoint, "checkpoint whose /model is exported to safetensors")
      .add("export.import", &import, "safetensors file or Hugging Face model folder to import into a checkpoint")
      .add("export.out", &out, "file to write (.safetensors when exporting, .h5 when importing)");
  model_opt.add(o);
  bool go = false, foreign = false, folder = false;
  ModelConfig cfg;
  std::string config;
  collectively([&] {
    go = o.parse(argc, argv, is_server());
    if (!go) return;
    if (checkpoint.empty() == import.empty())
      fail("give exactly one of --export.checkpoint and --export.import", "see `hfedmoe export --help`");
    if (out.empty()) fail("export.out is not set", "pass --export.out FILE");
    if (world_size() > 1) fail("export runs on one process", "run it without mpirun");
    if (import.empty()) {
      checkpoint = resolve_checkpoint("export.checkpoint", checkpoint);
      return;
    }
    bool model_given = false;
    for (const auto& [key, value] : parse_ini(o.resolved_ini()))
      model_given |= key.rfind("model.", 0) == 0 && key != "model.tokenizer" && o.was_set(key);
    folder = std::filesystem::is_directory(import);
    if (folder) {  // config.json describes the model; only the tokenizer may need naming
      if (model_given) fail(import + "/config.json describes the model", "drop the --model.* options but --model.tokenizer");
      cfg = hf_folder_config(import, o.was_set("model.tokenizer") ? model_opt.resolve(o).tokenizer : "");
      config = ModelOptions::ini_of(cfg);
      return;
    }
    model_given |= o.was_set("model.tokenizer");
    auto meta = safetensors_metadata(import);
    foreign = !meta.count("hfedmoe_config");
    if (foreign) {
      cfg = model_opt.resolve(o);
      config = o.resolved_ini();  // after resolve() it holds the final model fields
    } else {
      if (model_given)
        fail(import + " carries its model configuration (written by hfedmoe export)", "drop the --model.* options");
      config = meta["hfedmoe_config"];
      cfg = model_config_from_ini(config);
    }
  });
  if (!go) return kExitOk;
  if (!import.empty()) {
    if (folder) LOG_INFO("%s: a %s model, tokenizer %s", import.c_str(), cfg.hf_family.c_str(), cfg.tokenizer.c_str());
    if (foreign) LOG_INFO("%s has no hfedmoe metadata: model from the --model options (preset %s)", import.c_str(), cfg.preset.c_str());
    import_safetensors(import, out, cfg, config, folder);
  } else {
    export_checkpoint(checkpoint, out);
  }
  return kExitOk;
}

}  // namespace hf
