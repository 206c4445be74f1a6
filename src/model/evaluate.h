#pragma once
// Loss and accuracy of a model over rows of a split: the one evaluation loop behind
// `train` (the server's test accuracy), `pretrain` and `eval`.
#include <cstdint>
#include <vector>

#include "model/batch.h"
#include "model/model.h"
#include "model/routing_stats.h"

namespace hf {

struct EvalTally {
  double loss_sum = 0;  // task loss times counted items (tokens or sequences)
  int64_t counted = 0, correct = 0;
  void add(const ForwardResult& r);
  void add(const EvalTally& t);
  double loss() const;  // NAN when nothing was counted
  double acc() const;
};

class Evaluator {
 public:
  Evaluator(int max_B, int T);  // batch buffers, sized once
  // Forward passes over `n` rows of the split in batches of at most max_B, in order:
  // rows[0..n) when given, else rows 0..n-1. With routing, also tallies every forward's routing.
  EvalTally run(Model& model, const Split& split, const int64_t* rows, int64_t n, RoutingStats* routing = nullptr);

 private:
  int max_B_;
  std::vector<int32_t> tokens_, targets_, labels_;  // (B, T), (B, T), (B)
  std::vector<int64_t> batch_rows_;                 // (B)
};

// n row ids spread evenly over a split of `total` rows (floor(i * total / n)): a subset of a split
// stored in class or corpus order keeps its mix. All rows when n >= total.
std::vector<int64_t> spread_rows(int64_t total, int64_t n);

}  // namespace hf
