#pragma once
// The initial values of a LoRA adapter, as PEFT's LoraLayer.reset_lora_parameters gives them:
// A (r, IC) by nn.init.kaiming_uniform_(a = sqrt(5)), which is U(-1/sqrt(IC), 1/sqrt(IC))
// (gain sqrt(2 / (1 + a^2)) = sqrt(1/3), bound gain * sqrt(3 / fan_in)); B (OC, r) zeros, so a
// fresh adapter leaves the base's output unchanged.
#include <cstdint>

namespace hf {

// a (r, IC) from the stream Rng(seed, Purpose::adapter_init, tensor): one stream per adapter
// tensor (its index in the parameter table), so its values do not depend on the others' sizes.
void init_lora_a(float* a, int r, int IC, uint64_t seed, uint64_t tensor);

}  // namespace hf
