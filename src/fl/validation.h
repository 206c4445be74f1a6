#pragma once
// The server's validation of the global model on the clients' held-out rows (fl/clients.h):
// the accuracy over all of them (what "best" and the learning-rate choice read; the test split
// is only reported), each client's own accuracy, and how evenly the experts carry the tokens.
#include <cmath>
#include <cstdint>
#include <vector>

#include "fl/clients.h"
#include "model/evaluate.h"

namespace hf {

struct Validation {
  EvalTally all;                // every held-out row of every client
  double client_acc_mean = NAN; // mean over clients with held-out rows of their own accuracy
  double client_acc_p10 = NAN;  // 10th percentile of the same
  double expert_load_cv = NAN;  // tokens per expert: std / mean over the E experts, mean over layers
};

class Validator {
 public:
  explicit Validator(const ClientTable& clients, int n_layers, int n_experts);
  Validation run(Model& model, Evaluator& evaluator, const Dataset& data);

 private:
  const ClientTable& clients_;
  int L_, E_;
  std::vector<double> client_acc_;  // (clients with held-out rows)
};

// The q-quantile (q in [0, 1]) of v by linear interpolation between order statistics
// (position q * (n - 1)); v is reordered. NAN for an empty v.
double quantile(std::vector<double>& v, double q);
// Coefficient of variation of hits over experts (population std / mean), mean over layers;
// a layer with no hits counts 0. hits: (L, E), e.g. RoutingStats::hits()
double load_cv(const int64_t* hits, int L, int E);

}  // namespace hf
