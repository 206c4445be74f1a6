#include "model/hf_families.h"

#include <cstdlib>

#include "util/check.h"

namespace hf {
namespace {

// One family's names and config keys. nullptr: the family has no such thing.
struct Family {
  const char* name;               // model_type in config.json, and model.hf_family
  const char* architecture;       // "architectures" in config.json
  const char* experts_key;        // E
  const char* d_ff_key;           // F, per routed expert
  bool has_norm_topk_key;         // norm_topk_prob in config.json (Mixtral always renormalises)
  bool qkv_bias, qk_norm;         // fixed by the architecture
  const char* router;             // under model.layers.l.
  const char* experts;            // under model.layers.l., then "<e>.<w>.weight"
  const char* w1, *w3, *w2;       // the SwiGLU's gate, up and down projections
  const char* shared;             // shared experts' prefix under model.layers.l.
  const char* shared_count_key;   // n_shared_experts (else one shared expert)
  const char* shared_d_ff_key;    // per shared expert (else the routed experts' d_ff)
  const char* shared_gate;        // the sigmoid gate's tensor under model.layers.l.
  // Dense layers before the first MoE layer (model.first_k_dense): the key that counts them
  // (DeepSeekMoE's first_k_dense_replace) or lists them (Qwen2-MoE's mlp_only_layers, which
  // data/hf_folder.cpp turns into its count, refusing any list but [0, ..., k-1]), their
  // width's key, and their MLP's prefix under model.layers.l. (then "<w>.weight").
  const char* dense_layers_key;
  bool dense_layers_listed;
  const char* dense_d_ff_key;
  const char* dense_mlp;
  // Keys whose value must be this for the model to be expressible (a string, or a literal's
  // text with "" for null, as data/json_fields.h gives them).
  struct Required {
    const char* key;
    const char* value;
    bool string;
  };
  std::vector<Required> required;
};

const std::vector<Family>& families() {
  static const std::vector<Family> f = {
      {"mixtral", "MixtralForCausalLM", "num_local_experts", "intermediate_size", false, false, false,
       "block_sparse_moe.gate", "block_sparse_moe.experts.", "w1", "w3", "w2", nullptr, nullptr, nullptr, nullptr,
       nullptr, false, nullptr, nullptr, {{"sliding_window", "", false}}},
      {"qwen2_moe", "Qwen2MoeForCausalLM", "num_experts", "moe_intermediate_size", true, true, false, "mlp.gate",
       "mlp.experts.", "gate_proj", "up_proj", "down_proj", "mlp.shared_expert.", nullptr,
       "shared_expert_intermediate_size", "mlp.shared_expert_gate.weight", "mlp_only_layers", true,
       "intermediate_size", "mlp.", {{"use_sliding_window", "false", false}, {"decoder_sparse_step", "1", false}}},
      {"olmoe", "OlmoeForCausalLM", "num_experts", "intermediate_size", true, false, true, "mlp.gate", "mlp.experts.",
       "gate_proj", "up_proj", "down_proj", nullptr, nullptr, nullptr, nullptr, nullptr, false, nullptr, nullptr,
       {{"clip_qkv", "", false}, {"attention_bias", "false", false}}},
      {"deepseek", "DeepseekForCausalLM", "n_routed_experts", "moe_intermediate_size", true, false, false, "mlp.gate",
       "mlp.experts.", "gate_proj", "up_proj", "down_proj", "mlp.shared_experts.", "n_shared_experts", nullptr, nullptr,
       "first_k_dense_replace", false, "intermediate_size", "mlp.",
       {{"moe_layer_freq", "1", false},
        {"scoring_func", "softmax", true},
        {"attention_bias", "false", false}}},
  };
  return f;
}

const Family& family_of(const std::string& name) {
  for (const Family& f : families())
    if (name == f.name) return f;
  check_hf_family(name);
  __builtin_unreachable();
}

std::string family_list() {
  std::string s;
  for (const Family& f : families()) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

// PEFT's name of an adapter tensor: its base layer's name with ".weight" replaced by
// ".lora_A.weight" or ".lora_B.weight", under "base_model.model.".
std::string peft_adapter_name(const ParamInfo& p, const std::string& family) {
  static const ParamKind bases[] = {ParamKind::wq,  ParamKind::wk,  ParamKind::wv,  ParamKind::wo,  ParamKind::w1,
                                    ParamKind::w3,  ParamKind::w2,  ParamKind::ws1, ParamKind::ws3, ParamKind::ws2,
                                    ParamKind::wm1, ParamKind::wm3, ParamKind::wm2};
  for (ParamKind base : bases) {
    if (p.kind != lora_a_kind(base) && p.kind != lora_b_kind(base)) continue;
    ParamInfo b = p;
    b.kind = base;
    std::string name = hf_tensor_name(b, family);
    name.resize(name.size() - std::string(".weight").size());
    return "base_model.model." + name + (p.kind == lora_a_kind(base) ? ".lora_A.weight" : ".lora_B.weight");
  }
  HF_CHECK(false, "%s is not an adapter tensor", p.name.c_str());
  __builtin_unreachable();
}

int int_field(const std::map<std::string, std::string>& fields, const std::string& key, const std::string& where,
              int fallback = -1) {
  auto it = fields.find(key);
  if (it == fields.end() || it->second.empty()) {
    if (fallback >= 0) return fallback;
    fail(where + " has no " + key, "give the model folder's complete config.json");
  }
  char* end = nullptr;
  long v = std::strtol(it->second.c_str(), &end, 10);
  if (*end != '\0') fail(where + ": " + key + "=" + it->second + " is not an integer", "fix config.json");
  return static_cast<int>(v);
}

float float_field(const std::map<std::string, std::string>& fields, const std::string& key, float fallback) {
  auto it = fields.find(key);
  return it == fields.end() || it->second.empty() ? fallback : std::strtof(it->second.c_str(), nullptr);
}

bool bool_field(const std::map<std::string, std::string>& fields, const std::string& key, bool fallback) {
  auto it = fields.find(key);
  return it == fields.end() || it->second.empty() ? fallback : it->second == "true";
}

}  // namespace

const std::vector<std::string>& hf_family_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Family& f : families()) n.push_back(f.name);
    return n;
  }();
  return names;
}

