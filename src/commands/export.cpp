// hfedmoe export: model weights between hfedmoe checkpoints and Hugging Face safetensors
// (the model's family's tensor names, model.hf_family, io/safetensors.h). Two directions,
// chosen by the input given:
//   --export.checkpoint CKPT.h5   --export.out model.safetensors   checkpoint -> safetensors
//   --export.checkpoint CKPT.h5   --export.out DIR/                checkpoint -> HF folder
//   --export.import F.safetensors --export.out model.h5            safetensors -> checkpoint
//   --export.import DIR           --export.out model.h5            HF folder (data/hf_folder.h) -> checkpoint
// and for LoRA (data/peft.h, data/lora_base.h):
//   --export.checkpoint LORA.h5   --export.out DIR   DIR/model.safetensors (merged) + the PEFT adapter
//   --export.import PEFT_DIR      --export.out model.h5   PEFT adapter -> LoRA checkpoint over its base
// An export carries the checkpoint's resolved configuration in __metadata__["hfedmoe_config"],
// so importing it needs no options. A foreign file (no such metadata) takes the model from
// --model.* options. An import is a "pretrain" checkpoint at step 0 with only /model: a start
// for `train --train.init` or an input for `eval`, not a pretrain run to resume.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "commands/checkpoint_config.h"
#include "cli/checkpoint_path.h"
#include "cli/common_options.h"
#include "cli/run_dir.h"
#include "commands/commands.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "data/hf_folder.h"
#include "data/peft.h"
#include "io/safetensors.h"
#include "data/lora_base.h"
#include "mpi/runtime.h"
#include "util/log.h"
#include "version.h"

