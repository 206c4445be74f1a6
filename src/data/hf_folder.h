#pragma once
// A Hugging Face model folder as hfedmoe reads and writes it:
//   config.json                       the architecture (model/hf_families.h maps its keys)
//   model.safetensors, or shards      the weights, F32, BF16 or F16 (each *.safetensors file of
//     model-00001-of-0000N.safetensors  the folder; model.safetensors.index.json is not needed)
//   tokenizer.json / tokenizer.model  optional; its sha256 becomes model.tokenizer
#include <string>

#include "model/config.h"
#include "model/params.h"

namespace hf {

// The model config.json describes. model.tokenizer: the folder's tokenizer identity
// (data/tokenizer_id.h) when it has a tokenizer file, else `tokenizer` (a usage error when
// that is empty too: a folder without a tokenizer needs --model.tokenizer).
ModelConfig hf_folder_config(const std::string& dir, const std::string& tokenizer);

// Reads every tensor of table from the folder's safetensors files into params (table.total()),
// converted to fp32, tensor by tensor. Names: table.config().hf_family's.
void load_hf_folder_weights(const std::string& dir, const ParamTable& table, float* params);
// The same for a run's initial model (train.init_hf): a classification head, which no causal-LM
// folder has, is left as params holds it; returns false then.
bool load_hf_folder_initial(const std::string& dir, const ParamTable& table, float* params);

// The folder's weights identity: sha256 over config.json and every *.safetensors file in name
// order (each file's bytes streamed, never whole in memory), what a LoRA checkpoint records
// of the base it was trained over (data/lora_base.h).
std::string hf_folder_sha256(const std::string& dir);

// Writes dir/config.json (the family's keys) and dir/model.safetensors (its tensor names), each
// through a temporary file and a rename. The folder is created if missing.
void save_hf_folder(const std::string& dir, const ParamTable& table, const float* params);

}  // namespace hf