void check_hf_family(const std::string& family) {
  for (const Family& f : families())
    if (family == f.name) return;
  fail("model.hf_family '" + family + "' is unknown", "use one of " + family_list());
}

std::string hf_tensor_name(const ParamInfo& p, const std::string& family) {
  const Family& f = family_of(family);
  const std::string layer = "model.layers." + std::to_string(p.layer) + ".";
  auto shared = [&](const char* w) {
    if (!f.shared)
      fail(std::string("the ") + f.name + " family has no shared experts",
           "train a model with shared experts under model.hf_family=qwen2_moe or deepseek");
    return layer + f.shared + w + ".weight";
  };
  auto dense_mlp = [&](const char* w) {
    if (!f.dense_mlp)
      fail(std::string("the ") + f.name + " family has no dense layers",
           "train a model with model.first_k_dense under model.hf_family=deepseek or qwen2_moe");
    return layer + f.dense_mlp + w + ".weight";
  };
  auto expert = [&](const char* w) { return layer + f.experts + std::to_string(p.expert) + "." + w + ".weight"; };
  switch (p.kind) {
    case ParamKind::tok_emb: return "model.embed_tokens.weight";
    case ParamKind::attn_norm: return layer + "input_layernorm.weight";
    case ParamKind::wq: return layer + "self_attn.q_proj.weight";
    case ParamKind::wk: return layer + "self_attn.k_proj.weight";
    case ParamKind::wv: return layer + "self_attn.v_proj.weight";
    case ParamKind::wo: return layer + "self_attn.o_proj.weight";
    case ParamKind::bq: return layer + "self_attn.q_proj.bias";
    case ParamKind::bk: return layer + "self_attn.k_proj.bias";
    case ParamKind::bv: return layer + "self_attn.v_proj.bias";
    case ParamKind::q_norm: return layer + "self_attn.q_norm.weight";
    case ParamKind::k_norm: return layer + "self_attn.k_norm.weight";
    case ParamKind::ffn_norm: return layer + "post_attention_layernorm.weight";
    case ParamKind::router: return layer + f.router + ".weight";
    case ParamKind::w1: return expert(f.w1);
    case ParamKind::w3: return expert(f.w3);
    case ParamKind::w2: return expert(f.w2);
    case ParamKind::ws1: return shared(f.w1);
    case ParamKind::ws3: return shared(f.w3);
    case ParamKind::ws2: return shared(f.w2);
    case ParamKind::wm1: return dense_mlp(f.w1);
    case ParamKind::wm3: return dense_mlp(f.w3);
    case ParamKind::wm2: return dense_mlp(f.w2);
    case ParamKind::ws_gate:
      if (!f.shared_gate)
        fail(std::string("the ") + f.name + " family has no shared-expert gate",
             "train a model with model.shared_gate under model.hf_family=qwen2_moe");
      return layer + f.shared_gate;
    case ParamKind::final_norm: return "model.norm.weight";
    case ParamKind::lm_head: return "lm_head.weight";
    case ParamKind::cls_w: return "score.weight";
    case ParamKind::cls_b: return "score.bias";
    case ParamKind::wq_lora_a: case ParamKind::wq_lora_b: case ParamKind::wk_lora_a: case ParamKind::wk_lora_b:
    case ParamKind::wv_lora_a: case ParamKind::wv_lora_b: case ParamKind::wo_lora_a: case ParamKind::wo_lora_b:
    case ParamKind::w1_lora_a: case ParamKind::w1_lora_b: case ParamKind::w3_lora_a: case ParamKind::w3_lora_b:
    case ParamKind::w2_lora_a: case ParamKind::w2_lora_b: case ParamKind::ws1_lora_a: case ParamKind::ws1_lora_b:
    case ParamKind::ws3_lora_a: case ParamKind::ws3_lora_b: case ParamKind::ws2_lora_a: case ParamKind::ws2_lora_b:
    case ParamKind::wm1_lora_a: case ParamKind::wm1_lora_b: case ParamKind::wm3_lora_a: case ParamKind::wm3_lora_b:
    case ParamKind::wm2_lora_a: case ParamKind::wm2_lora_b:
      return peft_adapter_name(p, family);
  }
  HF_CHECK(false, "unknown parameter kind %d", static_cast<int>(p.kind));
  __builtin_unreachable();
}

