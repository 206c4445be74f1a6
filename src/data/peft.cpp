#include "data/peft.h"

#include <algorithm>
#include <vector>

#include "data/json_fields.h"
#include "io/fs.h"
#include "io/safetensors.h"
#include "util/check.h"

namespace hf {
namespace {

const char* kWeights = "adapter_model.safetensors";
const char* kConfig = "adapter_config.json";

bool is_adapter(const ParamInfo& p) { return is_lora_a(p.kind) || is_lora_b(p.kind); }

// hfedmoe's target bit <-> PEFT's target module (the last part of the layer's Mixtral name).
struct Module {
  uint32_t bit;
  const char* peft;
};
// The experts' modules in Mixtral's names (w1, w3, w2) and in Qwen2-MoE's, OLMoE's and DeepSeek's
// (gate_proj, up_proj, down_proj, which their shared experts use too).
constexpr Module kModules[] = {{kLoraWq, "q_proj"},    {kLoraWk, "k_proj"},  {kLoraWv, "v_proj"},
                               {kLoraWo, "o_proj"},    {kLoraW1, "w1"},      {kLoraW2, "w2"},
                               {kLoraW3, "w3"},        {kLoraW1, "gate_proj"}, {kLoraW3, "up_proj"},
                               {kLoraW2, "down_proj"}};

// The module a tensor belongs to: "model.layers.0.block_sparse_moe.gate.weight" -> "gate".
std::string module_of(const std::string& hf_name) {
  std::string m = hf_name.substr(0, hf_name.rfind('.'));
  return m.substr(m.rfind('.') + 1);
}

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); i++) out += (i ? ", " : "") + json_quote(items[i]);
  return out + "]";
}

}  // namespace

std::string peft_tensor_name(const ParamInfo& p, const std::string& family) {
  // hf_tensor_name already gives an adapter PEFT's full name; a tensor trained in full gets
  // the prefix PEFT puts before modules_to_save.
  return is_adapter(p) ? hf_tensor_name(p, family) : "base_model.model." + hf_tensor_name(p, family);
}

void save_peft_adapter(const std::string& dir, const ParamTable& table, const float* arena, const std::string& base,
                       const std::map<std::string, std::string>& metadata) {
  const ModelConfig& cfg = table.config();
  HF_CHECK(cfg.lora.enabled(), "a PEFT adapter is written from a LoRA model");
  make_dirs(dir);
  const std::string& family = cfg.hf_family;
  save_safetensors(dir + "/" + kWeights, table, arena, metadata,
                   [&family](const ParamInfo& p) { return peft_tensor_name(p, family); });
  // target_modules in the family's own module names (Mixtral's w1, Qwen2-MoE's gate_proj, ...)
  std::vector<std::string> targets, full;
  ModelConfig plain = cfg;
  plain.lora = LoraConfig{};
  const ParamTable unadapted(plain);
  auto add_unique = [](std::vector<std::string>& list, const std::string& m) {
    if (std::find(list.begin(), list.end(), m) == list.end()) list.push_back(m);
  };
  for (const Module& m : kModules)
    for (const ParamInfo& f : unadapted.tensors())
      if (is_adaptable(f.kind) && lora_target_bit(f.kind) == m.bit && (cfg.lora.targets & m.bit))
        add_unique(targets, module_of(hf_tensor_name(f, family)));
  for (const ParamInfo& p : table.tensors()) {
    std::string m = module_of(hf_tensor_name(p, family));
    if (!is_adapter(p)) add_unique(full, m);
  }
  std::string json = "{\n";
  json += "  \"peft_type\": \"LORA\",\n";
  json += strf("  \"task_type\": \"%s\",\n", cfg.n_classes > 0 ? "SEQ_CLS" : "CAUSAL_LM");
  json += strf("  \"r\": %d,\n", cfg.lora.rank);
  json += strf("  \"lora_alpha\": %.9g,\n", static_cast<double>(cfg.lora.alpha));
  json += "  \"lora_dropout\": 0.0,\n  \"bias\": \"none\",\n  \"fan_in_fan_out\": false,\n  \"use_rslora\": false,\n";
  json += "  \"target_modules\": " + json_list(targets) + ",\n";
  json += "  \"modules_to_save\": " + json_list(full) + ",\n";
  json += "  \"base_model_name_or_path\": " + json_quote(base) + "\n}\n";
  write_file_atomic(dir + "/" + kConfig, json);
}

PeftAdapter read_peft_adapter(const std::string& dir) {
  const std::string config = dir + "/" + kConfig, weights = dir + "/" + kWeights;
  auto fields = json_object_fields(read_file(config), config);
  const std::string fix = "give a LoRA adapter folder written by PEFT's save_pretrained or hfedmoe export";
  if (json_field_or(fields, "peft_type") != "LORA")
    fail(config + " has peft_type '" + json_field_or(fields, "peft_type") + "', not LORA", fix);
  if (json_field_or(fields, "use_rslora", "false") != "false")
    fail(config + " uses rsLoRA (scale alpha / sqrt(r))", "hfedmoe scales by alpha / r; give a plain LoRA adapter");
  if (json_field_or(fields, "fan_in_fan_out", "false") != "false")
    fail(config + " stores weights fan_in_fan_out (transposed, GPT-2 style)", "give an adapter of nn.Linear layers");
  PeftAdapter a;
  a.rank = std::atoi(json_field_or(fields, "r", "0").c_str());
  a.alpha = std::strtof(json_field_or(fields, "lora_alpha", "0").c_str(), nullptr);
  a.base = json_field_or(fields, "base_model_name_or_path");
  a.metadata = safetensors_metadata(weights);
  for (const auto& [name, shape] : safetensors_shapes(weights)) {
    const std::string suffix = ".lora_A.weight";
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    std::string module = module_of(name.substr(0, name.size() - suffix.size()) + ".weight");
    auto m = std::find_if(std::begin(kModules), std::end(kModules), [&](const Module& x) { return module == x.peft; });
    if (m == std::end(kModules))
      fail(weights + ": adapter " + name + " sits on '" + module + "', which is no linear layer of this model",
           "adapt only q_proj, k_proj, v_proj, o_proj and the experts' w1, w2, w3 (gate_proj, down_proj, up_proj)");
    if (shape.size() != 2 || shape[0] != a.rank)
      fail(strf("%s: %s has rank %lld but %s says r = %d", weights.c_str(), name.c_str(),
                static_cast<long long>(shape.empty() ? 0 : shape[0]), config.c_str(), a.rank),
           "give the adapter's files as PEFT wrote them (one rank for every layer)");
    a.targets |= m->bit;
  }
  if (a.targets == 0) fail(weights + " holds no lora_A tensor", fix);
  return a;
}

void load_peft_adapter(const std::string& dir, const ParamTable& table, float* arena) {
  const std::string& family = table.config().hf_family;
  load_safetensors(dir + "/" + kWeights, table, arena, [&family](const ParamInfo& p) { return peft_tensor_name(p, family); },
                   [](const ParamInfo& p) { return !is_adapter(p); });
}

}  // namespace hf
