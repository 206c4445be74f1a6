// HFedMoE (Fang et al., arXiv 2601.00583; DESIGN.md sections 3-4).
// Selection, per batch and layer: the information-bottleneck score I(e) (Eq. 14) of every
// expert, and A = the C_budget experts of the routed union U with the highest I(e) (Eq. 15);
// only A's experts are updated (budget_mode=mask) or also the only ones routed to (strict).
// Aggregation: an expert is reported when the client trained it and used it, u_c(e) >= tau,
// with weight |D_c| (Eq. 17); the router with alpha(c) = sum_{e in S_c} u_c(e) s_c(e) (Eq. 18-20,
// the 1/|S| of Eq. 20 is applied on the server, which knows the union S).
#include <cstring>
#include <vector>

#include "fl/hfedmoe_math.h"
#include "fl/method.h"
#include "model/model.h"

namespace hf {
namespace {

class HFedMoE final : public Method {
 public:
  explicit HFedMoE(const FlOptions& fl) : Method(fl) {}
  const char* name() const override { return "hfedmoe"; }
  bool raw_gate_sum() const override { return fl_.gate_agg == "raw_sum"; }
  void begin_client(ClientRun& run) const override { run.use_routable = fl_.budget_mode == "strict"; }

  bool select_step(ClientRun& run, const Model& model) const override {
    int N = model.last_B() * model.last_T(), E = run.E, K = run.K;
    const uint8_t* valid = model.token_valid();
    float I[256];  // (E) scores of one layer; E <= 256 checked at start-up (fl/engine)
    std::memset(run.trainable, 0, static_cast<size_t>(run.L) * E);
    for (int l = 0; l < run.L; l++) {
      ib_score(model.gate_probs(l), valid, N, E, fl_.lambda, fl_.beta, I);
      std::vector<int> A = select_experts(I, model.topk_experts(l), valid, N, K, E, run.budget);
      for (int e : A) run.trainable[l * E + e] = 1;
    }
    if (run.use_routable) std::memcpy(run.routable, run.trainable, static_cast<size_t>(run.L) * E);
    return true;
  }

  // Eq. 15's order with memory as the budget: drop the trained expert with the lowest IB score
  // over all layers until the step fits. Not in strict mode, where the batch was routed among A:
  // a smaller A would need another forward.
  bool fit_memory(ClientRun& run, const Model& model, const std::function<double()>& step_bytes,
                  double limit) const override {
    if (run.use_routable) return false;
    const int N = model.last_B() * model.last_T(), E = run.E;
    std::vector<float> I(static_cast<size_t>(run.L) * E);  // (L, E); only on this rare path
    for (int l = 0; l < run.L; l++) ib_score(model.gate_probs(l), model.token_valid(), N, E, fl_.lambda, fl_.beta, &I[l * E]);
    while (step_bytes() > limit) {
      int worst = -1;  // ties drop the higher (layer, expert): select_experts keeps the lower id
      for (int i = 0; i < run.L * E; i++)
        if (run.trainable[i] && (worst < 0 || I[i] <= I[worst])) worst = i;
      if (worst < 0) return false;  // the shared part alone does not fit
      run.trainable[worst] = 0;
    }
    return true;
  }

  double expert_weight(const ClientRun& run, int l, int e) const override {
    int i = l * run.E + e;
    return run.trained_any[i] && run.usage[i] >= fl_.tau ? run.data_weight : 0.0;
  }

  double router_weight(const ClientRun& run, int l) const override {
    return gate_alpha(run.usage + l * run.E, run.importance + l * run.E, run.E, fl_.tau, 1);
  }

 protected:
  bool selects_per_batch() const override { return true; }
};

}  // namespace

std::unique_ptr<Method> make_hfedmoe(const FlOptions& fl) { return std::make_unique<HFedMoE>(fl); }

}  // namespace hf
