#include "fl/method.h"

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

bool Method::drop_until_fits(ClientRun& run, const std::vector<int>& order, const std::function<double()>& step_bytes,
                             double limit) {
  if (run.use_routable) return false;
  for (int i : order) {
    if (step_bytes() <= limit) return true;
    run.trainable[i] = 0;
  }
  return step_bytes() <= limit;
}

}  // namespace hf