ModelConfig model_config_from_hf(const std::map<std::string, std::string>& fields, const std::string& where) {
  auto type = fields.find("model_type");
  if (type == fields.end()) fail(where + " has no model_type", "give a Hugging Face model folder's config.json");
  const Family* f = nullptr;
  for (const Family& c : families())
    if (type->second == c.name) f = &c;
  if (!f)
    fail(where + ": model_type '" + type->second + "' is not supported",
         "hfedmoe reads the " + family_list() + " families (DeepSeek-V2/V3 latent attention is out of scope)");
  std::string unsupported;
  auto require = [&](const char* key, const std::string& want) {
    auto it = fields.find(key);
    if (it != fields.end() && it->second != want)
      unsupported += (unsupported.empty() ? "" : ", ") + std::string(key) + "=" + (it->second.empty() ? "null" : it->second);
  };
  require("hidden_act", "silu");
  for (const Family::Required& r : f->required) require(r.key, r.value);
  if (!unsupported.empty())
    fail(where + ": unsupported option(s) " + unsupported,
         "hfedmoe runs every layer as a SwiGLU MoE with full causal attention; see docs/user-guide.md, "
         "\"Bring a pretrained model\"");

  ModelConfig c;
  c.preset = "tiny";  // every field below is set: the preset contributes nothing
  c.hf_family = f->name;
  c.vocab_size = int_field(fields, "vocab_size", where);
  c.d_model = int_field(fields, "hidden_size", where);
  c.n_layers = int_field(fields, "num_hidden_layers", where);
  c.n_heads = int_field(fields, "num_attention_heads", where);
  c.n_kv_heads = int_field(fields, "num_key_value_heads", where, c.n_heads);
  c.n_experts = int_field(fields, f->experts_key, where);
  c.top_k = int_field(fields, "num_experts_per_tok", where);
  c.d_ff = int_field(fields, f->d_ff_key, where);
  c.seq_len = int_field(fields, "max_position_embeddings", where);
  c.rms_eps = float_field(fields, "rms_norm_eps", 1e-6f);
  c.rope_theta = float_field(fields, "rope_theta", 10000.0f);
  c.tie_embeddings = bool_field(fields, "tie_word_embeddings", false);
  c.norm_topk_prob = f->has_norm_topk_key ? bool_field(fields, "norm_topk_prob", false) : true;
  c.qkv_bias = f->qkv_bias;
  c.qk_norm = f->qk_norm;
  if (f->shared) {
    // DeepSeekMoE counts shared experts of the routed size; Qwen2-MoE sizes its one shared expert.
    c.shared_d_ff = f->shared_d_ff_key ? int_field(fields, f->shared_d_ff_key, where, 0) : 0;
    c.n_shared_experts = f->shared_count_key ? int_field(fields, f->shared_count_key, where, 0) : c.shared_d_ff > 0;
    c.shared_gate = f->shared_gate != nullptr && c.n_shared_experts > 0;
  }
  if (f->dense_layers_key) {
    c.first_k_dense = int_field(fields, f->dense_layers_key, where, 0);
    c.dense_d_ff = c.first_k_dense > 0 ? int_field(fields, f->dense_d_ff_key, where) : 0;
  }
  c.validate();
  return c;
}

