// randomMoE, the matched control of HFedMoE: the same budget, scope, routing and re-selection
// rules (fl.budget_scope, fl.budget_mode, fl.reselect), with the experts drawn at random
// instead of by information-bottleneck score: uniform scores from Rng(seed, Purpose::random_moe,
// round, client, step) placed by the budget. When a step does not fit its device it drops
// trained experts in a random order (Rng(seed, Purpose::memory_shrink, round, client, step)).
// Experts the client trained are averaged by |D_c| (Eq. 17 without the usage threshold);
// routers by |D_c|.
#include <vector>

#include "fl/method.h"
#include "util/rng.h"

namespace hf {
namespace {

class RandomSelection final : public ExpertSelection {
 public:
  explicit RandomSelection(const FlOptions& fl) : fl_(fl) {}
  bool chooses_at(int64_t step) const override { return step == 0 || fl_.reselect_v == Reselect::batch; }

  void choose(ClientRun& run, const Model&) const override {
    Rng rng(run.seed, Purpose::random_moe, static_cast<uint64_t>(run.round), static_cast<uint64_t>(run.client),
            static_cast<uint64_t>(run.step));
    for (int i = 0; i < run.L * run.E; i++) run.score[i] = static_cast<float>(rng.uniform());
    place_by_score(run, nullptr, fl_.budget_scope_v);
  }

  bool fit_memory(ClientRun& run, const Model&, const std::function<double()>& step_bytes,
                  double limit) const override {
    std::vector<int> order;  // the trained experts, shuffled
    for (int i = 0; i < run.L * run.E; i++)
      if (run.trainable[i]) order.push_back(i);
    Rng rng(run.seed, Purpose::memory_shrink, static_cast<uint64_t>(run.round), static_cast<uint64_t>(run.client),
            static_cast<uint64_t>(run.step));
    rng.shuffle(order.data(), order.size());
    return drop_until_fits(run, order, step_bytes, limit);
  }

 private:
  const FlOptions fl_;
};

}  // namespace

Method make_random_moe(const FlOptions& fl) {
  MethodTraits t;
  t.strict_routing = fl.budget_mode_v == BudgetMode::strict;
  return {"random_moe", t, std::make_unique<RandomSelection>(fl), std::make_unique<AggregationWeights>()};
}

}  // namespace hf
