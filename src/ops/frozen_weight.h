#pragma once
// The frozen base of a parameter-efficient run (LoRA): one linear weight W (OC, IC) kept at a
// storage precision and read only through the ops that dequantise it (ops.h, frozen_*). One
// descriptor for every storage, so the dispatch on the storage happens in one place per
// backend (the dequantisation of a tile of rows) and the GEMMs around it are shared:
//   fp32  W itself (OC, IC)
//   bf16  W rounded to nearest even to bfloat16 (OC, IC) uint16: the upper half of the fp32 bits
//   int8  codes q (OC, IC) int8 in [-127, 127], one scale per block of `block` consecutive
//         row-major elements (block = IC: per row): W = q * scale, scale = absmax / 127
//   nf4   QLoRA's 4-bit NormalFloat (Dettmers et al. 2023, arXiv 2305.14314): codes q
//         (ceil(OC*IC / 2)) uint8, two per byte, the even element in the high nibble (as
//         bitsandbytes packs them), one scale per block of 64: W = kNf4Code[q] * scale,
//         scale = absmax of the block
// Double quantisation (QLoRA section 3, int8 and nf4): the per-block scales are themselves
// stored as int8 codes over groups of kScaleGroup scales, after subtracting their mean:
//   scale = fma(scale_codes[b], scale_scales[b / kScaleGroup], scale_offset)
// (an explicit fma, so that every backend computes the same bits). QLoRA quantises the scales
// with bitsandbytes' 8-bit dynamic code; here they are linear int8 with a group absmax, which
// costs the same 8 bits and bounds the error by half a step (ops/quantize.h).
//
// The pointers are backend memory (host memory on the CPU backend). The bytes are made on the
// host, once, by ops/quantize.h; a GEMM never keeps an fp32 copy of W, only one tile of
// kFrozenTileRows rows at a time in the caller's scratch.
#include <cstddef>
#include <cstdint>

namespace hf {

enum class BaseDtype : uint8_t { fp32, bf16, int8, nf4 };
const char* base_dtype_name(BaseDtype d);

// Rows of W dequantised at a time by frozen_matmul_*: the scratch they take is (kFrozenTileRows, IC).
constexpr int kFrozenTileRows = 64;
constexpr int kNf4Block = 64;     // QLoRA's block size for nf4 scales
constexpr int kScaleGroup = 256;  // QLoRA's block size for the double-quantised scales

// The 16 NormalFloat levels as published with QLoRA (bitsandbytes' NF4 table, float32):
// quantiles of N(0, 1) normalised to [-1, 1], with an exact 0. tests/unit/test_ops_quantize.cpp
// rebuilds them from that construction.
inline constexpr float kNf4Code[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

// Bytes of one weight of numel elements stored as dtype: the codes, then the scales (fp32 each,
// or double-quantised: an int8 code each, an fp32 scale per group of kScaleGroup, the offset).
size_t frozen_bytes(BaseDtype dtype, size_t numel, int block, bool double_quant);

struct FrozenWeight {
  BaseDtype dtype = BaseDtype::fp32;
  int OC = 0, IC = 0;
  int block = 0;                          // elements per scale (int8, nf4); 0 otherwise
  const void* data = nullptr;             // float | uint16 | int8 (OC, IC), or uint8 (ceil(OC*IC/2)) for nf4
  const float* scales = nullptr;          // (n_blocks) when the scales are plain fp32
  const int8_t* scale_codes = nullptr;    // (n_blocks) when double-quantised
  const float* scale_scales = nullptr;    // (n_groups) when double-quantised
  float scale_offset = 0;                 // the mean scale, when double-quantised

  size_t numel() const { return static_cast<size_t>(OC) * IC; }
  bool has_scales() const { return dtype == BaseDtype::int8 || dtype == BaseDtype::nf4; }
  bool double_quant() const { return scale_codes != nullptr; }
  size_t n_blocks() const { return has_scales() ? (numel() + block - 1) / block : 0; }
  size_t n_groups() const { return double_quant() ? (n_blocks() + kScaleGroup - 1) / kScaleGroup : 0; }
  // Bytes of the stored codes and scales: what the frozen base really occupies.
  size_t bytes() const;
};

}  // namespace hf
