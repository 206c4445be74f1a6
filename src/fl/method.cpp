#include "fl/method.h"

#include <cstring>

#include "model/model.h"

namespace hf {

// Each method's factory lives in its own file (fl/methods/).
std::unique_ptr<Method> make_hfedmoe(const FlOptions& fl);
std::unique_ptr<Method> make_fedavg(const FlOptions& fl, bool bounded);
std::unique_ptr<Method> make_fedprox(const FlOptions& fl);
std::unique_ptr<Method> make_random_moe(const FlOptions& fl);
std::unique_ptr<Method> make_fedmoe(const FlOptions& fl);

std::vector<std::string> method_names() {
  return {"hfedmoe", "fedavg", "fedavg_unbounded", "fedprox", "random_moe", "fedmoe"};
}

std::unique_ptr<Method> make_method(const FlOptions& fl) {
  if (fl.method == "hfedmoe") return make_hfedmoe(fl);
  if (fl.method == "fedavg") return make_fedavg(fl, true);
  if (fl.method == "fedavg_unbounded") return make_fedavg(fl, false);
  if (fl.method == "fedprox") return make_fedprox(fl);
  if (fl.method == "random_moe") return make_random_moe(fl);
  if (fl.method == "fedmoe") return make_fedmoe(fl);
  fail("fl.method=" + fl.method + " is not a method", "use one of hfedmoe, fedavg, fedavg_unbounded, fedprox, random_moe, fedmoe");
}

void routed_experts(const Model& model, uint8_t* used) {
  const ModelConfig& c = model.config();
  int N = model.last_B() * model.last_T(), E = c.n_experts, K = c.top_k;
  const uint8_t* valid = model.token_valid();
  std::memset(used, 0, static_cast<size_t>(c.n_layers) * E);
  for (int l = 0; l < c.n_layers; l++) {
    const int32_t* topk = model.topk_experts(l);
    for (int i = 0; i < N; i++) {
      if (valid && !valid[i]) continue;
      for (int k = 0; k < K; k++) used[l * E + topk[i * K + k]] = 1;
    }
  }
}

}  // namespace hf
