#pragma once
// Token rows and the batches cut from them: a Split is rows of T tokens (a dataset's train or
// test split, a text cut into rows); fill_batch turns chosen rows into the model's input.
// In model/, below the dataset file (data/dataset.h) that stores splits, because the model's
// evaluation and training loops read them.
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace hf {

struct Split {
  int64_t n = 0;                 // N samples
  int T = 0;                     // sequence length
  std::vector<int32_t> tokens;   // (N, T)
  std::vector<int32_t> lengths;  // (N)
  std::vector<int32_t> labels;   // (N), classify only
  int32_t pad = kPadToken;       // the id after each row's length (the dataset's tokenizer)
  const int32_t* row(int64_t i) const { return tokens.data() + i * T; }
};

// Fills a training batch from rows of a split: tokens (B, T) and, for Task::lm, next-token
// targets (B, T) with -1 at the last position and after the sequence; for classify, labels (B).
// The caller owns the buffers (sized B*T, B*T and B), so the hot path allocates nothing.
void fill_batch(const Split& split, const int64_t* rows, int B, Task task, int32_t* tokens, int32_t* targets,
                int32_t* labels);

}  // namespace hf
