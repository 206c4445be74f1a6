// CUDA backend: the frozen base (dequantised a tile of rows at a time into the caller's
// scratch, then one cuBLAS sgemm per tile) and the LoRA branch (four sgemms, no kernel of its
// own). The dequantisation kernel computes each element as ops/quantize.cpp's reference does,
// with the same single rounding per step (an explicit fmaf for double-quantised scales), so
// its output is bitwise equal to the CPU's.
#include <cstring>

#include "cuda/cuda_common.cuh"
#include "cuda/cuda_ops.h"

namespace hf {

using namespace cuda_detail;

namespace {

struct Nf4Levels {
  float v[16];  // kNf4Code, passed by value: one copy per launch, read from the parameter space
};

__device__ inline float block_scale(const FrozenWeight& w, size_t b) {
  return w.scale_codes ? fmaf(static_cast<float>(w.scale_codes[b]), w.scale_scales[b / kScaleGroup], w.scale_offset)
                       : w.scales[b];
}

// out (n) = W's row-major elements [begin, begin + n); one thread per element.
__global__ void frozen_dequantize_kernel(float* out, FrozenWeight w, Nf4Levels levels, size_t begin, size_t n) {
  for (size_t j = blockIdx.x * size_t(blockDim.x) + threadIdx.x; j < n; j += size_t(gridDim.x) * blockDim.x) {
    const size_t i = begin + j;
    float value;
    switch (w.dtype) {
      case BaseDtype::fp32:
        value = static_cast<const float*>(w.data)[i];
        break;
      case BaseDtype::bf16: {
        uint32_t u = static_cast<uint32_t>(static_cast<const uint16_t*>(w.data)[i]) << 16;
        memcpy(&value, &u, sizeof(value));
        break;
      }
      case BaseDtype::int8:
        value = static_cast<float>(static_cast<const int8_t*>(w.data)[i]) * block_scale(w, i / w.block);
        break;
      default: {  // nf4
        uint8_t byte = static_cast<const uint8_t*>(w.data)[i / 2];
        int level = i % 2 == 0 ? byte >> 4 : byte & 15;
        value = levels.v[level] * block_scale(w, i / w.block);
      }
    }
    out[j] = value;
  }
}

}  // namespace

void CudaOps::frozen_dequantize(float* out, const FrozenWeight& w, int row0, int rows) {
  const size_t n = static_cast<size_t>(rows) * w.IC;
  if (n == 0) return;
  Nf4Levels levels;
  for (int i = 0; i < 16; i++) levels.v[i] = kNf4Code[i];
  frozen_dequantize_kernel<<<grid_for(n), kThreads, 0, stream_>>>(out, w, levels, static_cast<size_t>(row0) * w.IC, n);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::frozen_matmul_forward(float* out, const float* inp, const FrozenWeight& w, float* scratch, int N,
                                    bool accumulate) {
  // out (N, OC), inp (N, IC), scratch (kFrozenTileRows, IC); the CPU twin's tiles.
  const int IC = w.IC, OC = w.OC;
  if (w.dtype == BaseDtype::fp32) {
    matmul_forward(out, inp, static_cast<const float*>(w.data), nullptr, N, IC, OC, accumulate);
    return;
  }
  for (int o0 = 0; o0 < OC; o0 += kFrozenTileRows) {
    const int rows = OC - o0 < kFrozenTileRows ? OC - o0 : kFrozenTileRows;
    frozen_dequantize(scratch, w, o0, rows);
    gemm(false, true, N, rows, IC, 1.0f, inp, IC, scratch, IC, accumulate ? 1.0f : 0.0f, out + o0, OC);
  }
}

void CudaOps::frozen_matmul_backward(float* dinp, const float* dout, const FrozenWeight& w, float* scratch, int N) {
  // dinp (N, IC) += dout (N, OC) · W, tiles in row order.
  const int IC = w.IC, OC = w.OC;
  if (w.dtype == BaseDtype::fp32) {
    matmul_backward(dinp, nullptr, nullptr, dout, nullptr, static_cast<const float*>(w.data), N, IC, OC);
    return;
  }
  for (int o0 = 0; o0 < OC; o0 += kFrozenTileRows) {
    const int rows = OC - o0 < kFrozenTileRows ? OC - o0 : kFrozenTileRows;
    frozen_dequantize(scratch, w, o0, rows);
    gemm(false, false, N, IC, rows, 1.0f, dout + o0, OC, scratch, IC, 1.0f, dinp, IC);
  }
}

void CudaOps::lora_forward(float* out, float* ax, const float* inp, const float* a, const float* b, int N, int IC,
                           int OC, int r, float scale) {
  // ax (N, r) = inp (N, IC) · a (r, IC)^T; out (N, OC) += scale · ax · b (OC, r)^T
  gemm(false, true, N, r, IC, 1.0f, inp, IC, a, IC, 0.0f, ax, r);
  gemm(false, true, N, OC, r, scale, ax, r, b, r, 1.0f, out, OC);
}

void CudaOps::lora_backward(float* dinp, float* da, float* db, float* dax, const float* dout, const float* inp,
                            const float* ax, const float* a, const float* b, int N, int IC, int OC, int r,
                            float scale) {
  if (N == 0) return;
  if (db) gemm(true, false, OC, r, N, scale, dout, OC, ax, r, 1.0f, db, r);  // (OC, r)
  gemm(false, false, N, r, OC, scale, dout, OC, b, r, 0.0f, dax, r);        // (N, r)
  if (da) gemm(true, false, r, IC, N, 1.0f, dax, r, inp, IC, 1.0f, da, IC);  // (r, IC)
  if (dinp) gemm(false, false, N, IC, r, 1.0f, dax, r, a, IC, 1.0f, dinp, IC);  // (N, IC)
}

}  // namespace hf
