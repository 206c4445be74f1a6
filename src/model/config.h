#pragma once
// Model hyper-parameters. Presets are data (model/config.cpp), not code paths.
// Dimension letters used across model code:
//   B batch, T time (sequence), C d_model, NH query heads, NKV key/value heads,
//   HS head size (C / NH), E experts, K top-k, F expert d_ff, FS shared-expert d_ff (all shared
//   experts together), FD dense-layer d_ff, LM MoE layers (L - model.first_k_dense), V vocabulary,
//   NC classes.
#include <cstdint>
#include <string>

#include "ops/frozen_weight.h"

namespace hf {

// The linear layers a LoRA adapter can sit on, as bits of LoraConfig::targets.
enum LoraTarget : uint32_t {
  kLoraWq = 1u << 0, kLoraWk = 1u << 1, kLoraWv = 1u << 2, kLoraWo = 1u << 3,
  kLoraW1 = 1u << 4, kLoraW3 = 1u << 5, kLoraW2 = 1u << 6,
};
constexpr uint32_t kLoraAttention = kLoraWq | kLoraWk | kLoraWv | kLoraWo;
constexpr uint32_t kLoraExperts = kLoraW1 | kLoraW3 | kLoraW2;

// Parameter-efficient fine-tuning (train.adapter=lora): the seven linear kinds (attention's
// wq, wk, wv, wo and every expert's w1, w3, w2) become a frozen base stored at base_dtype, and
// the targeted ones get an adapter, y = W x + (alpha / rank) B (A x). Embeddings, norms,
// routers and heads stay trained in full (they are small). rank 0: no adapters, every weight
// trained (the default, and the only mode the federated engine runs so far).
struct LoraConfig {
  int rank = 0;
  float alpha = 16.0f;
  uint32_t targets = 0;  // LoraTarget bits
  BaseDtype base_dtype = BaseDtype::fp32;
  bool enabled() const { return rank > 0; }
  float scale() const { return alpha / rank; }
};

// "w1,w2,w3,wq,wk,wv,wo" (any subset, comma-separated; "experts" and "attention" name the
// groups) -> LoraTarget bits; a usage error naming an unknown entry.
uint32_t parse_lora_targets(const std::string& list);
// The inverse: the targeted kinds, comma-separated, in the model's order (wq,wk,wv,wo,w1,w3,w2).
std::string lora_targets_text(uint32_t targets);

struct ModelConfig {
  std::string preset = "tiny";
  // Which tokenizer the vocabulary belongs to: "byte260" (model/tokenizer.h) or
  // "sha256:<hex>" of a model folder's tokenizer file (data/tokenizer_id.h). A dataset
  // records the same identity, and training refuses a dataset of another tokenizer.
  std::string tokenizer = "byte260";
  int vocab_size = 260;  // byte-level: 256 bytes + pad, bos, eos, cls (model/tokenizer.h)
  int d_model = 64;      // C
  int n_layers = 2;      // L
  int n_heads = 4;       // NH
  int n_kv_heads = 4;    // NKV; grouped-query attention when < NH
  int n_experts = 8;     // E
  int top_k = 2;         // K
  int d_ff = 128;        // F, per expert
  int seq_len = 128;     // maximum T
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool tie_embeddings = false;
  int n_classes = 0;          // NC; > 0 adds the sequence-classification head
  float aux_loss_coef = 0.0f; // Switch/Mixtral load-balancing loss weight
  float capacity_factor = 0;  // 0: dropless; else each expert takes <= ceil(cf * N * K / E) tokens
  // Architecture features of the pretrained families (defaults: Mixtral, the model before them).
  bool norm_topk_prob = true;  // renormalise the top-k gates to sum to 1 (Mixtral); false: raw G (Qwen2-MoE, OLMoE)
  bool qkv_bias = false;       // q, k, v projections have biases (Qwen2)
  bool qk_norm = false;        // RMSNorm over the whole q (NH*HS) and k (NKV*HS) projections before RoPE (OLMoE)
  // Shared experts every token passes through (DeepSeekMoE, Qwen2-MoE), computed as one SwiGLU
  // MLP of FS = n_shared_experts * shared_d_ff (the sum of the experts' outputs is exactly that).
  // Dense parameters: trained and aggregated like attention, never selected as routed experts.
  int n_shared_experts = 0;
  int shared_d_ff = 0;         // per shared expert; 0 = d_ff
  bool shared_gate = false;    // scale the shared output by sigmoid(gate · x) per token (Qwen2-MoE)
  // Dense layers before the first MoE layer (DeepSeekMoE's first_k_dense_replace): layers
  // [0, first_k_dense) have one dense SwiGLU MLP of FD = dense_ff() instead of router, routed
  // and shared experts. Dense parameters, like the shared experts. The routing-facing (L, E)
  // arrays count the LM = moe_layers() MoE layers only (model/params.h).
  int first_k_dense = 0;
  int dense_d_ff = 0;          // FD; 0 = d_ff
  LoraConfig lora;            // adapters over a frozen base; rank 0 = none
  // The Hugging Face family whose tensor names and config.json keys export writes
  // (model/hf_families.h); an imported model keeps its folder's model_type.
  std::string hf_family = "mixtral";

  int head_size() const { return d_model / n_heads; }
  int shared_ff() const { return n_shared_experts * (shared_d_ff > 0 ? shared_d_ff : d_ff); }  // FS
  int dense_ff() const { return dense_d_ff > 0 ? dense_d_ff : d_ff; }                           // FD
  int moe_layers() const { return n_layers - first_k_dense; }                                   // LM
  bool is_dense_layer(int layer) const { return layer < first_k_dense; }
  int model_layer(int moe_layer) const { return first_k_dense + moe_layer; }  // MoE layer index -> model layer
  // Throws a usage error naming the field when the shape is inconsistent.
  void validate() const;
  void validate_lora() const;  // the adapter options alone (part of validate())
};

// Returns the named preset ("tiny", "small", "base"); a usage error for any other name.
ModelConfig model_preset(const std::string& name);

}  // namespace hf
