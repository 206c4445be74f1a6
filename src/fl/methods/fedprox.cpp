// FedProx (Li et al. 2020): FedAvg with the proximal term mu/2 |w - w_global|^2 added to each
// client's loss over the parameters it trains (gradient += mu (w - w_global)); the memory rule
// binds it as it binds FedAvg.
#include "fl/methods/fedavg.h"

namespace hf {
namespace {

class FedProx final : public FedAvg {
 public:
  explicit FedProx(const FlOptions& fl) : FedAvg(fl, true) {}
  const char* name() const override { return "fedprox"; }
  float prox_mu() const override { return fl_.prox_mu; }
};

}  // namespace

std::unique_ptr<Method> make_fedprox(const FlOptions& fl) { return std::make_unique<FedProx>(fl); }

}  // namespace hf
