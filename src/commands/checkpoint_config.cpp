#include "commands/checkpoint_config.h"

#include <algorithm>
#include <iterator>
#include <map>

#include "cli/common_options.h"
#include "cli/run_dir.h"
#include "fl/fl_options.h"
#include "io/checkpoint.h"

namespace hf {
namespace {
constexpr const char* kAdapterKeys[] = {"train.adapter", "train.lora_rank", "train.lora_alpha", "train.lora_targets",
                                        "train.base_dtype"};
}  // namespace

ModelConfig model_config_from_ini(const std::string& ini,
                                  const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::map<std::string, std::string> keys, stored;
  for (const auto& [k, v] : parse_ini(ini)) stored[k] = v;
  for (const auto& [k, v] : stored)
    if (k.rfind("model.", 0) == 0) keys[k] = v;
  if (!keys.count("model.preset"))
    fail("the stored configuration has no [model] section", "give the model options (--model.preset ...) explicitly");
  for (const auto& [k, v] : overrides) keys[k] = v;
  // A LoRA run's adapters are part of its model (they shape the arena); a run without them
  // stores the adapter options at their defaults, which are not replayed (they would read as set).
  const bool lora = stored.count("train.adapter") && stored.at("train.adapter") == "lora";
  if (lora)
    for (const char* k : kAdapterKeys)
      if (stored.count(k)) keys[k] = stored.at(k);
  // Replay the keys as a command line so parsing and validation are the CLI's own.
  std::vector<std::string> args = {"checkpoint"};
  for (const auto& [k, v] : keys) {
    args.push_back("--" + k);
    args.push_back(v);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  Options o("checkpoint", "the model stored in a checkpoint");
  ModelOptions model;
  TrainOptions train;
  model.add(o);
  add_adapter_options(o, train);
  o.parse(static_cast<int>(argv.size()), argv.data(), false);
  ModelConfig cfg = model.resolve(o);
  cfg.lora = lora_options(o, train);
  cfg.validate_lora();
  return cfg;
}

std::string ini_without_adapter(const std::string& ini) {
  std::string out, section;
  size_t pos = 0;
  while (pos < ini.size()) {
    size_t end = ini.find('\n', pos);
    if (end == std::string::npos) end = ini.size();
    const std::string line = ini.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line[0] == '[') section = line.substr(1, line.find(']') - 1);
    const std::string key = section + "." + line.substr(0, line.find_first_of(" ="));
    if (std::none_of(std::begin(kAdapterKeys), std::end(kAdapterKeys), [&](const char* k) { return key == k; }))
      out += line + "\n";
  }
  return out;
}

ParamTable stored_model_table(const std::string& path) {
  return ParamTable(model_config_from_ini(load_checkpoint_meta(path).config_ini));
}

}  // namespace hf
