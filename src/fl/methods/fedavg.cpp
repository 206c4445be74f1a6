// FedAvg (McMahan et al. 2017) over the whole MoE: every routed expert is trained and every
// parameter is averaged by |D_c|. bounded (fl.method=fedavg): a client must hold the training
// state of every expert its batch routes to; when the routed experts of some layer exceed its
// C_budget, it fails the round (the paper's motivation). fedavg_unbounded ignores budgets.
#include <cstring>

#include "fl/method.h"
#include "model/model.h"

namespace hf {
namespace {

class FedAvg : public Method {
 public:
  FedAvg(const FlOptions& fl, bool bounded) : Method(fl), bounded_(bounded) {}
  const char* name() const override { return bounded_ ? "fedavg" : "fedavg_unbounded"; }
  bool needs_budget() const override { return false; }
  bool routes_within_budget() const override { return false; }
  int upload_experts(int, int E) const override { return E; }

  bool select_step(ClientRun& run, const Model& model) const override {
    size_t LE = static_cast<size_t>(run.L) * run.E;
    routed_experts(model, run.trainable);  // U per layer: the experts that get gradients
    if (bounded_)
      for (int l = 0; l < run.L; l++) {
        int used = 0;
        for (int e = 0; e < run.E; e++) used += run.trainable[l * run.E + e];
        if (used > run.budget) return false;
      }
    std::memset(run.trainable, 1, LE);
    return true;
  }

  double expert_weight(const ClientRun& run, int, int) const override { return run.data_weight; }

 private:
  bool bounded_;
};

}  // namespace

std::unique_ptr<Method> make_fedavg(const FlOptions& fl, bool bounded) { return std::make_unique<FedAvg>(fl, bounded); }

}  // namespace hf
