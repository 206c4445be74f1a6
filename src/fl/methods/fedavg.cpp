#include "fl/methods/fedavg.h"

namespace hf {

std::unique_ptr<Method> make_fedavg(const FlOptions& fl, bool bounded) { return std::make_unique<FedAvg>(fl, bounded); }

}  // namespace hf