std::string hf_config_json(const ModelConfig& c) {
  const Family& f = family_of(c.hf_family);
  std::string mismatch;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) mismatch += (mismatch.empty() ? "" : ", ") + std::string(what);
  };
  expect(c.qkv_bias == f.qkv_bias, "model.qkv_bias");
  expect(c.qk_norm == f.qk_norm, "model.qk_norm");
  expect(f.has_norm_topk_key || c.norm_topk_prob, "model.norm_topk_prob");
  expect(f.shared || c.n_shared_experts == 0, "model.n_shared_experts");
  expect(c.n_shared_experts == 0 || f.shared_count_key || c.n_shared_experts == 1, "model.n_shared_experts");
  expect(c.n_shared_experts == 0 || f.shared_d_ff_key || c.shared_d_ff == 0 || c.shared_d_ff == c.d_ff,
         "model.shared_d_ff");
  expect(c.shared_gate == (f.shared_gate != nullptr && c.n_shared_experts > 0), "model.shared_gate");
  expect(f.dense_layers_key || c.first_k_dense == 0, "model.first_k_dense");
  if (!mismatch.empty())
    fail("the " + c.hf_family + " family cannot express " + mismatch,
         "set model.hf_family to the family whose architecture the model has (docs/user-guide.md)");
  std::string j = "{\n";
  auto add = [&](const std::string& key, const std::string& literal) {
    j += "  \"" + key + "\": " + literal + ",\n";
  };
  auto str = [](const std::string& s) { return "\"" + s + "\""; };
  auto num = [](double v) { return strf("%.9g", v); };
  j += "  \"architectures\": [" + str(f.architecture) + "],\n";
  add("model_type", str(f.name));
  add("vocab_size", num(c.vocab_size));
  add("hidden_size", num(c.d_model));
  add("num_hidden_layers", num(c.n_layers));
  add("num_attention_heads", num(c.n_heads));
  add("num_key_value_heads", num(c.n_kv_heads));
  add(f.experts_key, num(c.n_experts));
  add("num_experts_per_tok", num(c.top_k));
  add(f.d_ff_key, num(c.d_ff));
  add("max_position_embeddings", num(c.seq_len));
  add("rms_norm_eps", num(c.rms_eps));
  add("rope_theta", num(c.rope_theta));
  add("tie_word_embeddings", c.tie_embeddings ? "true" : "false");
  add("hidden_act", str("silu"));
  if (f.has_norm_topk_key) add("norm_topk_prob", c.norm_topk_prob ? "true" : "false");
  if (f.shared_count_key) add(f.shared_count_key, num(c.n_shared_experts));
  if (f.shared_d_ff_key) add(f.shared_d_ff_key, num(c.shared_ff()));
  if (f.dense_layers_key) {
    std::string listed;  // [0, ..., k-1]
    for (int l = 0; l < c.first_k_dense; l++) listed += (l ? ", " : "") + std::to_string(l);
    add(f.dense_layers_key, f.dense_layers_listed ? "[" + listed + "]" : num(c.first_k_dense));
    if (c.first_k_dense > 0) add(f.dense_d_ff_key, num(c.dense_ff()));
  }
  for (const Family::Required& r : f.required) add(r.key, r.string ? str(r.value) : *r.value ? r.value : "null");
  j.resize(j.size() - 2);  // the last ",\n"
  return j + "\n}\n";
}

}  // namespace hf
