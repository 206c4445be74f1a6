#include "ops/frozen_weight.h"

namespace hf {

const char* base_dtype_name(BaseDtype d) {
  static const char* names[] = {"fp32", "bf16", "int8", "nf4"};
  return names[static_cast<int>(d)];
}

size_t FrozenWeight::bytes() const {
  size_t codes = dtype == BaseDtype::fp32   ? numel() * 4
                 : dtype == BaseDtype::bf16 ? numel() * 2
                 : dtype == BaseDtype::int8 ? numel()
                                            : (numel() + 1) / 2;
  size_t scale_bytes = double_quant() ? n_blocks() + n_groups() * sizeof(float) + sizeof(float)
                                      : n_blocks() * sizeof(float);
  return codes + scale_bytes;
}

}  // namespace hf
