// CPU backend: rotary embedding and causal grouped-query attention.
// Attention is two sgemm calls per (batch, head) (scores, then the weighted sum of values)
// around a causal softmax, the (batch, head) pairs spread over OpenMP threads. The full T x T
// score matrix is computed and its upper triangle zeroed: a blocked triangular product would
// halve these FLOPs but is not worth its code while the expert GEMMs dominate the step.
#include <cblas.h>

#include <cmath>

#include "ops/cpu_math.h"
#include "ops/cpu_ops.h"
#include "ops/cpu_parallel.h"
#include "util/check.h"

namespace hf {
namespace {

constexpr int kMaxHalfHead = 512;

// Rotates x (B, T, H, HS) in place by +angle (sign = 1) or -angle (sign = -1). The angle is
// computed in fp32 as t * inv_freq with inv_freq = 1 / theta^(2i/HS), matching HF's float32
// rotary tables so that imported checkpoints reproduce PyTorch logits.
void rotate(float* x, int B, int T, int H, int HS, float theta, float sign) {
  const int half = HS / 2;
  HF_CHECK(half <= kMaxHalfHead, "head size %d exceeds the supported %d", HS, 2 * kMaxHalfHead);
#pragma omp parallel for if (worth_threads(static_cast<size_t>(B) * T * H * HS))
  for (int t = 0; t < T; t++) {
    float cs[kMaxHalfHead], sn[kMaxHalfHead];
    for (int i = 0; i < half; i++) {
      float inv_freq = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(HS));
      float angle = static_cast<float>(t) * inv_freq;
      cs[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sn[i] = sign * static_cast<float>(std::sin(static_cast<double>(angle)));
    }
    for (int b = 0; b < B; b++) {
      for (int h = 0; h < H; h++) {
        float* r = x + ((static_cast<size_t>(b) * T + t) * H + h) * HS;
        for (int i = 0; i < half; i++) {
          float x1 = r[i], x2 = r[i + half];
          r[i] = x1 * cs[i] - x2 * sn[i];
          r[i + half] = x2 * cs[i] + x1 * sn[i];
        }
      }
    }
  }
}

}  // namespace

void CpuOps::rope_forward(float* x, int B, int T, int H, int HS, float theta) {
  rotate(x, B, T, H, HS, theta, 1.0f);
}

// The rotation is orthogonal, so its gradient is the rotation by the opposite angle.
void CpuOps::rope_backward(float* dx, int B, int T, int H, int HS, float theta) {
  rotate(dx, B, T, H, HS, theta, -1.0f);
}

void CpuOps::attention_forward(float* out, float* att, const float* q, const float* k, const float* v, int B,
                               int T, int NH, int NKV, int HS) {
  // out (B, T, NH, HS), att (B, NH, T, T), q (B, T, NH, HS), k, v (B, T, NKV, HS)
  const int group = NH / NKV;
  const int ldq = NH * HS, ldk = NKV * HS;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    const float* qh = q + static_cast<size_t>(b) * T * ldq + h * HS;
    const float* kh = k + static_cast<size_t>(b) * T * ldk + (h / group) * HS;
    const float* vh = v + static_cast<size_t>(b) * T * ldk + (h / group) * HS;
    float* oh = out + static_cast<size_t>(b) * T * ldq + h * HS;
    float* P = att + static_cast<size_t>(bh) * T * T;  // (T, T)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HS, scale, qh, ldq, kh, ldk, 0.0f, P, T);
    for (int i = 0; i < T; i++) {
      float* row = P + static_cast<size_t>(i) * T;
      // simd reductions: vector-wide partial sums, a fixed order for a given build.
      float mx = row[0];
#pragma omp simd reduction(max : mx)
      for (int j = 1; j <= i; j++) mx = std::max(mx, row[j]);
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int j = 0; j <= i; j++) {
        row[j] = exp_fast(row[j] - mx);
        sum += row[j];
      }
      float inv = 1.0f / sum;
      for (int j = 0; j <= i; j++) row[j] *= inv;
      for (int j = i + 1; j < T; j++) row[j] = 0.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HS, T, 1.0f, P, T, vh, ldk, 0.0f, oh, ldq);
  }
}

void CpuOps::attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                                const float* q, const float* k, const float* v, const float* att, int B, int T,
                                int NH, int NKV, int HS) {
  // dq (B, T, NH, HS), dk, dv (B, T, NKV, HS), scratch (B, NH, T, T), dout (B, T, NH, HS)
  const int group = NH / NKV;
  const int ldq = NH * HS, ldk = NKV * HS;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  // The query heads of one kv head add into the same dk/dv rows, so a thread owns a
  // (batch, kv head) pair and runs its heads in order: no races, a fixed summation order.
#pragma omp parallel for schedule(static)
  for (int bg = 0; bg < B * NKV; bg++) {
    const int b = bg / NKV, g = bg % NKV;
    const size_t ko = static_cast<size_t>(b) * T * ldk + g * HS;
    for (int h = g * group; h < (g + 1) * group; h++) {
      const size_t qo = static_cast<size_t>(b) * T * ldq + h * HS;
      const float* P = att + (static_cast<size_t>(b) * NH + h) * T * T;  // (T, T)
      float* dS = scratch + (static_cast<size_t>(b) * NH + h) * T * T;   // (T, T)
      // dP = dO V^T; dV += P^T dO
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HS, 1.0f, dout + qo, ldq, v + ko, ldk, 0.0f,
                  dS, T);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, HS, T, 1.0f, P, T, dout + qo, ldq, 1.0f, dv + ko,
                  ldk);
      // softmax backward: dS = P * (dP - sum_j P dP), times the score scale
      for (int i = 0; i < T; i++) {
        const float* p = P + static_cast<size_t>(i) * T;
        float* d = dS + static_cast<size_t>(i) * T;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j <= i; j++) dot += p[j] * d[j];
        for (int j = 0; j <= i; j++) d[j] = scale * p[j] * (d[j] - dot);
        for (int j = i + 1; j < T; j++) d[j] = 0.0f;
      }
      // dQ += dS K; dK += dS^T Q
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HS, T, 1.0f, dS, T, k + ko, ldk, 1.0f, dq + qo,
                  ldq);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, HS, T, 1.0f, dS, T, q + qo, ldq, 1.0f, dk + ko,
                  ldk);
    }
  }
}

}  // namespace hf
