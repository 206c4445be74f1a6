#include "fl/validation.h"

#include <algorithm>
#include <cmath>

#include "data/dataset.h"
#include "model/routing_stats.h"

namespace hf {

Validator::Validator(const ClientTable& clients, int n_layers, int n_experts)
    : clients_(clients), L_(n_layers), E_(n_experts) {
  client_acc_.reserve(clients.n_clients);
}

Validation Validator::run(Model& model, Evaluator& evaluator, const Dataset& data) {
  Validation v;
  RoutingStats routing(L_, E_);
  client_acc_.clear();
  for (int c = 0; c < clients_.n_clients; c++) {
    if (clients_.held_out[c] == 0) continue;
    EvalTally t = evaluator.run(model, data.train, clients_.val_rows(c), clients_.held_out[c], &routing);
    v.all.add(t);
    client_acc_.push_back(t.acc());
  }
  if (client_acc_.empty()) return v;
  double sum = 0;
  for (double a : client_acc_) sum += a;
  v.client_acc_mean = sum / static_cast<double>(client_acc_.size());
  v.client_acc_p10 = quantile(client_acc_, 0.1);
  v.expert_load_cv = load_cv(routing.hits(), L_, E_);
  return v;
}

double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double load_cv(const int64_t* hits, int L, int E) {
  double cv_sum = 0;
  for (int l = 0; l < L; l++) {
    double mean = 0, var = 0;
    for (int e = 0; e < E; e++) mean += static_cast<double>(hits[l * E + e]);
    mean /= E;
    if (mean == 0) continue;
    for (int e = 0; e < E; e++) var += (hits[l * E + e] - mean) * (hits[l * E + e] - mean);
    cv_sum += std::sqrt(var / E) / mean;
  }
  return cv_sum / L;
}

}  // namespace hf
