// FedMoE (Mei et al. 2024), as a baseline sharing our machinery: a client first measures each
// expert's activation frequency on its own data (forward-only probe batches), then keeps the
// sub-MoE of the most frequent experts that its budget holds (fl.budget_scope: C_budget per
// layer, or C_budget * L over the model with top_k in every layer; ties by expert id), once per
// round. It holds only that sub-model, so tokens route among it (strict) and it trains all of it;
// it cannot shrink. Modular aggregation: each expert is averaged by |D_c| over the clients whose
// sub-MoE held it; routers by |D_c|.
#include <cstring>

#include "fl/method.h"
#include "fl/selection.h"

namespace hf {
namespace {

class FedMoE final : public Method {
 public:
  explicit FedMoE(const FlOptions& fl) : Method(fl) {}
  const char* name() const override { return "fedmoe"; }
  int probe_batches() const override { return 2; }
  bool routes_within_budget() const override { return true; }

  void choose(ClientRun& run, const Model&) const override {
    const int LE = run.L * run.E;
    for (int i = 0; i < LE; i++) run.score[i] = static_cast<float>(run.probe_freq[i]);
    place_budget(run.score, nullptr, run.L, run.E, run.budget, fl_.budget_scope_v, run.K, run.routable);
    std::memcpy(run.trainable, run.routable, static_cast<size_t>(LE));
  }

  double expert_weight(const ClientRun& run, int l, int e) const override {
    return run.routable[l * run.E + e] ? run.data_weight : 0.0;
  }
};

}  // namespace

std::unique_ptr<Method> make_fedmoe(const FlOptions& fl) { return std::make_unique<FedMoE>(fl); }

}  // namespace hf
