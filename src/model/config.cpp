#include "model/config.h"

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
}

}  // namespace hf
