#include "model/config.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "model/hf_families.h"
#include "util/check.h"

namespace hf {

ModelConfig model_preset(const std::string& name) {
  ModelConfig c;
  c.preset = name;
  if (name == "tiny") {
    c.d_model = 64; c.n_layers = 2; c.n_heads = 4; c.n_kv_heads = 4;
    c.n_experts = 8; c.d_ff = 128; c.seq_len = 128;
  } else if (name == "small") {  // about 26M parameters, 4M active per token
    c.d_model = 256; c.n_layers = 4; c.n_heads = 8; c.n_kv_heads = 4;
    c.n_experts = 16; c.d_ff = 512; c.seq_len = 256;
  } else if (name == "base") {  // about 620M parameters, 50M active per token
    c.d_model = 768; c.n_layers = 8; c.n_heads = 12; c.n_kv_heads = 4;
    c.n_experts = 32; c.d_ff = 1024; c.seq_len = 512;
  } else {
    fail("model preset '" + name + "' is unknown", "use tiny, small or base");
  }
  return c;
}

uint32_t parse_lora_targets(const std::string& list) {
  uint32_t bits = 0;
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    const std::string name = list.substr(begin, end - begin);
    if (name == "wq") bits |= kLoraWq;
    else if (name == "wk") bits |= kLoraWk;
    else if (name == "wv") bits |= kLoraWv;
    else if (name == "wo") bits |= kLoraWo;
    else if (name == "w1") bits |= kLoraW1;
    else if (name == "w3") bits |= kLoraW3;
    else if (name == "w2") bits |= kLoraW2;
    else if (name == "attention") bits |= kLoraAttention;
    else if (name == "experts") bits |= kLoraExperts;
    else
      fail("train.lora_targets entry '" + name + "' is unknown",
           "list any of w1, w2, w3, wq, wk, wv, wo (or attention, experts), separated by commas");
    begin = end + 1;
  }
  return bits;
}

std::string lora_targets_text(uint32_t targets) {
  const std::pair<uint32_t, const char*> names[] = {{kLoraWq, "wq"}, {kLoraWk, "wk"}, {kLoraWv, "wv"}, {kLoraWo, "wo"},
                                                    {kLoraW1, "w1"}, {kLoraW3, "w3"}, {kLoraW2, "w2"}};
  std::string out;
  for (const auto& [bit, name] : names)
    if (targets & bit) out += (out.empty() ? "" : ",") + std::string(name);
  return out;
}

void ModelConfig::validate() const {
  auto positive = [](const char* key, int v) {
    if (v <= 0) fail(strf("model.%s=%d must be positive", key, v), "set it to 1 or more");
  };
  positive("vocab_size", vocab_size);
  positive("d_model", d_model);
  positive("n_layers", n_layers);
  positive("n_heads", n_heads);
  positive("n_kv_heads", n_kv_heads);
  positive("n_experts", n_experts);
  positive("top_k", top_k);
  positive("d_ff", d_ff);
  positive("seq_len", seq_len);
  if (d_model % n_heads != 0)
    fail(strf("model.d_model=%d is not divisible by model.n_heads=%d", d_model, n_heads),
         "choose n_heads dividing d_model");
  if (head_size() % 2 != 0)
    fail(strf("head size d_model/n_heads=%d is odd", head_size()), "rotary embedding needs an even head size");
  if (n_kv_heads > n_heads || n_heads % n_kv_heads != 0)
    fail(strf("model.n_kv_heads=%d does not divide model.n_heads=%d", n_kv_heads, n_heads),
         "use a divisor of n_heads (grouped-query attention)");
  if (top_k > n_experts)
    fail(strf("model.top_k=%d exceeds model.n_experts=%d", top_k, n_experts), "use top_k <= n_experts");
  if (n_classes < 0) fail(strf("model.n_classes=%d is negative", n_classes), "use 0 (no head) or the class count");
  if (!(rms_eps > 0)) fail("model.rms_eps must be positive", "use e.g. 1e-5");
  if (!(rope_theta > 0)) fail("model.rope_theta must be positive", "use e.g. 10000");
  if (aux_loss_coef < 0) fail("model.aux_loss_coef is negative", "use 0 or a small positive weight like 0.01");
  if (capacity_factor < 0) fail("model.capacity_factor is negative", "use 0 (dropless) or a factor >= 1");
  check_hf_family(hf_family);
  if (n_shared_experts < 0) fail(strf("model.n_shared_experts=%d is negative", n_shared_experts), "use 0 (none) or more");
  if (shared_d_ff < 0) fail(strf("model.shared_d_ff=%d is negative", shared_d_ff), "use 0 (= model.d_ff) or a size");
  if (shared_gate && n_shared_experts == 0)
    fail("model.shared_gate is set without shared experts", "set model.n_shared_experts, or drop model.shared_gate");
  if (first_k_dense < 0 || first_k_dense >= n_layers)
    fail(strf("model.first_k_dense=%d is outside [0, model.n_layers=%d)", first_k_dense, n_layers),
         "keep at least one MoE layer: use 0 (every layer MoE) up to n_layers - 1");
  if (dense_d_ff < 0) fail(strf("model.dense_d_ff=%d is negative", dense_d_ff), "use 0 (= model.d_ff) or a size");
  if (dense_d_ff > 0 && first_k_dense == 0)
    fail("model.dense_d_ff is set without dense layers", "set model.first_k_dense, or drop model.dense_d_ff");
  validate_lora();
}

