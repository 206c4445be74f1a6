#pragma once
// The Hugging Face model families hfedmoe reads and writes, as data: each family's tensor names
// and its config.json keys. Import (data/hf_folder.h) and export (io/safetensors.h) both use
// these tables, so a folder round-trips to the same names and keys.
//
// Family      model_type   routed experts, router                    shared experts
//   mixtral    mixtral      block_sparse_moe.experts.e.{w1,w3,w2}     -
//                           block_sparse_moe.gate
//   qwen2_moe  qwen2_moe    mlp.experts.e.{gate,up,down}_proj         mlp.shared_expert.{gate,up,down}_proj,
//                           mlp.gate                                  mlp.shared_expert_gate (sigmoid)
//   olmoe      olmoe        mlp.experts.e.{gate,up,down}_proj         -
//                           mlp.gate
//   deepseek   deepseek     mlp.experts.e.{gate,up,down}_proj         mlp.shared_experts.{gate,up,down}_proj
//                           mlp.gate
// Dense layers (model.first_k_dense, layers [0, k)): mlp.{gate,up,down}_proj of intermediate_size,
// counted by deepseek's first_k_dense_replace and listed by qwen2_moe's mlp_only_layers.
// Every family: model.embed_tokens, model.layers.l.{input_layernorm, post_attention_layernorm},
// self_attn.{q,k,v,o}_proj (.bias for q/k/v with model.qkv_bias), self_attn.{q,k}_norm
// (model.qk_norm), model.norm, lm_head (absent when tied), score (classification head).
// DeepSeek-V2/V3's latent attention (model_type deepseek_v2, deepseek_v3) is out of scope.
#include <map>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/params.h"

namespace hf {

// "mixtral", "qwen2_moe", "olmoe", "deepseek".
const std::vector<std::string>& hf_family_names();
// A usage error naming the option when family is not one of hf_family_names().
void check_hf_family(const std::string& family);

// p's tensor name in family's layout (PEFT's name for an adapter tensor).
std::string hf_tensor_name(const ParamInfo& p, const std::string& family);

// A config.json's top-level fields (as text, data/json_fields.h) -> the model: model_type picks
// the family; architecture keys map to ModelConfig fields. Usage errors name an unknown
// model_type and every option the model cannot express (e.g. moe_layer_freq > 1). A listing key
// (qwen2_moe's mlp_only_layers) holds the count of its leading dense layers (data/hf_folder.cpp).
// where: the file, for messages. The tokenizer is left to the caller.
ModelConfig model_config_from_hf(const std::map<std::string, std::string>& fields, const std::string& where);

// The config.json of cfg in its family's keys (the inverse of model_config_from_hf).
std::string hf_config_json(const ModelConfig& cfg);

}  // namespace hf
