// FedProx (Li et al. 2020): FedAvg with the proximal term mu/2 |w - w_global|^2 added to each
// client's loss over the parameters it trains (gradient += mu (w - w_global)). Budgets bound it
// as they bound FedAvg: a client whose batch routes to more experts than it can hold fails.
#include <cstring>

#include "fl/method.h"
#include "model/model.h"

namespace hf {
namespace {

class FedProx final : public Method {
 public:
  explicit FedProx(const FlOptions& fl) : Method(fl) {}
  const char* name() const override { return "fedprox"; }
  bool needs_budget() const override { return false; }
  bool routes_within_budget() const override { return false; }
  int upload_experts(int, int E) const override { return E; }
  float prox_mu() const override { return fl_.prox_mu; }

  bool select_step(ClientRun& run, const Model& model) const override {
    routed_experts(model, run.trainable);
    for (int l = 0; l < run.L; l++) {
      int used = 0;
      for (int e = 0; e < run.E; e++) used += run.trainable[l * run.E + e];
      if (used > run.budget) return false;
    }
    std::memset(run.trainable, 1, static_cast<size_t>(run.L) * run.E);
    return true;
  }

  double expert_weight(const ClientRun& run, int, int) const override { return run.data_weight; }
};

}  // namespace

std::unique_ptr<Method> make_fedprox(const FlOptions& fl) { return std::make_unique<FedProx>(fl); }

}  // namespace hf
