// The client memory of one training step for real pretrained MoEs, as the memory model
// (fl/memory_model.h) computes it: a table for docs/user-guide.md, "Bring a pretrained model".
// Nothing is run; the configs are the published config.json files' architecture keys, read by
// the same mapping as an import (model/hf_families.h).
//   build/bench_memory_families [--seq 512] [--batch 1]
// DeepSeekMoE-16B's first layer is a dense FFN (first_k_dense_replace = 1), which hfedmoe cannot
// express yet: it is counted here as an MoE layer like the others (its import is refused).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "data/json_fields.h"
#include "fl/memory_model.h"
#include "model/frozen_base.h"
#include "model/hf_families.h"

namespace {

struct Published {
  const char* name;
  const char* config;  // the architecture keys of the model's config.json
};

const Published kModels[] = {
    {"OLMoE-1B-7B-0924",
     R"({"model_type": "olmoe", "vocab_size": 50304, "hidden_size": 2048, "num_hidden_layers": 16,
         "num_attention_heads": 16, "num_key_value_heads": 16, "num_experts": 64, "num_experts_per_tok": 8,
         "intermediate_size": 1024, "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
         "norm_topk_prob": false, "clip_qkv": null, "attention_bias": false, "tie_word_embeddings": false,
         "hidden_act": "silu"})"},
    {"Qwen1.5-MoE-A2.7B",
     R"({"model_type": "qwen2_moe", "vocab_size": 151936, "hidden_size": 2048, "num_hidden_layers": 24,
         "num_attention_heads": 16, "num_key_value_heads": 16, "num_experts": 60, "num_experts_per_tok": 4,
         "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632, "max_position_embeddings": 8192,
         "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "norm_topk_prob": false, "decoder_sparse_step": 1,
         "use_sliding_window": false, "tie_word_embeddings": false, "hidden_act": "silu"})"},
    {"DeepSeekMoE-16B",
     R"({"model_type": "deepseek", "vocab_size": 102400, "hidden_size": 2048, "num_hidden_layers": 28,
         "num_attention_heads": 16, "num_key_value_heads": 16, "n_routed_experts": 64, "num_experts_per_tok": 6,
         "moe_intermediate_size": 1408, "n_shared_experts": 2, "first_k_dense_replace": 1,
         "intermediate_size": 10944, "moe_layer_freq": 1,
         "max_position_embeddings": 4096, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "norm_topk_prob": false,
         "scoring_func": "softmax", "attention_bias": false, "tie_word_embeddings": false, "hidden_act": "silu"})"},
    {"Mixtral-8x7B-v0.1",
     R"({"model_type": "mixtral", "vocab_size": 32000, "hidden_size": 4096, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 8, "num_local_experts": 8, "num_experts_per_tok": 2,
         "intermediate_size": 14336, "max_position_embeddings": 32768, "rms_norm_eps": 1e-05,
         "rope_theta": 1000000.0, "sliding_window": null, "tie_word_embeddings": false, "hidden_act": "silu"})"},
};

double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

}  // namespace

int main(int argc, char** argv) {
  int seq = 512, batch = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seq")) seq = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoi(argv[i + 1]);
    else { std::fprintf(stderr, "error: unknown option %s; use --seq N --batch N\n", argv[i]); return 2; }
  }
  std::printf("Client memory of one step, batch %d x %d tokens, every routed expert trained (GiB)\n\n", batch, seq);
  std::printf("| model | parameters | full fp32 | LoRA r=8 over nf4 | nf4 base alone |\n|---|---|---|---|---|\n");
  for (const Published& m : kModels) {
    hf::ModelConfig cfg = hf::model_config_from_hf(hf::json_object_fields(m.config, m.name), m.name);
    cfg.seq_len = seq;
    const hf::MemoryModel full(cfg, hf::Task::lm);
    const double all = static_cast<double>(cfg.moe_layers()) * cfg.n_experts;
    const double full_bytes = full.step_bytes(batch, seq, full.full_routed_rows(batch, seq), static_cast<int>(all), 0);
    hf::ModelConfig lora = cfg;
    lora.lora.rank = 8;
    lora.lora.alpha = 16;
    lora.lora.targets = hf::kLoraAttention | hf::kLoraExperts;
    lora.lora.base_dtype = hf::BaseDtype::nf4;
    const hf::MemoryModel adapters(lora, hf::Task::lm);
    const double lora_bytes =
        adapters.step_bytes(batch, seq, adapters.full_routed_rows(batch, seq), static_cast<int>(all), 0);
    const hf::ParamTable table(cfg);
    const double params = static_cast<double>(table.total());
    const double base = static_cast<double>(hf::FrozenBase::bytes_for(table, hf::BaseDtype::nf4));
    std::printf("| %s | %.2f B | %.1f | %.1f | %.1f |\n", m.name, params / 1e9, gib(full_bytes), gib(lora_bytes),
                gib(base));
  }
  return 0;
}
