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
// Its own options: fl.beta (Eq. 14) and fl.gate_agg (Eq. 21 normalised or as printed).
#include <algorithm>
#include <vector>

#include "fl/hfedmoe_math.h"
#include "fl/method.h"
#include "model/model.h"
#include "fl/selection.h"

namespace hf {
namespace {

class IbSelection final : public ExpertSelection {
 public:
  explicit IbSelection(const FlOptions& fl) : fl_(fl) {}
  bool chooses_at(int64_t step) const override { return step == 0 || fl_.reselect_v == Reselect::batch; }
  bool chooses_from_routing() const override { return true; }

  void choose(ClientRun& run, const Model& model) const override {
    ib_scores(run, model);
    routed_experts(model, run.eligible);
    place_by_score(run, run.eligible, fl_.budget_scope_v);
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

 private:
  // Eq. 14 on the model's last forward, every layer: run.score (L, E).
  void ib_scores(ClientRun& run, const Model& model) const {
    const int N = model.last_B() * model.last_T();
    for (int l = 0; l < run.L; l++)
      ib_score(model.gate_probs(l), model.token_valid(), N, run.E, fl_.lambda, fl_.beta, run.score + l * run.E);
  }
  const FlOptions fl_;
};

class SparsityAwareWeights final : public AggregationWeights {
 public:
  explicit SparsityAwareWeights(const FlOptions& fl) : fl_(fl) {}
  double expert_weight(const ClientRun& run, int l, int e) const override {
    int i = l * run.E + e;
    return run.trained_any[i] && run.usage[i] >= fl_.tau_for(run.E) ? run.data_weight : 0.0;
  }
  double router_weight(const ClientRun& run, int l) const override {
    return gate_alpha(run.usage + l * run.E, run.importance + l * run.E, run.E, fl_.tau_for(run.E), 1);
  }

 private:
  const FlOptions fl_;
};

}  // namespace

Method make_hfedmoe(const FlOptions& fl) {
  MethodTraits t;
  t.strict_routing = fl.budget_mode_v == BudgetMode::strict;
  t.raw_gate_sum = fl.gate_agg_v == GateAgg::raw_sum;
  return {"hfedmoe", t, std::make_unique<IbSelection>(fl), std::make_unique<SparsityAwareWeights>(fl)};
}

void add_hfedmoe_options(Options& o, FlOptions& fl) {
  o.add("fl.beta", &fl.beta, "hfedmoe, Eq. 14: weight of the information-bottleneck term")
      .add("fl.gate_agg", &fl.gate_agg, "hfedmoe: normalized (alpha-weighted average) or raw_sum (Eq. 21 as printed)");
}

void check_hfedmoe_options(FlOptions& fl) {
  check_range("fl.beta", fl.beta, 0.0f, 100.0f);
  fl.gate_agg_v = parse_choice<GateAgg>("fl.gate_agg", fl.gate_agg, {{"normalized", GateAgg::normalized}, {"raw_sum", GateAgg::raw_sum}});
}

}  // namespace hf
