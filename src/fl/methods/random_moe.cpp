// randomMoE, the matched control of HFedMoE: the same budget, scope, routing and re-selection
// rules (fl.budget_scope, fl.budget_mode, fl.reselect), with the experts drawn at random
// instead of by information-bottleneck score: uniform scores from Rng(seed, Purpose::random_moe,
// round, client, step) placed by the budget. When a step does not fit its device it drops
// trained experts in a random order (Rng(seed, Purpose::memory_shrink, round, client, step)).
// Experts the client trained are averaged by |D_c| (Eq. 17 without the usage threshold);
// routers by |D_c|.
#include <cstring>
#include <vector>

#include "fl/method.h"
#include "fl/selection.h"
#include "util/rng.h"

namespace hf {
namespace {

class RandomMoE final : public Method {
 public:
  explicit RandomMoE(const FlOptions& fl) : Method(fl) {}
  const char* name() const override { return "random_moe"; }
  bool chooses_at(int64_t step) const override { return step == 0 || fl_.reselect_v == Reselect::batch; }

  void choose(ClientRun& run, const Model&) const override {
    Rng rng(run.seed, Purpose::random_moe, static_cast<uint64_t>(run.round), static_cast<uint64_t>(run.client),
            static_cast<uint64_t>(run.step));
    const int LE = run.L * run.E;
    for (int i = 0; i < LE; i++) run.score[i] = static_cast<float>(rng.uniform());
    place_budget(run.score, nullptr, run.L, run.E, run.budget, fl_.budget_scope_v, min_per_layer(run), run.trainable);
    if (run.use_routable) std::memcpy(run.routable, run.trainable, static_cast<size_t>(LE));
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

  double expert_weight(const ClientRun& run, int l, int e) const override {
    return run.trained_any[l * run.E + e] ? run.data_weight : 0.0;
  }
};

}  // namespace

std::unique_ptr<Method> make_random_moe(const FlOptions& fl) { return std::make_unique<RandomMoE>(fl); }

}  // namespace hf
