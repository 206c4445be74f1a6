// CPU backend: the MoE layer as routing, a counting sort by expert, grouped GEMMs and a
// weighted scatter (MegaBlocks style), plus the SwiGLU activation of each expert.
// Every scatter-like step runs per token over the token's K assignments in order k = 0..K-1,
// so sums have a fixed order and no two threads write the same row.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/cpu_math.h"
#include "ops/cpu_ops.h"
#include "ops/cpu_parallel.h"
#include "util/check.h"

namespace hf {
namespace {
constexpr int kMaxExperts = 1024;
}

void CpuOps::router_forward(float* probs, int32_t* topk_idx, float* topk_w, const float* logits,
                            const uint8_t* routable, int N, int E, int K, bool renormalize) {
  // probs (N, E), topk_idx (N, K), topk_w (N, K), logits (N, E), routable (E)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * E * K))
  for (int n = 0; n < N; n++) {
    const float* z = logits + static_cast<size_t>(n) * E;
    float* p = probs + static_cast<size_t>(n) * E;
    int32_t* idx = topk_idx + static_cast<size_t>(n) * K;
    float* w = topk_w + static_cast<size_t>(n) * K;
    float mx = z[0];
    for (int e = 1; e < E; e++) mx = std::max(mx, z[e]);
    for (int e = 0; e < E; e++) p[e] = exp_fast(z[e] - mx);
    float sum = 0;
    for (int e = 0; e < E; e++) sum += p[e];
    for (int e = 0; e < E; e++) p[e] /= sum;
    float chosen = 0;
    for (int k = 0; k < K; k++) {
      int best = -1;
      for (int e = 0; e < E; e++) {
        if (routable && !routable[e]) continue;
        bool taken = false;
        for (int j = 0; j < k; j++) taken |= idx[j] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = e;  // strict: the lower id keeps a tie
      }
      idx[k] = best;
      chosen += p[best];
    }
    for (int k = 0; k < K; k++) w[k] = renormalize ? p[idx[k]] / chosen : p[idx[k]];
  }
}

void CpuOps::router_backward(float* dlogits, const float* dtopk_w, const float* probs, const int32_t* topk_idx,
                             const float* topk_w, const uint8_t* valid, const float* aux_dprobs, int N, int E,
                             int K, bool renormalize) {
  // dlogits (N, E), dtopk_w (N, K), probs (N, E), topk_idx (N, K), topk_w (N, K), valid (N), aux (E)
  HF_CHECK(E <= kMaxExperts, "%d experts exceed the supported %d", E, kMaxExperts);
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * E))
  for (int n = 0; n < N; n++) {
    const float* p = probs + static_cast<size_t>(n) * E;
    const int32_t* idx = topk_idx + static_cast<size_t>(n) * K;
    const float* w = topk_w + static_cast<size_t>(n) * K;
    const float* dw = dtopk_w + static_cast<size_t>(n) * K;
    float* dz = dlogits + static_cast<size_t>(n) * E;
    float dG[kMaxExperts];
    for (int e = 0; e < E; e++) dG[e] = (aux_dprobs && valid[n]) ? aux_dprobs[e] : 0.0f;
    // w_k = G_k / S with S = sum_j G_j over the chosen: dG_k = (dw_k - sum_j dw_j w_j) / S;
    // without renormalisation w_k = G_k: dG_k = dw_k.
    float chosen = 0, wdw = 0;
    for (int k = 0; k < K; k++) {
      chosen += p[idx[k]];
      wdw += w[k] * dw[k];
    }
    for (int k = 0; k < K; k++) dG[idx[k]] += renormalize ? (dw[k] - wdw) / chosen : dw[k];
    // softmax: dz_e = G_e (dG_e - sum_f G_f dG_f)
    float dot = 0;
    for (int e = 0; e < E; e++) dot += p[e] * dG[e];
    for (int e = 0; e < E; e++) dz[e] += p[e] * (dG[e] - dot);
  }
}

