#include "cli/checkpoint_config.h"

#include <map>

#include "cli/common_options.h"
#include "cli/run_dir.h"
#include "io/checkpoint.h"

namespace hf {

ModelConfig model_config_from_ini(const std::string& ini,
                                  const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::map<std::string, std::string> keys;
  for (const auto& [k, v] : parse_ini(ini))
    if (k.rfind("model.", 0) == 0) keys[k] = v;
  if (!keys.count("model.preset"))
    fail("the stored configuration has no [model] section", "give the model options (--model.preset ...) explicitly");
  for (const auto& [k, v] : overrides) keys[k] = v;
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
  model.add(o);
  o.parse(static_cast<int>(argv.size()), argv.data(), false);
  return model.resolve(o);
}

ParamTable stored_model_table(const std::string& path) {
  return ParamTable(model_config_from_ini(load_checkpoint_meta(path).config_ini));
}

}  // namespace hf
