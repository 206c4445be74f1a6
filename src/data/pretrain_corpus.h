#pragma once
// What `hfedmoe pretrain` trains and evaluates on, from --data.path: an HDF5 dataset written
// by `hfedmoe prepare` (its train and test splits) or a plain text file (byte tokens cut into
// rows of T = model.seq_len; a short last row is right-padded; the last test_fraction of the
// rows, at least one when there are two or more, is the test split).
#include <string>

#include "model/batch.h"
#include "model/config.h"

namespace hf {

struct PretrainCorpus {
  Split train, test;
  std::string what;  // one line for the log: the source and its row counts
};

// A usage error naming the file when it is missing, a text shorter than two rows, or a
// dataset whose rows or token ids do not fit the model m.
PretrainCorpus load_pretrain_corpus(const std::string& path, const ModelConfig& m, double test_fraction);

}  // namespace hf
