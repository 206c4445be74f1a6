// HFedMoE (Fang et al., arXiv 2601.00583; docs/design.md, "The method").
// Selection: the information-bottleneck score I(e) (Eq. 14) of every expert on the step's batch,
// and A = the experts of the routed union U with the highest I(e) (Eq. 15) that the budget holds
// (fl.budget_scope: C_budget per layer, or C_budget * L over the model), chosen at the first
// step and kept for the round (fl.reselect=round) or chosen at every step (batch). Only A is
// updated (budget_mode=mask), or also the only experts routed to (strict). When a step does not
// fit its device, the trained expert with the lowest I(e) over all layers goes first.
// Aggregation: an expert is reported when the client trained it and used it, u_c(e) >= tau,
// with weight |D_c| (Eq. 17); the router with alpha(c) = sum_{e in S_c} u_c(e) s_c(e) (Eq. 18-20,
// the 1/|S| of Eq. 20 is applied on the server, which knows the union S).
#include <algorithm>
#include <cstring>
#include <vector>

#include "fl/hfedmoe_math.h"
#include "fl/method.h"
#include "fl/selection.h"
#include "model/model.h"

namespace hf {
namespace {

class HFedMoE final : public Method {
 public:
  explicit HFedMoE(const FlOptions& fl) : Method(fl) {}
  const char* name() const override { return "hfedmoe"; }
  bool raw_gate_sum() const override { return fl_.gate_agg == "raw_sum"; }
  bool chooses_at(int64_t step) const override { return step == 0 || fl_.reselect_v == Reselect::batch; }
  bool chooses_from_routing() const override { return true; }

  void choose(ClientRun& run, const Model& model) const override {
    ib_scores(run, model);
    routed_experts(model, run.eligible);
    place_budget(run.score, run.eligible, run.L, run.E, run.budget, fl_.budget_scope_v, min_per_layer(run), run.trainable);
    if (run.use_routable) std::memcpy(run.routable, run.trainable, static_cast<size_t>(run.L) * run.E);
  }

  bool fit_memory(ClientRun& run, const Model& model, const std::function<double()>& step_bytes,
                  double limit) const override {
    ib_scores(run, model);
    std::vector<int> order;  // trained experts, lowest score first; ties drop the higher (layer, expert)
    for (int i = 0; i < run.L * run.E; i++)
      if (run.trainable[i]) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&run](int a, int b) { return run.score[a] > run.score[b]; });
    std::reverse(order.begin(), order.end());
    return drop_until_fits(run, order, step_bytes, limit);
  }

  double expert_weight(const ClientRun& run, int l, int e) const override {
    int i = l * run.E + e;
    return run.trained_any[i] && run.usage[i] >= fl_.tau_for(run.E) ? run.data_weight : 0.0;
  }

  double router_weight(const ClientRun& run, int l) const override {
    return gate_alpha(run.usage + l * run.E, run.importance + l * run.E, run.E, fl_.tau_for(run.E), 1);
  }

 private:
  // Eq. 14 on the model's last forward, every layer: run.score (L, E).
  void ib_scores(ClientRun& run, const Model& model) const {
    const int N = model.last_B() * model.last_T();
    for (int l = 0; l < run.L; l++)
      ib_score(model.gate_probs(l), model.token_valid(), N, run.E, fl_.lambda, fl_.beta, run.score + l * run.E);
  }
};

}  // namespace

std::unique_ptr<Method> make_hfedmoe(const FlOptions& fl) { return std::make_unique<HFedMoE>(fl); }

}  // namespace hf
