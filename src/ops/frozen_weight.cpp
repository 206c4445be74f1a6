#include "ops/frozen_weight.h"

namespace hf {

const char* base_dtype_name(BaseDtype d) {
  static const char* names[] = {"fp32", "bf16", "int8", "nf4"};
  return names[static_cast<int>(d)];
}

size_t frozen_bytes(BaseDtype dtype, size_t numel, int block, bool double_quant) {
  const size_t codes = dtype == BaseDtype::fp32   ? numel * 4
                       : dtype == BaseDtype::bf16 ? numel * 2
                       : dtype == BaseDtype::int8 ? numel
                                                  : (numel + 1) / 2;
  const bool scaled = dtype == BaseDtype::int8 || dtype == BaseDtype::nf4;
  const size_t blocks = scaled ? (numel + block - 1) / block : 0;
  const size_t groups = (blocks + kScaleGroup - 1) / kScaleGroup;
  return codes + (double_quant ? blocks + groups * sizeof(float) + sizeof(float) : blocks * sizeof(float));
}

size_t FrozenWeight::bytes() const { return frozen_bytes(dtype, numel(), block, double_quant()); }

}  // namespace hf
