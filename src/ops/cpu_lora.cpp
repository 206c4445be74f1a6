// CPU backend: the frozen base (a linear layer read at its storage precision, dequantised a
// tile of rows at a time) and the LoRA branch beside it. Row chunks of a product run on
// separate threads; reductions over rows (the adapters' weight gradients) stay one GEMM, and
// the tiles of the frozen backward add up in row order, so results do not depend on the
// thread count.
#include <cblas.h>

#include <algorithm>

#include "ops/cpu_ops.h"
#include "ops/cpu_parallel.h"
#include "ops/quantize.h"

namespace hf {

void CpuOps::frozen_dequantize(float* out, const FrozenWeight& w, int row0, int rows) {
  // out (rows, IC); rows split across threads, each row the reference's bits.
  const size_t IC = w.IC;
#pragma omp parallel for if (worth_threads(static_cast<size_t>(rows) * IC))
  for (int r = 0; r < rows; r++) {
    const size_t begin = (static_cast<size_t>(row0) + r) * IC;
    dequantize_reference(out + r * IC, w, begin, begin + IC);
  }
}

void CpuOps::frozen_matmul_forward(float* out, const float* inp, const FrozenWeight& w, float* scratch, int N,
                                   bool accumulate) {
  // out (N, OC), inp (N, IC), scratch (kFrozenTileRows, IC)
  const int IC = w.IC, OC = w.OC;
  if (w.dtype == BaseDtype::fp32) {
    matmul_forward(out, inp, static_cast<const float*>(w.data), nullptr, N, IC, OC, accumulate);
    return;
  }
  for (int o0 = 0; o0 < OC; o0 += kFrozenTileRows) {
    const int rows = std::min(kFrozenTileRows, OC - o0);
    frozen_dequantize(scratch, w, o0, rows);  // (rows, IC): W's rows o0 .. o0 + rows
    parallel_chunks(N, kRowChunk, [&](int r0, int r1) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, rows, IC, 1.0f, inp + static_cast<size_t>(r0) * IC,
                  IC, scratch, IC, accumulate ? 1.0f : 0.0f, out + static_cast<size_t>(r0) * OC + o0, OC);
    });
  }
}

void CpuOps::frozen_matmul_backward(float* dinp, const float* dout, const FrozenWeight& w, float* scratch, int N) {
  // dinp (N, IC), dout (N, OC), scratch (kFrozenTileRows, IC)
  const int IC = w.IC, OC = w.OC;
  if (w.dtype == BaseDtype::fp32) {
    matmul_backward(dinp, nullptr, nullptr, dout, nullptr, static_cast<const float*>(w.data), N, IC, OC);
    return;
  }
  for (int o0 = 0; o0 < OC; o0 += kFrozenTileRows) {
    const int rows = std::min(kFrozenTileRows, OC - o0);
    frozen_dequantize(scratch, w, o0, rows);
    parallel_chunks(N, kRowChunk, [&](int r0, int r1) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, IC, rows, 1.0f,
                  dout + static_cast<size_t>(r0) * OC + o0, OC, scratch, IC, 1.0f, dinp + static_cast<size_t>(r0) * IC,
                  IC);
    });
  }
}

void CpuOps::lora_forward(float* out, float* ax, const float* inp, const float* a, const float* b, int N, int IC,
                          int OC, int r, float scale) {
  // out (N, OC), ax (N, r), inp (N, IC), a (r, IC), b (OC, r)
  parallel_chunks(N, kRowChunk, [&](int r0, int r1) {
    float* ax_rows = ax + static_cast<size_t>(r0) * r;  // (r1 - r0, r)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r, IC, 1.0f, inp + static_cast<size_t>(r0) * IC, IC,
                a, IC, 0.0f, ax_rows, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, OC, r, scale, ax_rows, r, b, r, 1.0f,
                out + static_cast<size_t>(r0) * OC, OC);
  });
}

void CpuOps::lora_backward(float* dinp, float* da, float* db, float* dax, const float* dout, const float* inp,
                           const float* ax, const float* a, const float* b, int N, int IC, int OC, int r,
                           float scale) {
  // dinp (N, IC), da (r, IC), db (OC, r), dax (N, r), dout (N, OC), inp (N, IC), ax (N, r),
  // a (r, IC), b (OC, r)
  if (N == 0) return;
  if (db)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, r, N, scale, dout, OC, ax, r, 1.0f, db, r);
  parallel_chunks(N, kRowChunk, [&](int r0, int r1) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, r, OC, scale, dout + static_cast<size_t>(r0) * OC,
                OC, b, r, 0.0f, dax + static_cast<size_t>(r0) * r, r);
  });
  if (da) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, IC, N, 1.0f, dax, r, inp, IC, 1.0f, da, IC);
  if (dinp)
    parallel_chunks(N, kRowChunk, [&](int r0, int r1) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, IC, r, 1.0f, dax + static_cast<size_t>(r0) * r,
                  r, a, IC, 1.0f, dinp + static_cast<size_t>(r0) * IC, IC);
    });
}

}  // namespace hf
