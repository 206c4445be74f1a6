#pragma once
// The parameter table: every tensor of the model at a fixed offset in one flat fp32 arena,
// addressable by (kind, layer, expert). The same table lays out gradients and optimizer
// moments, so "expert e of layer l" is one contiguous range [begin, end) in all of them:
// the unit that HFedMoE selects, masks, exchanges and aggregates.
//
// Order in the arena (and shapes, PyTorch nn.Linear convention (out, in)):
//   tok_emb (V, C)
//   per layer l: attn_norm (C), wq (NH*HS, C), [bq (NH*HS)], wk (NKV*HS, C), [bk (NKV*HS)],
//                wv (NKV*HS, C), [bv (NKV*HS)], [q_norm (NH*HS), k_norm (NKV*HS)], wo (C, NH*HS),
//                ffn_norm (C), then
//                a dense layer (l < model.first_k_dense): mlp: wm1 (FD, C), wm3 (FD, C), wm2 (C, FD)
//                a MoE layer: router (E, C),
//                [shared: ws1 (FS, C), ws3 (FS, C), ws2 (C, FS), [ws_gate (1, C)]]
//                per expert e: w1 (F, C), w3 (F, C), w2 (C, F)      <- one contiguous block
//   ([..]: only with model.qkv_bias, model.qk_norm, model.n_shared_experts, model.shared_gate;
//   the shared experts and the dense layers' MLP are dense parameters, outside every expert block)
//   final_norm (C), lm_head (V, C) unless tied, cls_w (NC, C) and cls_b (NC) when NC > 0
// HDF5 names (checkpoint /model group): tok_emb, layer_<l>/attn_norm, ..., layer_<l>/router,
// layer_<l>/shared/w1 (w3, w2, gate), layer_<l>/mlp/w1 (w3, w2), layer_<l>/expert_<e>/w1, final_norm, lm_head, cls_head/w,
// cls_head/b.
//
// With LoRA adapters (cfg.lora.enabled()) the arena holds what is trained: the seven linear
// kinds (wq wk wv wo w1 w3 w2) leave it for the frozen base (model/frozen_base.h), and each
// targeted one is replaced, in its place, by its adapter A (r, IC) then B (OC, r), named
// "<name>_lora_A" / "<name>_lora_B". An expert's block is then its adapters, still one
// contiguous range (empty when no expert kind is targeted):
//   per expert e: w1_lora_A (r, C), w1_lora_B (F, r), w3_lora_A, w3_lora_B, w2_lora_A (r, F), w2_lora_B (C, r)
//
// Routing-facing indices (expert_block, router, and every (L, E) array of the FL code) count
// MoE layers only: MoE layer m is model layer cfg.model_layer(m) = first_k_dense + m. Dense
// layers have no experts, so "expert e of MoE layer m" stays one PE-sized range for every (m, e).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace hf {

enum class ParamKind {
  tok_emb, attn_norm, wq, wk, wv, wo, ffn_norm, router, w1, w3, w2, final_norm, lm_head, cls_w, cls_b,
  wq_lora_a, wq_lora_b, wk_lora_a, wk_lora_b, wv_lora_a, wv_lora_b, wo_lora_a, wo_lora_b,
  w1_lora_a, w1_lora_b, w3_lora_a, w3_lora_b, w2_lora_a, w2_lora_b,
  bq, bk, bv, q_norm, k_norm,  // attention biases (Qwen2) and q/k norms (OLMoE)
  ws1, ws3, ws2, ws_gate,      // the shared experts' SwiGLU and their sigmoid gate (DeepSeekMoE, Qwen2-MoE)
  ws1_lora_a, ws1_lora_b, ws3_lora_a, ws3_lora_b, ws2_lora_a, ws2_lora_b,
  wm1, wm3, wm2,               // a dense layer's SwiGLU MLP (model.first_k_dense)
  wm1_lora_a, wm1_lora_b, wm3_lora_a, wm3_lora_b, wm2_lora_a, wm2_lora_b,
};
constexpr int kParamKinds = static_cast<int>(ParamKind::wm2_lora_b) + 1;
const char* param_kind_name(ParamKind k);
// The linear kinds a LoRA run freezes (wq wk wv wo w1 w3 w2, and the shared experts' ws1 ws3
// ws2 and the dense layers' wm1 wm3 wm2, which the w1, w3, w2 targets adapt too), their LoraTarget bit and their adapters' kinds.
bool is_adaptable(ParamKind k);
uint32_t lora_target_bit(ParamKind base);
ParamKind lora_a_kind(ParamKind base);
ParamKind lora_b_kind(ParamKind base);
bool is_lora_a(ParamKind k);
bool is_lora_b(ParamKind k);

struct Range {
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};

struct ParamInfo {
  std::string name;             // HDF5 path below /model, e.g. "layer_0/expert_3/w1"
  ParamKind kind;
  int layer = -1;               // -1 for tensors outside the blocks
  int expert = -1;              // -1 for non-expert tensors
  size_t offset = 0;            // in floats, into the arena
  std::vector<int64_t> shape;
  size_t numel() const;
  bool is_expert() const { return expert >= 0; }
};

class ParamTable {
 public:
  explicit ParamTable(const ModelConfig& cfg);
  const ModelConfig& config() const { return cfg_; }
  const std::vector<ParamInfo>& tensors() const { return tensors_; }
  size_t total() const { return total_; }  // floats in the arena
  // The tensor of this kind (layer/expert -1 where not applicable); a check failure if absent.
  const ParamInfo& get(ParamKind kind, int layer = -1, int expert = -1) const;
  const ParamInfo* find(const std::string& name) const;  // nullptr if absent
  // w1, w3, w2 (or their adapters) of expert e of MoE layer m (model layer cfg.model_layer(m)).
  Range expert_block(int moe_layer, int expert) const;
  size_t expert_block_size() const { return expert_block_size_; }
  Range router(int moe_layer) const;
  // Every range that is neither an expert block nor a router: embeddings, attention, norms, heads.
  std::vector<Range> dense_ranges() const;
  size_t active_params_per_token() const;  // what one token touches: dense + router + K experts

 private:
  ModelConfig cfg_;
  std::vector<ParamInfo> tensors_;
  std::vector<size_t> expert_offset_;  // (LM, E) offset of w1
  size_t total_ = 0;
  size_t expert_block_size_ = 0;
};

}  // namespace hf
