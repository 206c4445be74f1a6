// CPU backend: memory, dense layers, embeddings, RMSNorm, losses, pooling, optimizer.
#include "ops/cpu_ops.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "ops/cpu_math.h"
#include "ops/cpu_parallel.h"
#include "util/check.h"

namespace hf {

CpuOps::CpuOps(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
  openblas_set_num_threads(1);  // why: ops/cpu_parallel.h
}

// ---- memory ----------------------------------------------------------------------------------

void* CpuOps::alloc(size_t bytes) {
  // 64-byte alignment keeps every buffer on its own cache lines and suits AVX-512 loads.
  size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, rounded);
  HF_CHECK(p != nullptr, "out of host memory allocating %zu bytes", bytes);
  std::memset(p, 0, rounded);
  return p;
}
void CpuOps::free(void* p) { std::free(p); }
void CpuOps::upload(void* dst, const void* host_src, size_t bytes) { std::memcpy(dst, host_src, bytes); }
void CpuOps::download(void* host_dst, const void* src, size_t bytes) { std::memcpy(host_dst, src, bytes); }
// Large copies and clears (the gradient arena: 100 MB for small) are split in 1 MiB pieces
// over the threads: one core does not saturate memory bandwidth.
namespace {
constexpr size_t kMemChunk = size_t{1} << 20;
}

void CpuOps::copy(void* dst, const void* src, size_t bytes) {
  if (dst == src) return;
  const long long chunks = static_cast<long long>((bytes + kMemChunk - 1) / kMemChunk);
#pragma omp parallel for if (chunks > 1)
  for (long long c = 0; c < chunks; c++) {
    size_t b = c * kMemChunk;
    std::memcpy(static_cast<char*>(dst) + b, static_cast<const char*>(src) + b, std::min(kMemChunk, bytes - b));
  }
}

void CpuOps::zero(void* p, size_t bytes) {
  const long long chunks = static_cast<long long>((bytes + kMemChunk - 1) / kMemChunk);
#pragma omp parallel for if (chunks > 1)
  for (long long c = 0; c < chunks; c++) {
    size_t b = c * kMemChunk;
    std::memset(static_cast<char*>(p) + b, 0, std::min(kMemChunk, bytes - b));
  }
}

// ---- dense layers ------------------------------------------------------------------------------

void CpuOps::matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int IC,
                            int OC, bool accumulate) {
  // out (N, OC), inp (N, IC), w (OC, IC), bias (OC); row chunks across threads.
  parallel_chunks(N, kRowChunk, [&](int r0, int r1) {
    float* o = out + static_cast<size_t>(r0) * OC;  // (r1 - r0, OC)
    if (bias)
      for (int n = 0; n < r1 - r0; n++) {
        float* row = o + static_cast<size_t>(n) * OC;
        for (int j = 0; j < OC; j++) row[j] = (accumulate ? row[j] : 0.0f) + bias[j];
      }
    float beta = (accumulate || bias) ? 1.0f : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, OC, IC, 1.0f, inp + static_cast<size_t>(r0) * IC,
                IC, w, IC, beta, o, OC);
  });
}

void CpuOps::matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                             const float* w, int N, int IC, int OC) {
  // dinp (N, IC), dw (OC, IC), dbias (OC), dout (N, OC), inp (N, IC), w (OC, IC)
  if (N == 0) return;
  // The weight gradient stays one GEMM (a reduction over N: splitting it would tie its
  // rounding to the split) and runs as a task beside the row chunks of the input gradient,
  // which costs about as much: two threads get even work.
  const int chunks = dinp ? (N + kRowChunk - 1) / kRowChunk : 0;
#pragma omp parallel
#pragma omp single
  {
    if (dw) {
#pragma omp task
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
    }
    for (int c = 0; c < chunks; c++) {
#pragma omp task firstprivate(c)
      {
        int r0 = c * kRowChunk, rows = std::min(N, r0 + kRowChunk) - r0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, IC, OC, 1.0f,
                    dout + static_cast<size_t>(r0) * OC, OC, w, IC, 1.0f, dinp + static_cast<size_t>(r0) * IC, IC);
      }
    }
  }
  if (dbias) {
    for (int n = 0; n < N; n++) {
      const float* d = dout + static_cast<size_t>(n) * OC;
      for (int j = 0; j < OC; j++) dbias[j] += d[j];
    }
  }
}

