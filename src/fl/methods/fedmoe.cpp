// FedMoE (Mei et al. 2024), as a baseline sharing our machinery: a client first measures each
// expert's activation frequency on its own data (forward-only probe batches), then keeps a
// sub-MoE that fits its memory: per layer the experts whose frequency is at least the largest
// threshold that retains no more than C_budget of them (ties by expert id). It holds only that
// sub-model, so tokens route among it (strict) and it trains all of it. Modular aggregation:
// each expert is averaged by |D_c| over the clients whose sub-MoE held it; routers by |D_c|.
#include <algorithm>
#include <cstring>

#include "fl/method.h"
#include "model/model.h"

namespace hf {
namespace {

class FedMoE final : public Method {
 public:
  explicit FedMoE(const FlOptions& fl) : Method(fl) {}
  const char* name() const override { return "fedmoe"; }
  int probe_batches() const override { return 2; }
  bool routes_within_budget() const override { return true; }

  void begin_client(ClientRun& run) const override {
    std::memset(run.routable, 0, static_cast<size_t>(run.L) * run.E);
    int order[256];
    int take = std::min(run.budget, run.E);
    for (int l = 0; l < run.L; l++) {
      const double* f = run.probe_freq + l * run.E;
      for (int e = 0; e < run.E; e++) order[e] = e;
      std::stable_sort(order, order + run.E, [f](int a, int b) { return f[a] > f[b]; });
      for (int i = 0; i < take; i++) run.routable[l * run.E + order[i]] = 1;
    }
    run.use_routable = true;
  }

  bool select_step(ClientRun& run, const Model&) const override {
    std::memcpy(run.trainable, run.routable, static_cast<size_t>(run.L) * run.E);
    return true;
  }

  double expert_weight(const ClientRun& run, int l, int e) const override {
    return run.routable[l * run.E + e] ? run.data_weight : 0.0;
  }
};

}  // namespace

std::unique_ptr<Method> make_fedmoe(const FlOptions& fl) { return std::make_unique<FedMoE>(fl); }

}  // namespace hf
