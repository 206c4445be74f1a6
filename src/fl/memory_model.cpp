#include "fl/memory_model.h"

#include <algorithm>
#include <cmath>

#include "model/frozen_base.h"
#include "model/params.h"
#include "util/check.h"

namespace hf {

MemoryModel::MemoryModel(const ModelConfig& m, Task task) : m_(m), task_(task) {
  ParamTable table(m);  // validates m and counts exactly what the model allocates
  all_params_ = static_cast<double>(table.total());
  block_ = static_cast<double>(table.expert_block_size());
  shared_params_ = all_params_ - static_cast<double>(m.moe_layers()) * m.n_experts * block_;
  if (m.lora.enabled()) {
    ModelConfig full = m;
    full.lora = LoraConfig{};
    base_bytes_ = static_cast<double>(FrozenBase::bytes_for(ParamTable(full), m.lora.base_dtype));
  }
}

double MemoryModel::full_routed_rows(int rows, int T) const {
  return static_cast<double>(m_.moe_layers()) * rows * T * m_.top_k;
}

// Floats per token, per row and per routed row, as model/model.cpp allocates them:
//   per layer and token  resid C, ln1 C, h C, ln2 C, q and atty 2*NH*HS, k and v 2*NKV*HS,
//                        attention probabilities NH*T, two rstd
//   per MoE layer, token router probabilities E, top-k ids and weights, permutation and
//                        positions (4K)
//   once per token       final residual C, lnf C, rstdf, loss, correct, token, target, valid flag,
//                        router logits E; backward: dres, dln C each, dq, datty NH*HS each,
//                        dk, dv NKV*HS each, datt NH*T, drouter logits E, dtop-k weights K;
//                        LM: logits and their gradient 2V
//   once per row         classification: pooled and its gradient 2C, logits and gradient 2*NC
//   per routed row       kept per MoE layer: xs C, h1 F, h3 F, act F, ys C; and once (the
//                        backward's one-layer workspace) the same 3F + 2C
//   family features      per layer and token: q/k norm inputs NH*HS + NKV*HS and two rstd
//                        (qk_norm); per MoE layer and token the shared experts' sh1, sh3, act 3FS
//                        and, gated, their output C and gate logit; per dense layer and token the
//                        MLP's sh1, sh3, act 3FD (model.first_k_dense); once per token the
//                        backward's workspace of the widest of them (and the gate's C + 1), and a
//                        ones vector for q/k/v biases over a frozen base
double MemoryModel::fixed_bytes(int rows, int T, double routed_rows) const {
  const double C = m_.d_model, HS = m_.head_size(), NH = m_.n_heads, NKV = m_.n_kv_heads, E = m_.n_experts;
  const double K = m_.top_k, F = m_.d_ff, L = m_.n_layers, V = m_.vocab_size, NC = m_.n_classes;
  const double FS = m_.shared_ff(), LM = m_.moe_layers(), LD = m_.first_k_dense, FD = LD > 0 ? m_.dense_ff() : 0;
  const double tokens = static_cast<double>(rows) * T;
  const double qk_norm = m_.qk_norm ? NH * HS + NKV * HS : 0;
  const double gate = m_.shared_gate ? C + 1 : 0;
  const double per_layer_token = 4 * C + 2 * NH * HS + 2 * NKV * HS + NH * T + 2 + qk_norm + (m_.qk_norm ? 2 : 0);
  const double per_moe_layer_token = E + 4 * K + 3 * FS + gate;
  const double backward_token = 2 * C + 2 * NH * HS + 2 * NKV * HS + NH * T + E + K + qk_norm +
                                3 * std::max(FS, FD) + gate + (m_.qkv_bias && m_.lora.enabled() ? 1 : 0);
  const double once_token = 2 * C + 5.25 + E + backward_token + (task_ == Task::lm ? 2 * V : 0);
  const double per_row = task_ == Task::classify ? 2 * C + 2 * NC : 0;
  const double routed_row = 3 * F + 2 * C;
  double activation_floats = tokens * (L * per_layer_token + LM * per_moe_layer_token + LD * 3 * FD + once_token) +
                             rows * per_row + routed_rows * routed_row + routed_rows / LM * routed_row;
  if (m_.lora.enabled()) {
    // Each adapter keeps A x (r floats a row) for its backward; one (A, r) scratch for dA and
    // one dequantised tile of the base.
    const LoraConfig& lora = m_.lora;
    const double r = lora.rank, QC = NH * HS;
    const double attention_adapters = __builtin_popcount(lora.targets & kLoraAttention);
    const double expert_adapters = __builtin_popcount(lora.targets & kLoraExperts);
    // The w1 w3 w2 targets adapt the shared experts (per MoE layer) and the dense MLP (per dense layer) too.
    const double shared_adapters = FS > 0 ? expert_adapters : 0;
    activation_floats += tokens * r * (L * attention_adapters + LM * shared_adapters + LD * expert_adapters) +
                         routed_rows * r * expert_adapters + routed_rows / LM * r +
                         kFrozenTileRows * std::max({C, F, QC, FS, FD});
  }
  return base_bytes_ + 4 * all_params_ + 16 * shared_params_ + 4 * activation_floats;
}

BudgetDerivation derive_budget(const DeviceProfile& p, const ModelConfig& m, Task task, int batch, int seq_len) {
  if (batch <= 0 || seq_len <= 0)
    fail(strf("budget needs a positive batch and sequence length, got batch=%d seq_len=%d", batch, seq_len),
         "set batch_size and seq_len to 1 or more");
  const MemoryModel mem(m, task);
  BudgetDerivation d;
  d.fixed_bytes = mem.fixed_bytes(batch, seq_len, mem.full_routed_rows(batch, seq_len));
  d.per_expert_bytes = m.moe_layers() * mem.trained_expert_bytes();
  d.free_bytes = p.memory_gb * kBytesPerGB - d.fixed_bytes;
  double fit = d.free_bytes > 0 ? std::floor(d.free_bytes / d.per_expert_bytes) : 0;
  d.budget = static_cast<int>(std::min(fit, static_cast<double>(m.n_experts)));
  return d;
}

std::string BudgetDerivation::explain() const {
  return strf("C_budget=%d experts/layer: memory %.4g GB - fixed %.4g GB (weights, dense training state, "
              "activations of every routed expert) = free %.4g GB, at %.4g GB per trained expert (all layers)",
              budget, (free_bytes + fixed_bytes) / kBytesPerGB, fixed_bytes / kBytesPerGB, free_bytes / kBytesPerGB,
              per_expert_bytes / kBytesPerGB);
}

}  // namespace hf