void CpuOps::router_stats(float* f_host, float* pbar_host, const float* probs, const int32_t* topk_idx,
                          const uint8_t* valid, int N, int E, int K) {
  // f (E), pbar (E), probs (N, E), topk_idx (N, K), valid (N); double sums in token order.
  HF_CHECK(E <= kMaxExperts, "%d experts exceed the supported %d", E, kMaxExperts);
  double f[kMaxExperts] = {}, pbar[kMaxExperts] = {};
  int64_t count = 0;
  for (int n = 0; n < N; n++) {
    if (!valid[n]) continue;
    count++;
    for (int e = 0; e < E; e++) pbar[e] += probs[static_cast<size_t>(n) * E + e];
    for (int k = 0; k < K; k++) f[topk_idx[static_cast<size_t>(n) * K + k]] += 1;
  }
  for (int e = 0; e < E; e++) {
    f_host[e] = count ? static_cast<float>(f[e] / count) : 0.0f;
    pbar_host[e] = count ? static_cast<float>(pbar[e] / count) : 0.0f;
  }
}

void CpuOps::moe_dispatch(int32_t* offsets_host, int32_t* perm, int32_t* pos, const int32_t* topk_idx, int N,
                          int K, int E, int capacity) {
  // offsets (E + 1), perm (M), pos (N * K), topk_idx (N, K). A counting sort: serial, O(N K).
  HF_CHECK(E <= kMaxExperts, "%d experts exceed the supported %d", E, kMaxExperts);
  const int A = N * K;
  int32_t fill[kMaxExperts] = {};
  std::fill(offsets_host, offsets_host + E + 1, 0);
  for (int a = 0; a < A; a++) offsets_host[topk_idx[a] + 1]++;
  for (int e = 0; e < E; e++) {
    if (capacity > 0) offsets_host[e + 1] = std::min(offsets_host[e + 1], capacity);
    offsets_host[e + 1] += offsets_host[e];
  }
  // Assignments a = n*K + k in increasing a are in token order, so the first `capacity` tokens
  // of each expert are the ones kept.
  for (int a = 0; a < A; a++) {
    int e = topk_idx[a];
    int row = offsets_host[e] + fill[e];
    if (row < offsets_host[e + 1]) {
      pos[a] = row;
      perm[row] = a;
      fill[e]++;
    } else {
      pos[a] = -1;
    }
  }
}

void CpuOps::moe_gather(float* xs, const float* x, const int32_t* perm, int M, int K, int C) {
  // xs (M, C), x (N, C), perm (M)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(M) * C))
  for (int m = 0; m < M; m++)
    std::memcpy(xs + static_cast<size_t>(m) * C, x + static_cast<size_t>(perm[m] / K) * C, C * sizeof(float));
}

void CpuOps::moe_gather_backward(float* dx, const float* dxs, const int32_t* pos, int N, int K, int C) {
  // dx (N, C), dxs (M, C), pos (N * K)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * K * C))
  for (int n = 0; n < N; n++) {
    float* d = dx + static_cast<size_t>(n) * C;
    for (int k = 0; k < K; k++) {
      int row = pos[n * K + k];
      if (row < 0) continue;
      const float* s = dxs + static_cast<size_t>(row) * C;
      for (int c = 0; c < C; c++) d[c] += s[c];
    }
  }
}

void CpuOps::moe_scatter(float* out, const float* ys, const float* topk_w, const int32_t* pos, int N, int K,
                         int C) {
  // out (N, C), ys (M, C), topk_w (N, K), pos (N * K)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * K * C))
  for (int n = 0; n < N; n++) {
    float* o = out + static_cast<size_t>(n) * C;
    for (int k = 0; k < K; k++) {
      int row = pos[n * K + k];
      if (row < 0) continue;
      float w = topk_w[n * K + k];
      const float* y = ys + static_cast<size_t>(row) * C;
      for (int c = 0; c < C; c++) o[c] += w * y[c];
    }
  }
}

void CpuOps::moe_scatter_backward(float* dys, float* dtopk_w, const float* dout, const float* ys,
                                  const float* topk_w, const int32_t* pos, int N, int K, int C) {
  // dys (M, C), dtopk_w (N, K), dout (N, C), ys (M, C), topk_w (N, K), pos (N * K)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * K * C))
  for (int n = 0; n < N; n++) {
    const float* d = dout + static_cast<size_t>(n) * C;
    for (int k = 0; k < K; k++) {
      int row = pos[n * K + k];
      if (row < 0) continue;
      float w = topk_w[n * K + k];
      const float* y = ys + static_cast<size_t>(row) * C;
      float* dy = dys + static_cast<size_t>(row) * C;
      float dot = 0;
      for (int c = 0; c < C; c++) {
        dy[c] += w * d[c];
        dot += d[c] * y[c];
      }
      dtopk_w[n * K + k] += dot;
    }
  }
}

