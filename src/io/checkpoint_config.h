#pragma once
// The model a checkpoint holds, recovered from the resolved INI text stored in its /meta
// config, so `eval`, `export` and `inspect` need no model options. The [model] keys go
// through the same option parser and validation as the command line.
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"

namespace hf {

// overrides: ("model.<field>", value) pairs that win over the stored ones (e.g. options the
// user gave `eval` explicitly). A usage error if the text has no [model] section.
ModelConfig model_config_from_ini(const std::string& ini,
                                  const std::vector<std::pair<std::string, std::string>>& overrides = {});

}  // namespace hf
