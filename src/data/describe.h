#pragma once
// A human-readable account of a dataset: provenance, split sizes, label balance and the
// partition (a per-client table up to 20 clients, a summary beyond). Printed by
// `hfedmoe prepare` after writing a dataset and by `hfedmoe inspect` for a dataset file.
#include <string>

#include "data/dataset.h"

namespace hf {

std::string describe_dataset(const Dataset& d);

}  // namespace hf
