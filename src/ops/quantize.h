#pragma once
// Quantisation of a frozen base weight on the host (once, when a run loads its base), and the
// reference dequantisation every backend's frozen ops must reproduce bit for bit. Storage
// layouts: ops/frozen_weight.h.
//
// Rounding rules (each chosen so that an independent implementation,
// tests/ref/make_lora_reference.py, gets the same codes):
//   bf16  round to nearest, ties to even
//   int8  q = nearbyint(w / scale) (ties to even), scale = absmax / 127 in fp32
//   nf4   q = the level of kNf4Code nearest to w / absmax (fp32 division), the lower level on a tie
//   double quantisation: offset = mean of the scales (double, rounded to fp32); per group of
//         kScaleGroup scales, s2 = max |scale - offset| / 127, code = nearbyint((scale - offset) / s2)
// A block (or group) whose absmax is 0 stores scale 0 (codes 0 for int8, the level 0.0 for nf4).
//
// Round-trip error, per element of a block with absmax a (tests/unit/test_ops_quantize.cpp):
//   bf16 |w| 2^-8 (half a unit of the 8-bit significand);  int8 a / 254;  nf4 a * (the largest
//   half gap between neighbouring levels, 0.1519); double quantisation adds |level| * s2 / 2,
//   with s2 the step of the block's group of scales; plus fp32 rounding.
#include <cstdint>
#include <vector>

#include "ops/frozen_weight.h"

namespace hf {

// Host bytes of one quantised weight; view() describes them (host pointers).
struct QuantizedWeight {
  BaseDtype dtype = BaseDtype::fp32;
  int OC = 0, IC = 0, block = 0;
  std::vector<uint8_t> data;          // the codes, laid out as FrozenWeight::data
  std::vector<float> scales;          // (n_blocks), empty when double-quantised
  std::vector<int8_t> scale_codes;    // (n_blocks) when double-quantised
  std::vector<float> scale_scales;    // (n_groups) when double-quantised
  float scale_offset = 0;
  FrozenWeight view() const;
};

// w (OC, IC) host -> its storage. block: elements per scale for int8 (IC = per row; must be
// positive) and nf4 (must be kNf4Block); ignored for fp32 and bf16. double_quant: int8 and nf4 only.
QuantizedWeight quantize_weight(const float* w, int OC, int IC, BaseDtype dtype, int block, bool double_quant);

// The reference dequantisation: out (end - begin) = row-major elements [begin, end) of W.
// Host memory only (the CPU backend's frozen_dequantize is this function).
void dequantize_reference(float* out, const FrozenWeight& w, size_t begin, size_t end);

// bfloat16 bits of x, rounded to nearest even (x finite).
uint16_t bf16_bits(float x);

}  // namespace hf
