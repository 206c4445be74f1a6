#include "fl/method.h"

#include <cstring>

#include "fl/selection.h"

namespace hf {

// Each method's factory and options live in its own file (fl/methods/).
Method make_hfedmoe(const FlOptions& fl);
void add_hfedmoe_options(Options& o, FlOptions& fl);
void check_hfedmoe_options(FlOptions& fl);
Method make_fedavg(const FlOptions& fl);
Method make_fedavg_unbounded(const FlOptions& fl);
Method make_fedprox(const FlOptions& fl);
void add_fedprox_options(Options& o, FlOptions& fl);
void check_fedprox_options(FlOptions& fl);
Method make_random_moe(const FlOptions& fl);
Method make_fedmoe(const FlOptions& fl);

const std::vector<MethodInfo>& method_registry() {
  static const std::vector<MethodInfo> registry = {
      {"hfedmoe", make_hfedmoe, add_hfedmoe_options, check_hfedmoe_options},
      {"fedavg", make_fedavg, nullptr, nullptr},
      {"fedavg_unbounded", make_fedavg_unbounded, nullptr, nullptr},
      {"fedprox", make_fedprox, add_fedprox_options, check_fedprox_options},
      {"random_moe", make_random_moe, nullptr, nullptr},
      {"fedmoe", make_fedmoe, nullptr, nullptr},
  };
  return registry;
}

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const MethodInfo& m : method_registry()) names.push_back(m.name);
  return names;
}

Method make_method(const FlOptions& fl) {
  for (const MethodInfo& m : method_registry())
    if (fl.method == m.name) return m.make(fl);
  check_choice("fl.method", fl.method, method_names());  // the one-line usage error
  fail("fl.method=" + fl.method + " is not a method", "use one of the methods fl.method lists");
}

double AggregationWeights::expert_weight(const ClientRun& run, int l, int e) const {
  return run.trained_any[l * run.E + e] ? run.data_weight : 0.0;
}

void place_by_score(ClientRun& run, const uint8_t* eligible, BudgetScope scope) {
  const int min_per_layer = run.use_routable ? run.K : 0;
  place_budget(run.score, eligible, run.L, run.E, run.budget, scope, min_per_layer, run.trainable);
  if (run.use_routable) std::memcpy(run.routable, run.trainable, static_cast<size_t>(run.L) * run.E);
}

bool drop_until_fits(ClientRun& run, const std::vector<int>& order, const std::function<double()>& step_bytes,
                     double limit) {
  if (run.use_routable) return false;
  for (int i : order) {
    if (step_bytes() <= limit) return true;
    run.trainable[i] = 0;
  }
  return step_bytes() <= limit;
}

}  // namespace hf
