#pragma once
// The model in Hugging Face's safetensors format with its family's tensor names (model.hf_family,
// model/hf_families.h; Mixtral's below), so weights move between hfedmoe and the transformers
// ecosystem without conversion code.
//
// File: 8 bytes little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"format": "pt", "hfedmoe_config": "<resolved INI>", ...}}
// padded with spaces to a multiple of 8, then the raw little-endian tensor bytes.
//
// Names (ParamTable -> HF), l = layer, e = expert:
//   tok_emb                model.embed_tokens.weight
//   layer_l/attn_norm      model.layers.l.input_layernorm.weight
//   layer_l/wq|wk|wv|wo    model.layers.l.self_attn.{q,k,v,o}_proj.weight
//   layer_l/ffn_norm       model.layers.l.post_attention_layernorm.weight
//   layer_l/router         model.layers.l.block_sparse_moe.gate.weight
//   layer_l/expert_e/w1|w2|w3  model.layers.l.block_sparse_moe.experts.e.{w1,w2,w3}.weight
//   final_norm             model.norm.weight
//   lm_head                lm_head.weight (absent when embeddings are tied, as in HF)
//   cls_head/w, cls_head/b score.weight, score.bias (HF's classification head has no bias)
// Shapes are the same in both (nn.Linear (out, in)); RoPE uses HF's rotate_half pairing, so
// q and k need no permutation.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/hf_families.h"
#include "model/params.h"

namespace hf {

// How a file names the table's tensors; nullptr: the names of the table's family
// (hf_tensor_name with model.hf_family), else e.g. PEFT's layout (data/peft.h).
using TensorNamer = std::function<std::string(const ParamInfo&)>;
// Tensors a file may lack (params keeps what it holds there); nullptr: none.
using MayLack = std::function<bool(const ParamInfo&)>;

// Writes every tensor of the table as F32, atomically (<path>.tmp, fsync, rename).
void save_safetensors(const std::string& path, const ParamTable& table, const float* params,
                      const std::map<std::string, std::string>& metadata, const TensorNamer& name = nullptr);
// The file's __metadata__ (empty if it has none); a usage error if the header is malformed.
std::map<std::string, std::string> safetensors_metadata(const std::string& path);
// Reads every tensor of the table (F32, BF16 or F16 in the file, converted to fp32) into
// params (table.total() floats). Usage errors name the file and the tensor: missing, wrong
// shape or dtype, data outside the file, or a tensor the model does not have (may_lack: the
// tensors that may be absent).
void load_safetensors(const std::string& path, const ParamTable& table, float* params, const TensorNamer& name = nullptr,
                      const MayLack& may_lack = nullptr);
// The same over a model split into shards (model-00001-of-00004.safetensors, ...): each tensor
// in exactly one of paths, read tensor by tensor from a memory map of its file into params.
void load_safetensors_shards(const std::vector<std::string>& paths, const ParamTable& table, float* params,
                             const TensorNamer& name = nullptr, const MayLack& may_lack = nullptr);
// s as a JSON string literal, quotes included (the header's and other small JSON files').
std::string json_quote(const std::string& s);
// The name and shape of every tensor in the file (for telling what a foreign file holds).
std::map<std::string, std::vector<int64_t>> safetensors_shapes(const std::string& path);

}  // namespace hf
