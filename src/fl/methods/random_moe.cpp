// randomMoE: each client trains a random C_budget subset of every layer's experts, drawn once
// per round from Rng(seed, Purpose::random_moe, round, client); tokens route as usual
// (budget_mode=mask) or only among the subset (strict). Experts the client trained are
// averaged by |D_c| (Eq. 17 without the usage threshold); routers by |D_c|.
#include <cstring>

#include "fl/method.h"
#include "model/model.h"
#include "util/rng.h"

namespace hf {
namespace {

class RandomMoE final : public Method {
 public:
  explicit RandomMoE(const FlOptions& fl) : Method(fl) {}
  const char* name() const override { return "random_moe"; }

  void begin_client(ClientRun& run) const override {
    Rng rng(run.seed, Purpose::random_moe, static_cast<uint64_t>(run.round), static_cast<uint64_t>(run.client));
    std::memset(run.routable, 0, static_cast<size_t>(run.L) * run.E);
    int ids[256];
    for (int l = 0; l < run.L; l++) {  // partial Fisher-Yates: the first C_budget of a shuffle
      for (int e = 0; e < run.E; e++) ids[e] = e;
      int take = run.budget < run.E ? run.budget : run.E;
      for (int i = 0; i < take; i++) {
        int j = i + static_cast<int>(rng.below(static_cast<uint64_t>(run.E - i)));
        int t = ids[i];
        ids[i] = ids[j], ids[j] = t;
        run.routable[l * run.E + ids[i]] = 1;
      }
    }
    run.use_routable = fl_.budget_mode == "strict";
  }

  bool select_step(ClientRun& run, const Model&) const override {
    std::memcpy(run.trainable, run.routable, static_cast<size_t>(run.L) * run.E);
    return true;
  }

  double expert_weight(const ClientRun& run, int l, int e) const override {
    return run.trained_any[l * run.E + e] ? run.data_weight : 0.0;
  }
};

}  // namespace

std::unique_ptr<Method> make_random_moe(const FlOptions& fl) { return std::make_unique<RandomMoE>(fl); }

}  // namespace hf
