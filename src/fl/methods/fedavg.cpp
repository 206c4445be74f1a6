// FedAvg (McMahan et al. 2017) over the whole MoE, and FedProx (Li et al. 2020), which adds the
// proximal term mu/2 |w - w_global|^2 to each client's loss over the parameters it trains
// (gradient += mu (w - w_global); its own option fl.prox_mu). Every expert is trained (its
// state held all round) and every parameter is averaged by |D_c|. fedavg and fedprox: the
// memory rule binds them like every method, and since they train the whole model they cannot
// shrink: a client whose device cannot hold the whole model's training state fails the round
// (the paper's motivation). fedavg_unbounded ignores memory: the upper bound.
#include <cstring>

#include "fl/method.h"
#include "ops/ops.h"

namespace hf {
namespace {

class WholeModel : public ExpertSelection {
 public:
  void choose(ClientRun& run, const Model&) const override {
    std::memset(run.trainable, 1, static_cast<size_t>(run.L) * run.E);
  }
};

class Proximal final : public WholeModel {
 public:
  explicit Proximal(float mu) : mu_(mu) {}
  void adjust_gradients(const GradientStep& g) const override {  // d/dw mu/2 |w - w_global|^2
    if (mu_ <= 0) return;
    for (const Range& r : g.trained)
      g.ops.proximal_grad(g.grads + r.begin, g.params + r.begin, g.global + r.begin, r.size(), mu_);
  }

 private:
  float mu_;
};

MethodTraits whole_model(bool bounded) {
  MethodTraits t;
  t.needs_budget = false;
  t.memory_bound = bounded;
  t.trains_all_experts = true;
  return t;
}

}  // namespace

Method make_fedavg(const FlOptions&) {
  return {"fedavg", whole_model(true), std::make_unique<WholeModel>(), std::make_unique<AggregationWeights>()};
}

Method make_fedavg_unbounded(const FlOptions&) {
  return {"fedavg_unbounded", whole_model(false), std::make_unique<WholeModel>(), std::make_unique<AggregationWeights>()};
}

Method make_fedprox(const FlOptions& fl) {
  MethodTraits t = whole_model(true);
  t.reads_global = fl.prox_mu > 0;
  return {"fedprox", t, std::make_unique<Proximal>(fl.prox_mu), std::make_unique<AggregationWeights>()};
}

void add_fedprox_options(Options& o, FlOptions& fl) {
  o.add("fl.prox_mu", &fl.prox_mu, "fedprox: weight of the proximal term mu/2 |w - w_global|^2");
}

void check_fedprox_options(FlOptions& fl) { check_range("fl.prox_mu", fl.prox_mu, 0.0f, 1e4f); }

}  // namespace hf