namespace hf {
namespace {

// A LoRA checkpoint: out is a folder with the merged model (model.safetensors, Mixtral names,
// the configuration without adapters) and the adapters in PEFT's layout (data/peft.h).
void export_lora(const std::string& in, const std::string& out, const Checkpoint& ck, const ParamTable& table,
                 std::map<std::string, std::string> metadata) {
  check_base_ref(ck.base, base_ref_of(ck.base.path, ck.base.dtype), in);
  ModelConfig whole = table.config();
  whole.lora = {};
  ParamTable full(whole);
  std::vector<float> merged = merged_weights(table, ck.model.data(), full, base_weights(full, ck.base.path, ck.seed));
  metadata["hfedmoe_base_sha256"] = ck.base.sha256;
  metadata["hfedmoe_seed"] = std::to_string(ck.seed);
  save_peft_adapter(out, table, ck.model.data(), ck.base.path, metadata);
  metadata["hfedmoe_config"] = ini_without_adapter(ck.config_ini);
  save_safetensors(out + "/model.safetensors", full, merged.data(), metadata);
  LOG_INFO("wrote %s: model.safetensors (merged over the %s base, %zu parameters), adapter_model.safetensors and "
           "adapter_config.json (PEFT, r %d)", out.c_str(), ck.base.dtype.c_str(), full.total(), table.config().lora.rank);
}

void export_checkpoint(const std::string& in, const std::string& out) {
  ParamTable table = stored_model_table(in);  // the model its own stored configuration describes
  Checkpoint ck = load_checkpoint(in, table);
  std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                 {"hfedmoe_config", ck.config_ini},
                                                 {"hfedmoe_source", std::filesystem::path(in).filename().string()},
                                                 {"hfedmoe_kind", ck.kind},
                                                 {"hfedmoe_round", std::to_string(ck.round)},
                                                 {"hfedmoe_build", HFEDMOE_VERSION " (" HFEDMOE_GIT_DESCRIBE ")"}};
  if (table.config().lora.enabled()) return export_lora(in, out, ck, table, metadata);
  if (!out.empty() && (out.back() == '/' || std::filesystem::is_directory(out))) {
    save_hf_folder(out, table, ck.model.data());
    LOG_INFO("wrote %s: config.json and model.safetensors, %zu tensors (%s names)", out.c_str(),
             table.tensors().size(), table.config().hf_family.c_str());
    return;
  }
  save_safetensors(out, table, ck.model.data(), metadata);
  LOG_INFO("wrote %s: %zu tensors, %zu parameters (F32, %s names)", out.c_str(), table.tensors().size(), table.total(),
           table.config().hf_family.c_str());
}

// The checkpoint is written by save_checkpoint into a private folder next to `out` and then
// renamed onto it, so `out` appears complete or not at all. A Hugging Face folder gives every
// tensor; a PEFT folder (cfg with adapters) gives the adapters, and the tensors trained in full
// that it lacks come from its base.
void import_safetensors(const std::string& in, const std::string& out, const ModelConfig& cfg, const std::string& config,
                        bool folder, const PeftAdapter& peft) {
  ParamTable table(cfg);
  Checkpoint ck;
  ck.kind = "pretrain";
  ck.method = "import";
  ck.config_ini = config;
  ck.model.resize(table.total());
  if (cfg.lora.enabled()) {
    auto sha = peft.metadata.find("hfedmoe_base_sha256");
    ck.base = sha == peft.metadata.end() ? base_ref_of(peft.base, base_dtype_name(cfg.lora.base_dtype))
                                         : BaseRef{peft.base, sha->second, base_dtype_name(cfg.lora.base_dtype)};
    ck.seed = std::stoull(peft.metadata.count("hfedmoe_seed") ? peft.metadata.at("hfedmoe_seed") : "0");
    ModelConfig whole = cfg;
    whole.lora = {};
    ParamTable full(whole);
    std::vector<float> base = base_weights(full, peft.base, ck.seed);  // (full.total())
    for (const ParamInfo& p : table.tensors())
      if (const ParamInfo* f = full.find(p.name)) std::copy_n(base.begin() + f->offset, p.numel(), ck.model.begin() + p.offset);
    load_peft_adapter(in, table, ck.model.data());
  } else if (folder) {
    load_hf_folder_weights(in, table, ck.model.data());
  } else {
    load_safetensors(in, table, ck.model.data());
  }
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
            "  hfedmoe export --export.import model.safetensors --export.out ckpt.h5 [--model.* for a foreign file]\n"
            "A LoRA checkpoint exports to a folder (merged model.safetensors + PEFT adapter_model.safetensors and\n"
            "adapter_config.json); a PEFT adapter folder imports into a LoRA checkpoint over its base.");
  std::string checkpoint, import, out;
  ModelOptions model_opt;
  o.add("export.checkpoint", &checkpoint, "checkpoint whose /model is exported to safetensors")
      .add("export.import", &import,
           "safetensors file, Hugging Face model folder or PEFT adapter folder to import into a checkpoint")
      .add("export.out", &out,
           "file to write (.safetensors, or a folder DIR/, when exporting; a folder for a LoRA checkpoint; .h5 when importing)");
  model_opt.add(o);
  bool go = false, foreign = false, folder = false;
  ModelConfig cfg;
  std::string config;
  PeftAdapter peft;
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
    const bool is_peft = path_exists(import + "/adapter_config.json");
    if (is_peft) peft = read_peft_adapter(import);
    bool model_given = false;
    for (const auto& [key, value] : parse_ini(o.resolved_ini()))
      model_given |= key.rfind("model.", 0) == 0 && key != "model.tokenizer" && o.was_set(key);
    folder = !is_peft && std::filesystem::is_directory(import);
    if (folder) {  // config.json describes the model; only the tokenizer may need naming
      if (model_given) fail(import + "/config.json describes the model", "drop the --model.* options but --model.tokenizer");
      cfg = hf_folder_config(import, o.was_set("model.tokenizer") ? model_opt.resolve(o).tokenizer : "");
      config = ModelOptions::ini_of(cfg);
      return;
    }
    model_given |= o.was_set("model.tokenizer");
    auto meta = is_peft ? peft.metadata : safetensors_metadata(import);
    foreign = !meta.count("hfedmoe_config");
    if (foreign) {
      cfg = model_opt.resolve(o);
      config = o.resolved_ini();  // after resolve() it holds the final model fields
      if (is_peft) {
        config += strf("\n[train]\nadapter = lora\nlora_rank = %d\nlora_alpha = %.9g\nlora_targets = %s\n", peft.rank,
                       static_cast<double>(peft.alpha), lora_targets_text(peft.targets).c_str());
        cfg = model_config_from_ini(config);
      }
    } else {
      if (model_given)
        fail(import + " carries its model configuration (written by hfedmoe export)", "drop the --model.* options");
      config = meta["hfedmoe_config"];
      cfg = model_config_from_ini(config);
    }
    if (is_peft && (cfg.lora.rank != peft.rank || cfg.lora.alpha != peft.alpha || cfg.lora.targets != peft.targets))
      fail(strf("%s/adapter_config.json says r %d, alpha %g, targets %s; its hfedmoe configuration r %d, alpha %g, "
                "targets %s", import.c_str(), peft.rank, static_cast<double>(peft.alpha),
                lora_targets_text(peft.targets).c_str(), cfg.lora.rank, static_cast<double>(cfg.lora.alpha),
                lora_targets_text(cfg.lora.targets).c_str()),
           "give the folder as hfedmoe export wrote it");
  });
  if (!go) return kExitOk;
  if (!import.empty()) {
    if (folder) LOG_INFO("%s: a %s model, tokenizer %s", import.c_str(), cfg.hf_family.c_str(), cfg.tokenizer.c_str());
    if (foreign) LOG_INFO("%s has no hfedmoe metadata: model from the --model options (preset %s)", import.c_str(), cfg.preset.c_str());
    import_safetensors(import, out, cfg, config, folder, peft);
  } else {
    export_checkpoint(checkpoint, out);
  }
  return kExitOk;
}

}  // namespace hf