void ModelConfig::validate_lora() const {
  if (lora.rank < 0) fail(strf("train.lora_rank=%d is negative", lora.rank), "use a rank of 1 or more, e.g. 8");
  if (!lora.enabled()) {
    if (lora.targets != 0)
      fail("train.lora_targets is set without adapters", "set train.adapter=lora and train.lora_rank, or drop the targets");
    if (lora.base_dtype != BaseDtype::fp32)
      fail(strf("train.base_dtype=%s needs adapters to train", base_dtype_name(lora.base_dtype)),
           "set train.adapter=lora, or keep train.base_dtype=fp32 for full fine-tuning");
    return;
  }
  if (lora.targets == 0) fail("train.adapter=lora has no train.lora_targets", "list e.g. w1,w2,w3,wq,wk,wv,wo");
  if (!(lora.alpha > 0)) fail("train.lora_alpha must be positive", "use e.g. 16 (PEFT's default) or 2 x the rank");
  // An adapter's rank is at most the smaller side of the tensor it adapts (else B A is not low-rank).
  const int QC = n_heads * head_size(), KVC = n_kv_heads * head_size();
  struct Side {
    uint32_t bit;
    const char* name;
    int smaller;
  };
  std::vector<Side> sides = {{kLoraWq, "wq", std::min(QC, d_model)}, {kLoraWk, "wk", std::min(KVC, d_model)},
                             {kLoraWv, "wv", std::min(KVC, d_model)}, {kLoraWo, "wo", std::min(QC, d_model)},
                             {kLoraW1, "w1", std::min(d_ff, d_model)}, {kLoraW3, "w3", std::min(d_ff, d_model)},
                             {kLoraW2, "w2", std::min(d_ff, d_model)}};
  const int FS = shared_ff();  // the shared experts' projections take the w1, w3, w2 adapters too
  if (FS > 0)
    sides.insert(sides.end(), {{kLoraW1, "the shared experts' w1", std::min(FS, d_model)},
                               {kLoraW3, "the shared experts' w3", std::min(FS, d_model)},
                               {kLoraW2, "the shared experts' w2", std::min(FS, d_model)}});
  const int FD = dense_ff();  // and the dense layers' MLP
  if (first_k_dense > 0)
    sides.insert(sides.end(), {{kLoraW1, "the dense layers' w1", std::min(FD, d_model)},
                               {kLoraW3, "the dense layers' w3", std::min(FD, d_model)},
                               {kLoraW2, "the dense layers' w2", std::min(FD, d_model)}});
  for (const Side& s : sides)
    if ((lora.targets & s.bit) && lora.rank > s.smaller)
      fail(strf("train.lora_rank=%d exceeds the smaller dimension (%d) of %s", lora.rank, s.smaller, s.name),
           strf("use a rank of at most %d, or leave %s out of train.lora_targets", s.smaller, s.name));
}

}  // namespace hf
