#pragma once
// LoRA adapters in Hugging Face PEFT's layout (what `PeftModel.save_pretrained` writes and
// `PeftModel.from_pretrained` reads), so adapters trained here load over the base in the
// transformers ecosystem and PEFT adapters start or evaluate here. A folder holding:
//   adapter_model.safetensors  F32 tensors, every one of the LoRA model's arena:
//     the adapters under their base layer's Mixtral name (io/safetensors.h),
//       base_model.model.model.layers.{l}.self_attn.{q,k,v,o}_proj.lora_A.weight        (r, in)
//       base_model.model.model.layers.{l}.block_sparse_moe.experts.{e}.{w1,w2,w3}.lora_B.weight (out, r)
//     the tensors trained in full as PEFT stores modules_to_save: base_model.model.<Mixtral name>
//     (embed_tokens, the norms, the routers `gate`, lm_head, score);
//     __metadata__: format pt, and what hfedmoe export adds (its configuration, the base's sha256)
//   adapter_config.json  peft_type LORA, task_type (CAUSAL_LM, or SEQ_CLS with a classification
//     head), r, lora_alpha, target_modules (q_proj k_proj v_proj o_proj w1 w2 w3), modules_to_save,
//     base_model_name_or_path (the base checkpoint), lora_dropout 0, bias none,
//     fan_in_fan_out false, use_rslora false
#include <cstdint>
#include <map>
#include <string>

#include "model/params.h"

namespace hf {

// What adapter_config.json and the tensor names say about a PEFT adapter folder.
struct PeftAdapter {
  int rank = 0;
  float alpha = 0;
  uint32_t targets = 0;  // LoraTarget bits, from the lora_A tensors the file holds
  std::string base;      // base_model_name_or_path
  std::map<std::string, std::string> metadata;  // adapter_model.safetensors' __metadata__
};

// PEFT's name of a tensor of a LoRA model's arena (see above), in the names of `family`
// (model.hf_family; model/hf_families.h).
std::string peft_tensor_name(const ParamInfo& p, const std::string& family);

// Writes dir/adapter_model.safetensors and dir/adapter_config.json (each atomically; dir is
// created). table: the LoRA model; arena (table.total()).
void save_peft_adapter(const std::string& dir, const ParamTable& table, const float* arena, const std::string& base,
                       const std::map<std::string, std::string>& metadata);

// Reads dir/adapter_config.json and the tensor names of dir/adapter_model.safetensors. Usage
// errors name the file: not LORA, rsLoRA or fan_in_fan_out (computed differently), an r that
// differs from the lora_A tensors' rank, or a target this model has no layer for.
PeftAdapter read_peft_adapter(const std::string& dir);

// Reads the adapter's tensors into arena (table: the LoRA model the adapter describes). Every
// adapter tensor must be in the file; a tensor trained in full that it lacks (PEFT saves
// modules_to_save only when asked) keeps the value arena holds.
void load_peft_adapter(const std::string& dir, const ParamTable& table, float* arena);

}  // namespace hf
