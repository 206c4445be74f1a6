// FedMoE (Mei et al. 2024), as a baseline sharing our machinery: a client first measures each
// expert's activation frequency on its own data (two forward-only probe batches), then keeps the
// sub-MoE of the most frequent experts that its budget holds (fl.budget_scope: C_budget per
// layer, or C_budget * L over the model with top_k in every layer; ties by expert id), once per
// round. It holds only that sub-model, so tokens route among it (strict) and it trains all of it;
// it cannot shrink. Modular aggregation: each expert is averaged by |D_c| over the clients whose
// sub-MoE held it; routers by |D_c|.
#include <algorithm>

#include "fl/method.h"
#include "model/model.h"

namespace hf {
namespace {

constexpr int kProbeBatches = 2;

class FrequencySelection final : public ExpertSelection {
 public:
  explicit FrequencySelection(const FlOptions& fl) : fl_(fl) {}

  // run.score = top-k hits per valid token over the probe batches (exact integers in float).
  void choose(ClientRun& run, const Model& model) const override {
    std::fill(run.score, run.score + run.L * run.E, 0.0f);
    for (int i = 0; i < kProbeBatches; i++) {
      run.probe_forward(i);
      const int N = model.last_B() * model.last_T();
      const uint8_t* valid = model.token_valid();
      for (int l = 0; l < run.L; l++) {
        const int32_t* topk = model.topk_experts(l);  // (N, K)
        for (int n = 0; n < N; n++)
          if (valid[n])
            for (int k = 0; k < run.K; k++) run.score[l * run.E + topk[n * run.K + k]] += 1.0f;
      }
    }
    place_by_score(run, nullptr, fl_.budget_scope_v);
  }

 private:
  const FlOptions fl_;
};

}  // namespace

Method make_fedmoe(const FlOptions& fl) {
  MethodTraits t;
  t.strict_routing = true;
  return {"fedmoe", t, std::make_unique<FrequencySelection>(fl), std::make_unique<AggregationWeights>()};
}

}  // namespace hf
