#include "data/hf_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "data/json_fields.h"
#include "data/sha256.h"
#include "data/tokenizer_id.h"
#include "io/fs.h"
#include "io/safetensors.h"
#include "model/hf_families.h"
#include "util/check.h"

namespace hf {

namespace {
// The text of key's value in a config.json when it is an object or an array (which
// json_object_fields skips), with the spaces taken out: "" when the key is absent or a scalar.
std::string structured_value(const std::string& text, const std::string& key) {
  size_t at = text.find("\"" + key + "\"");
  if (at == std::string::npos) return "";
  at = text.find(':', at);
  size_t begin = text.find_first_not_of(" \t\r\n", at + 1);
  if (begin == std::string::npos || (text[begin] != '{' && text[begin] != '[')) return "";
  const char open = text[begin], close = open == '{' ? '}' : ']';
  int depth = 0;
  std::string v;
  for (size_t i = begin; i < text.size(); i++) {
    if (text[i] == open) depth++;
    if (text[i] == close) depth--;
    if (!std::isspace(static_cast<unsigned char>(text[i]))) v += text[i];
    if (depth == 0) break;
  }
  return v;
}
}  // namespace

ModelConfig hf_folder_config(const std::string& dir, const std::string& tokenizer) {
  const std::string path = dir + "/config.json";
  if (!path_exists(path)) fail(dir + " has no config.json", "give a Hugging Face model folder (config.json + *.safetensors)");
  const std::string text = read_text_file(path);
  const std::string rope_scaling = structured_value(text, "rope_scaling");
  if (!rope_scaling.empty())
    fail(path + ": unsupported option(s) rope_scaling=" + rope_scaling,
         "hfedmoe runs plain RoPE; see docs/user-guide.md, \"Bring a pretrained model\"");
  std::map<std::string, std::string> fields = json_object_fields(text, path);
  // Qwen2-MoE lists its dense layers; hfedmoe's are the first k (model.first_k_dense).
  const std::string dense = structured_value(text, "mlp_only_layers");
  if (!dense.empty()) {
    const int k = static_cast<int>(std::count(dense.begin(), dense.end(), ',')) + (dense == "[]" ? 0 : 1);
    std::string leading = "[";
    for (int l = 0; l < k; l++) leading += (l ? "," : "") + std::to_string(l);
    if (dense != leading + "]")
      fail(path + ": unsupported option(s) mlp_only_layers=" + dense,
           "hfedmoe's dense layers are the first k (model.first_k_dense): only [0, ..., k-1] is supported");
    fields["mlp_only_layers"] = std::to_string(k);
  }
  ModelConfig c = model_config_from_hf(fields, path);
  const bool has_tokenizer = path_exists(dir + "/tokenizer.json") || path_exists(dir + "/tokenizer.model");
  if (has_tokenizer) {
    c.tokenizer = tokenizer_id_of_dir(dir);
    if (!tokenizer.empty() && tokenizer != c.tokenizer)
      fail("model.tokenizer=" + tokenizer + " is not the tokenizer of " + dir + " (" + c.tokenizer + ")",
           "drop --model.tokenizer: the folder's tokenizer file names it");
  } else if (!tokenizer.empty()) {
    c.tokenizer = tokenizer;
  } else {
    fail(dir + " has no tokenizer.json or tokenizer.model",
         "copy the model's tokenizer file into the folder, or name the vocabulary with --model.tokenizer (e.g. byte260)");
  }
  return c;
}

namespace {

// The folder's *.safetensors files in name order (a fixed order, whatever the file system's).
std::vector<std::string> safetensors_shards(const std::string& dir) {
  std::vector<std::string> shards;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() > 12 && name.substr(name.size() - 12) == ".safetensors")
      shards.push_back(entry.path().string());
  }
  if (shards.empty()) fail(dir + " has no .safetensors file", "download the model's safetensors weights into it");
  std::sort(shards.begin(), shards.end());
  return shards;
}

}  // namespace

void load_hf_folder_weights(const std::string& dir, const ParamTable& table, float* params) {
  load_safetensors_shards(safetensors_shards(dir), table, params);
}

std::string hf_folder_sha256(const std::string& dir) {
  std::vector<std::string> files = safetensors_shards(dir);
  files.insert(files.begin(), dir + "/config.json");
  Sha256 digest;
  std::vector<char> buf(size_t{1} << 20);
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail("cannot read " + file, "check that the model folder is complete and readable");
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0)
      digest.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return digest.hex();
}

bool load_hf_folder_initial(const std::string& dir, const ParamTable& table, float* params) {
  if (table.config().n_classes == 0) {
    load_hf_folder_weights(dir, table, params);
    return true;
  }
  ModelConfig lm = table.config();
  lm.n_classes = 0;
  const ParamTable lm_table(lm);
  std::vector<float> w(lm_table.total());  // (the model without the head)
  load_hf_folder_weights(dir, lm_table, w.data());
  for (const ParamInfo& p : lm_table.tensors()) {
    const ParamInfo* q = table.find(p.name);
    std::copy(w.begin() + p.offset, w.begin() + p.offset + p.numel(), params + q->offset);
  }
  return false;
}

void save_hf_folder(const std::string& dir, const ParamTable& table, const float* params) {
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/config.json", tmp = config + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << hf_config_json(table.config());
    if (!out.flush()) fail("cannot write " + tmp, "check that the folder is writable and has space", kExitRuntime);
  }
  commit_file(tmp, config);
  save_safetensors(dir + "/model.safetensors", table, params, {{"format", "pt"}});
}

}  // namespace hf