void CpuOps::embedding_forward(float* out, const int32_t* tokens, const float* table, int N, int C) {
  // out (N, C), tokens (N), table (V, C)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * C))
  for (int n = 0; n < N; n++)
    std::memcpy(out + static_cast<size_t>(n) * C, table + static_cast<size_t>(tokens[n]) * C, C * sizeof(float));
}

void CpuOps::embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int N, int V, int C) {
  // dtable (V, C), dout (N, C), tokens (N). Serial: repeated tokens would race, and the N*C
  // adds are negligible next to the GEMMs.
  for (int n = 0; n < N; n++) {
    float* d = dtable + static_cast<size_t>(tokens[n]) * C;
    const float* g = dout + static_cast<size_t>(n) * C;
    for (int c = 0; c < C; c++) d[c] += g[c];
  }
}

void CpuOps::rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C,
                             float eps) {
  // out (N, C), rstd (N), inp (N, C), w (C)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * C))
  for (int n = 0; n < N; n++) {
    const float* x = inp + static_cast<size_t>(n) * C;
    float* o = out + static_cast<size_t>(n) * C;
    float ss = 0;
    for (int c = 0; c < C; c++) ss += x[c] * x[c];
    float r = 1.0f / std::sqrt(ss / C + eps);
    rstd[n] = r;
    for (int c = 0; c < C; c++) o[c] = x[c] * r * w[c];
  }
}

void CpuOps::rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                              const float* rstd, int N, int C) {
  // dinp (N, C), dw (C), dout (N, C), inp (N, C), w (C), rstd (N)
  // y = x r w with r = (mean x^2 + eps)^-1/2, so dx = r (w dy) - x r^3 / C * sum_j (w dy x)_j.
  if (dinp) {
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * C))
    for (int n = 0; n < N; n++) {
      const float* x = inp + static_cast<size_t>(n) * C;
      const float* dy = dout + static_cast<size_t>(n) * C;
      float* dx = dinp + static_cast<size_t>(n) * C;
      float r = rstd[n], dot = 0;
      for (int c = 0; c < C; c++) dot += w[c] * dy[c] * x[c];
      float k = dot * r * r * r / C;
      for (int c = 0; c < C; c++) dx[c] += r * w[c] * dy[c] - k * x[c];
    }
  }
  if (dw) {
    for (int n = 0; n < N; n++) {
      const float* x = inp + static_cast<size_t>(n) * C;
      const float* dy = dout + static_cast<size_t>(n) * C;
      float r = rstd[n];
      for (int c = 0; c < C; c++) dw[c] += dy[c] * x[c] * r;
    }
  }
}

// ---- heads and losses -----------------------------------------------------------------------------

void CpuOps::crossentropy_forward(float* losses, int32_t* correct, const float* logits, const int32_t* targets,
                                  int N, int V) {
  // losses (N), correct (N), logits (N, V), targets (N)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * V))
  for (int n = 0; n < N; n++) {
    int t = targets[n];
    if (t < 0) {
      losses[n] = 0;
      correct[n] = 0;
      continue;
    }
    const float* z = logits + static_cast<size_t>(n) * V;
    int arg = 0;
    for (int j = 1; j < V; j++)
      if (z[j] > z[arg]) arg = j;
    const float mx = z[arg];
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < V; j++) sum += exp_fast(z[j] - mx);
    losses[n] = std::log(sum) + mx - z[t];
    correct[n] = arg == t;
  }
}

void CpuOps::crossentropy_backward(float* dlogits, const float* logits, const int32_t* targets, float dloss,
                                   int N, int V) {
  // dlogits (N, V), logits (N, V), targets (N)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(N) * V))
  for (int n = 0; n < N; n++) {
    int t = targets[n];
    if (t < 0) continue;
    const float* z = logits + static_cast<size_t>(n) * V;
    float* dz = dlogits + static_cast<size_t>(n) * V;
    float mx = z[0];
#pragma omp simd reduction(max : mx)
    for (int j = 1; j < V; j++) mx = std::max(mx, z[j]);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < V; j++) sum += exp_fast(z[j] - mx);
    const float scale = dloss / sum;
#pragma omp simd
    for (int j = 0; j < V; j++) dz[j] += scale * exp_fast(z[j] - mx);
    dz[t] -= dloss;
  }
}

