#pragma once
// Model hyper-parameters. Presets are data (model/config.cpp), not code paths.
// Dimension letters used across model code:
//   B batch, T time (sequence), C d_model, NH query heads, NKV key/value heads,
//   HS head size (C / NH), E experts, K top-k, F expert d_ff, V vocabulary, NC classes.
#include <cstdint>
#include <string>

namespace hf {

struct ModelConfig {
  std::string preset = "tiny";
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

  int head_size() const { return d_model / n_heads; }
  // Throws a usage error naming the field when the shape is inconsistent.
  void validate() const;
};

// Returns the named preset ("tiny", "small", "base"); a usage error for any other name.
ModelConfig model_preset(const std::string& name);

}  // namespace hf
