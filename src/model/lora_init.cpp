#include "model/lora_init.h"

#include <cmath>

#include "util/rng.h"

namespace hf {

void init_lora_a(float* a, int r, int IC, uint64_t seed, uint64_t tensor) {
  Rng rng(seed, Purpose::adapter_init, tensor);
  const double bound = 1.0 / std::sqrt(static_cast<double>(IC));
  const size_t n = static_cast<size_t>(r) * IC;
  for (size_t i = 0; i < n; i++) a[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
}

}  // namespace hf
