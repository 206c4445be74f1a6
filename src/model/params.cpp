#include "model/params.h"

#include "util/check.h"

namespace hf {

const char* param_kind_name(ParamKind k) {
  static const char* names[] = {"tok_emb",   "attn_norm", "wq",        "wk",        "wv",        "wo",
                                "ffn_norm",  "router",    "w1",        "w3",        "w2",        "final_norm",
                                "lm_head",   "cls_w",     "cls_b",     "wq_lora_a", "wq_lora_b", "wk_lora_a",
                                "wk_lora_b", "wv_lora_a", "wv_lora_b", "wo_lora_a", "wo_lora_b", "w1_lora_a",
                                "w1_lora_b", "w3_lora_a", "w3_lora_b", "w2_lora_a", "w2_lora_b", "bq",
                                "bk",        "bv",        "q_norm",    "k_norm",    "ws1",       "ws3",
                                "ws2",       "ws_gate",   "ws1_lora_a", "ws1_lora_b", "ws3_lora_a", "ws3_lora_b",
                                "ws2_lora_a", "ws2_lora_b", "wm1",        "wm3",        "wm2",
                                "wm1_lora_a", "wm1_lora_b", "wm3_lora_a", "wm3_lora_b", "wm2_lora_a", "wm2_lora_b"};
  static_assert(sizeof(names) / sizeof(names[0]) == kParamKinds, "a name for every kind");
  return names[static_cast<int>(k)];
}

namespace {
struct Adaptable {
  ParamKind base;
  uint32_t bit;
  ParamKind a, b;
};
constexpr Adaptable kAdaptable[] = {
    {ParamKind::wq, kLoraWq, ParamKind::wq_lora_a, ParamKind::wq_lora_b},
    {ParamKind::wk, kLoraWk, ParamKind::wk_lora_a, ParamKind::wk_lora_b},
    {ParamKind::wv, kLoraWv, ParamKind::wv_lora_a, ParamKind::wv_lora_b},
    {ParamKind::wo, kLoraWo, ParamKind::wo_lora_a, ParamKind::wo_lora_b},
    {ParamKind::w1, kLoraW1, ParamKind::w1_lora_a, ParamKind::w1_lora_b},
    {ParamKind::w3, kLoraW3, ParamKind::w3_lora_a, ParamKind::w3_lora_b},
    {ParamKind::w2, kLoraW2, ParamKind::w2_lora_a, ParamKind::w2_lora_b},
    {ParamKind::ws1, kLoraW1, ParamKind::ws1_lora_a, ParamKind::ws1_lora_b},
    {ParamKind::ws3, kLoraW3, ParamKind::ws3_lora_a, ParamKind::ws3_lora_b},
    {ParamKind::ws2, kLoraW2, ParamKind::ws2_lora_a, ParamKind::ws2_lora_b},
    {ParamKind::wm1, kLoraW1, ParamKind::wm1_lora_a, ParamKind::wm1_lora_b},
    {ParamKind::wm3, kLoraW3, ParamKind::wm3_lora_a, ParamKind::wm3_lora_b},
    {ParamKind::wm2, kLoraW2, ParamKind::wm2_lora_a, ParamKind::wm2_lora_b},
};
const Adaptable& adaptable(ParamKind base) {
  for (const Adaptable& a : kAdaptable)
    if (a.base == base) return a;
  HF_CHECK(false, "%s is not a linear kind LoRA adapts", param_kind_name(base));
  __builtin_unreachable();
}
}  // namespace

bool is_adaptable(ParamKind k) {
  for (const Adaptable& a : kAdaptable)
    if (a.base == k) return true;
  return false;
}
uint32_t lora_target_bit(ParamKind base) { return adaptable(base).bit; }
ParamKind lora_a_kind(ParamKind base) { return adaptable(base).a; }
ParamKind lora_b_kind(ParamKind base) { return adaptable(base).b; }
bool is_lora_a(ParamKind k) {
  for (const Adaptable& a : kAdaptable)
    if (a.a == k) return true;
  return false;
}
bool is_lora_b(ParamKind k) {
  for (const Adaptable& a : kAdaptable)
    if (a.b == k) return true;
  return false;
}

size_t ParamInfo::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

ParamTable::ParamTable(const ModelConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  const int64_t C = cfg.d_model, V = cfg.vocab_size, HS = cfg.head_size();
  const int64_t NH = cfg.n_heads, NKV = cfg.n_kv_heads, E = cfg.n_experts, F = cfg.d_ff, FS = cfg.shared_ff();
  const int64_t FD = cfg.dense_ff();
  auto add = [&](std::string name, ParamKind kind, int layer, int expert, std::vector<int64_t> shape) {
    ParamInfo p{std::move(name), kind, layer, expert, total_, std::move(shape)};
    total_ += p.numel();
    tensors_.push_back(std::move(p));
  };
  // A linear layer W (OC, IC): itself, or with adapters its A and B when targeted, or nothing
  // (the frozen base holds it).
  const LoraConfig& lora = cfg.lora;
  auto linear = [&](const std::string& name, ParamKind kind, int layer, int expert, int64_t OC, int64_t IC) {
    if (!lora.enabled()) {
      add(name, kind, layer, expert, {OC, IC});
    } else if (lora.targets & lora_target_bit(kind)) {
      add(name + "_lora_A", lora_a_kind(kind), layer, expert, {lora.rank, IC});
      add(name + "_lora_B", lora_b_kind(kind), layer, expert, {OC, lora.rank});
    }
  };
  add("tok_emb", ParamKind::tok_emb, -1, -1, {V, C});
  expert_offset_.resize(static_cast<size_t>(cfg.moe_layers()) * E);
  for (int l = 0; l < cfg.n_layers; l++) {
    std::string pre = strf("layer_%d/", l);
    add(pre + "attn_norm", ParamKind::attn_norm, l, -1, {C});
    linear(pre + "wq", ParamKind::wq, l, -1, NH * HS, C);
    if (cfg.qkv_bias) add(pre + "bq", ParamKind::bq, l, -1, {NH * HS});
    linear(pre + "wk", ParamKind::wk, l, -1, NKV * HS, C);
    if (cfg.qkv_bias) add(pre + "bk", ParamKind::bk, l, -1, {NKV * HS});
    linear(pre + "wv", ParamKind::wv, l, -1, NKV * HS, C);
    if (cfg.qkv_bias) add(pre + "bv", ParamKind::bv, l, -1, {NKV * HS});
    if (cfg.qk_norm) {
      add(pre + "q_norm", ParamKind::q_norm, l, -1, {NH * HS});
      add(pre + "k_norm", ParamKind::k_norm, l, -1, {NKV * HS});
    }
    linear(pre + "wo", ParamKind::wo, l, -1, C, NH * HS);
    add(pre + "ffn_norm", ParamKind::ffn_norm, l, -1, {C});
    if (cfg.is_dense_layer(l)) {
      linear(pre + "mlp/w1", ParamKind::wm1, l, -1, FD, C);
      linear(pre + "mlp/w3", ParamKind::wm3, l, -1, FD, C);
      linear(pre + "mlp/w2", ParamKind::wm2, l, -1, C, FD);
      continue;
    }
    const size_t m = static_cast<size_t>(l - cfg.first_k_dense);  // the MoE layer
    add(pre + "router", ParamKind::router, l, -1, {E, C});
    if (FS > 0) {
      linear(pre + "shared/w1", ParamKind::ws1, l, -1, FS, C);
      linear(pre + "shared/w3", ParamKind::ws3, l, -1, FS, C);
      linear(pre + "shared/w2", ParamKind::ws2, l, -1, C, FS);
      if (cfg.shared_gate) add(pre + "shared/gate", ParamKind::ws_gate, l, -1, {1, C});
    }
    for (int e = 0; e < E; e++) {
      std::string ex = pre + strf("expert_%d/", e);
      expert_offset_[m * E + e] = total_;
      linear(ex + "w1", ParamKind::w1, l, e, F, C);
      linear(ex + "w3", ParamKind::w3, l, e, F, C);
      linear(ex + "w2", ParamKind::w2, l, e, C, F);
      expert_block_size_ = total_ - expert_offset_[m * E + e];
    }
  }
  add("final_norm", ParamKind::final_norm, -1, -1, {C});
  if (!cfg.tie_embeddings) add("lm_head", ParamKind::lm_head, -1, -1, {V, C});
  if (cfg.n_classes > 0) {
    add("cls_head/w", ParamKind::cls_w, -1, -1, {cfg.n_classes, C});
    add("cls_head/b", ParamKind::cls_b, -1, -1, {cfg.n_classes});
  }
}

const ParamInfo& ParamTable::get(ParamKind kind, int layer, int expert) const {
  for (const auto& p : tensors_)
    if (p.kind == kind && p.layer == layer && p.expert == expert) return p;
  HF_CHECK(false, "no tensor %s layer %d expert %d in this model", param_kind_name(kind), layer, expert);
  __builtin_unreachable();
}

const ParamInfo* ParamTable::find(const std::string& name) const {
  for (const auto& p : tensors_)
    if (p.name == name) return &p;
  return nullptr;
}

Range ParamTable::expert_block(int moe_layer, int expert) const {
  HF_CHECK(moe_layer >= 0 && moe_layer < cfg_.moe_layers() && expert >= 0 && expert < cfg_.n_experts,
           "expert (%d, %d) out of range", moe_layer, expert);
  size_t b = expert_offset_[static_cast<size_t>(moe_layer) * cfg_.n_experts + expert];
  return {b, b + expert_block_size()};
}

Range ParamTable::router(int moe_layer) const {
  const ParamInfo& p = get(ParamKind::router, cfg_.model_layer(moe_layer));
  return {p.offset, p.offset + p.numel()};
}

std::vector<Range> ParamTable::dense_ranges() const {
  std::vector<Range> out;
  for (const auto& p : tensors_) {
    if (p.is_expert() || p.kind == ParamKind::router) continue;
    if (!out.empty() && out.back().end == p.offset)
      out.back().end += p.numel();
    else
      out.push_back({p.offset, p.offset + p.numel()});
  }
  return out;
}

size_t ParamTable::active_params_per_token() const {
  size_t experts_all = static_cast<size_t>(cfg_.moe_layers()) * cfg_.n_experts * expert_block_size();
  size_t experts_active = static_cast<size_t>(cfg_.moe_layers()) * cfg_.top_k * expert_block_size();
  return total_ - experts_all + experts_active;
}

}  // namespace hf