void CpuOps::mean_pool_forward(float* out, const float* x, const uint8_t* valid, int B, int T, int C) {
  // out (B, C), x (B, T, C), valid (B, T)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(B) * T * C))
  for (int b = 0; b < B; b++) {
    float* o = out + static_cast<size_t>(b) * C;
    std::fill(o, o + C, 0.0f);
    int count = 0;
    for (int t = 0; t < T; t++) {
      if (!valid[b * T + t]) continue;
      const float* xr = x + (static_cast<size_t>(b) * T + t) * C;
      for (int c = 0; c < C; c++) o[c] += xr[c];
      count++;
    }
    if (count > 0)
      for (int c = 0; c < C; c++) o[c] /= count;
  }
}

void CpuOps::mean_pool_backward(float* dx, const float* dout, const uint8_t* valid, int B, int T, int C) {
  // dx (B, T, C), dout (B, C), valid (B, T)
#pragma omp parallel for if (worth_threads(static_cast<size_t>(B) * T * C))
  for (int b = 0; b < B; b++) {
    int count = 0;
    for (int t = 0; t < T; t++) count += valid[b * T + t] != 0;
    if (count == 0) continue;
    const float* d = dout + static_cast<size_t>(b) * C;
    for (int t = 0; t < T; t++) {
      if (!valid[b * T + t]) continue;
      float* g = dx + (static_cast<size_t>(b) * T + t) * C;
      for (int c = 0; c < C; c++) g[c] += d[c] / count;
    }
  }
}

// ---- optimizer -------------------------------------------------------------------------------------

double CpuOps::sum_squares(const float* x, size_t n) {
  // Fixed chunks summed in index order: the result does not depend on the thread count.
  constexpr int kMaxChunks = 4096;
  double partial[kMaxChunks];
  size_t chunk = std::max<size_t>(4096, (n + kMaxChunks - 1) / kMaxChunks);
  int chunks = static_cast<int>((n + chunk - 1) / chunk);
#pragma omp parallel for if (worth_threads(n))
  for (int i = 0; i < chunks; i++) {
    size_t b = i * chunk, e = std::min(n, b + chunk);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t j = b; j < e; j++) s += static_cast<double>(x[j]) * x[j];
    partial[i] = s;
  }
  double total = 0;
  for (int i = 0; i < chunks; i++) total += partial[i];
  return total;
}

void CpuOps::scale(float* x, size_t n, float s) {
#pragma omp parallel for simd if (worth_threads(n))
  for (size_t i = 0; i < n; i++) x[i] *= s;
}

void CpuOps::proximal_grad(float* grad, const float* param, const float* anchor, size_t n, float mu) {
#pragma omp parallel for simd if (worth_threads(n))
  for (size_t i = 0; i < n; i++) grad[i] += mu * (param[i] - anchor[i]);
}

void CpuOps::adamw_update(float* param, const float* grad, float* m, float* v, size_t n, double lr, double beta1,
                          double beta2, double eps, double weight_decay, double bias_corr1, double bias_corr2) {
  // The operation order of torch.optim.AdamW (single-tensor path): param *= 1 - lr*wd;
  // m = m*b1 + (1-b1)*g; v = v*b2 + (1-b2)*g*g; param += -lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps),
  // each scalar computed in double and rounded to fp32 as torch rounds a Python scalar.
  // The loop vectorises only because this file is built with -fno-math-errno (CMakeLists.txt):
  // otherwise GCC keeps a library call for sqrt of a negative number, which v never is.
  const float decay = static_cast<float>(1.0 - lr * weight_decay);
  const float b1 = static_cast<float>(beta1), one_b1 = static_cast<float>(1.0 - beta1);
  const float b2 = static_cast<float>(beta2), one_b2 = static_cast<float>(1.0 - beta2);
  const float neg_step = static_cast<float>(-lr / bias_corr1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bias_corr2));
  const float eps_f = static_cast<float>(eps);
#pragma omp parallel for simd if (worth_threads(n))
  for (size_t i = 0; i < n; i++) {
    float g = grad[i];
    float p = param[i] * decay;
    float mi = m[i] * b1 + one_b1 * g;
    float vi = v[i] * b2 + one_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p + neg_step * (mi / (std::sqrt(vi) / bc2_sqrt + eps_f));
  }
}

}  // namespace hf