void CpuOps::grouped_matmul_forward(float* out, const float* inp, const float* w, size_t w_stride,
                                    const int32_t* offsets_host, int E, int IC, int OC) {
  // out (M, OC), inp (M, IC), expert e's w (OC, IC) at w + e * w_stride. Experts are spread
  // over threads (dynamic: their row counts differ); each writes only its own rows.
#pragma omp parallel for schedule(dynamic, 1)
  for (int e = 0; e < E; e++) {
    int rows = offsets_host[e + 1] - offsets_host[e];
    if (rows == 0) continue;
    size_t r0 = offsets_host[e];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, OC, IC, 1.0f, inp + r0 * IC, IC, w + e * w_stride,
                IC, 0.0f, out + r0 * OC, OC);
  }
}

void CpuOps::grouped_matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                                     size_t w_stride, const int32_t* offsets_host, const uint8_t* trainable_host,
                                     int E, int IC, int OC) {
  // dinp (M, IC), dw like w, dout (M, OC), inp (M, IC); one expert per thread at a time.
#pragma omp parallel for schedule(dynamic, 1)
  for (int e = 0; e < E; e++) {
    int rows = offsets_host[e + 1] - offsets_host[e];
    if (rows == 0) continue;
    size_t r0 = offsets_host[e];
    if (dinp)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, IC, OC, 1.0f, dout + r0 * OC, OC,
                  w + e * w_stride, IC, 1.0f, dinp + r0 * IC, IC);
    if (dw && (!trainable_host || trainable_host[e]))
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, rows, 1.0f, dout + r0 * OC, OC, inp + r0 * IC,
                  IC, 1.0f, dw + e * w_stride, IC);
  }
}

void CpuOps::swiglu_forward(float* out, const float* h1, const float* h3, int M, int F) {
  // out, h1, h3 (M, F)
  const size_t n = static_cast<size_t>(M) * F;
#pragma omp parallel for simd if (worth_threads(n))
  for (size_t i = 0; i < n; i++) {
    float a = h1[i];
    out[i] = a / (1.0f + exp_fast(-a)) * h3[i];
  }
}

void CpuOps::swiglu_backward(float* dh1, float* dh3, const float* dout, const float* h1, const float* h3, int M,
                             int F) {
  // dh1, dh3, dout, h1, h3 (M, F); silu'(a) = s (1 + a (1 - s)) with s = sigmoid(a)
  const size_t n = static_cast<size_t>(M) * F;
#pragma omp parallel for simd if (worth_threads(n))
  for (size_t i = 0; i < n; i++) {
    float a = h1[i];
    float s = 1.0f / (1.0f + exp_fast(-a));
    dh1[i] += dout[i] * h3[i] * s * (1.0f + a * (1.0f - s));
    dh3[i] += dout[i] * a * s;
  }
}

void CpuOps::sigmoid_gate_forward(float* out, const float* y, const float* gate, int N, int C) {
  // out, y (N, C), gate (N)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * C))
  for (int n = 0; n < N; n++) {
    const float s = 1.0f / (1.0f + exp_fast(-gate[n]));
    for (int c = 0; c < C; c++) out[static_cast<size_t>(n) * C + c] += s * y[static_cast<size_t>(n) * C + c];
  }
}

void CpuOps::sigmoid_gate_backward(float* dy, float* dgate, const float* dout, const float* y, const float* gate,
                                   int N, int C) {
  // dy, dout, y (N, C), dgate, gate (N)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * C))
  for (int n = 0; n < N; n++) {
    const float s = 1.0f / (1.0f + exp_fast(-gate[n]));
    const float* d = dout + static_cast<size_t>(n) * C;
    const float* yn = y + static_cast<size_t>(n) * C;
    float dot = 0;
    for (int c = 0; c < C; c++) {
      dy[static_cast<size_t>(n) * C + c] += s * d[c];
      dot += d[c] * yn[c];
    }
    dgate[n] += s * (1.0f - s) * dot;
  }
}

}  // namespace hf
