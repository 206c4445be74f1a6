#pragma once
// The model a checkpoint holds, recovered from the resolved INI text stored in its /meta
// config, so `eval`, `export` and `inspect` need no model options. The [model] keys go
// (and a LoRA run's train.adapter options) go through the same option parsers and validation as
// the command line, which is why this lives with the commands, above the checkpoint file
// (io/checkpoint.h) that stores the text and the options (cli/, fl/) that parse it.
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/params.h"

namespace hf {

// overrides: ("model.<field>", value) pairs that win over the stored ones (e.g. options the
// user gave `eval` explicitly). A usage error if the text has no [model] section.
ModelConfig model_config_from_ini(const std::string& ini,
                                  const std::vector<std::pair<std::string, std::string>>& overrides = {});

// ini less its adapter options (train.adapter, train.lora_*, train.base_dtype): the
// configuration of the model without adapters, for a merged export of a LoRA checkpoint.
std::string ini_without_adapter(const std::string& ini);

// The parameter table of the model the checkpoint at path describes in its stored
// configuration (its header checked first), for reading it with load_checkpoint.
ParamTable stored_model_table(const std::string& path);

}  // namespace hf
