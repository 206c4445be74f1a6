// CUDA backend: rotary embedding and causal grouped-query attention.
// Attention takes the fused kernels (flash_attention.cu) when fused_attention(HS); otherwise
// the reference path here, which follows the CPU twin step for step: per query head h, one
// strided-batched sgemm over the batch for the scores (T, T), a causal softmax kernel over
// every row, one batched sgemm for the weighted values. Backward: dP = dO V^T and dV += P^T dO
// per head, a softmax backward kernel, then dQ += dS K and dK += dS^T Q per head. The query
// heads of one kv head add into the same dK/dV rows in head order, one cuBLAS call after
// another on the stream: no races, a fixed order. Like the CPU, the full T x T product is
// computed and the upper triangle zeroed.
#include <cmath>

#include "cuda/cuda_common.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/flash_attention.h"

namespace hf {

using namespace cuda_detail;

namespace {

constexpr int kMaxHalfHead = 512;  // the CPU backend's limit too

// 1 / theta^(2i/HS) for i < HS/2, passed by value to the kernel (2 KiB of parameters).
struct RopeFreqs {
  float inv_freq[kMaxHalfHead];
};

// Rotates x (B, T, H, HS) in place by +angle (sign 1) or -angle (sign -1); thread per
// (b, t, h, i) pair (i, i + HS/2). The angle is t * inv_freq in fp32 and its cos/sin are taken in
// double then rounded, as the CPU does (HF's float32 rotary tables).
__global__ void rope_kernel(float* x, size_t rows, int T, int H, int HS, RopeFreqs f, float sign) {
  // rows = B * T * H
  const int half = HS / 2;
  for (size_t idx = blockIdx.x * size_t(blockDim.x) + threadIdx.x; idx < rows * half;
       idx += size_t(gridDim.x) * blockDim.x) {
    int i = static_cast<int>(idx % half);
    size_t row = idx / half;  // (b * T + t) * H + h
    int t = static_cast<int>((row / H) % T);
    float angle = static_cast<float>(t) * f.inv_freq[i];
    double s, c;
    sincos(static_cast<double>(angle), &s, &c);
    float cs = static_cast<float>(c), sn = sign * static_cast<float>(s);
    float* r = x + row * HS;
    float x1 = r[i], x2 = r[i + half];
    r[i] = x1 * cs - x2 * sn;
    r[i + half] = x2 * cs + x1 * sn;
  }
}

constexpr int kRowsPerBlock = kThreads / kWarp;  // one warp per score row

// att (rows, T) with rows = B * NH * T, row r being query position i = r % T: in place, the
// scores become softmax over j <= i and zero above the diagonal.
__global__ void causal_softmax_kernel(float* att, size_t rows, int T) {
  size_t r = blockIdx.x * size_t(kRowsPerBlock) + threadIdx.x / kWarp;
  int lane = threadIdx.x % kWarp;
  if (r >= rows) return;  // the whole warp leaves together
  const int i = static_cast<int>(r % T);
  float* row = att + r * T;
  float mx = -INFINITY;
  for (int j = lane; j <= i; j += kWarp) mx = fmaxf(mx, row[j]);
  mx = warp_max(mx);
  float sum = 0;
  for (int j = lane; j <= i; j += kWarp) {
    float e = expf(row[j] - mx);
    row[j] = e;
    sum += e;
  }
  sum = warp_sum(sum);
  float inv = 1.0f / sum;
  for (int j = lane; j <= i; j += kWarp) row[j] *= inv;
  for (int j = i + 1 + lane; j < T; j += kWarp) row[j] = 0.0f;
}

// dS (rows, T) holds dP on entry; on exit dS = scale * P * (dP - sum_j P dP) for j <= i, 0 above.
__global__ void causal_softmax_backward_kernel(float* dS, const float* att, size_t rows, int T, float scale) {
  size_t r = blockIdx.x * size_t(kRowsPerBlock) + threadIdx.x / kWarp;
  int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const int i = static_cast<int>(r % T);
  const float* p = att + r * T;
  float* d = dS + r * T;
  float dot = 0;
  for (int j = lane; j <= i; j += kWarp) dot += p[j] * d[j];
  dot = warp_sum(dot);
  for (int j = lane; j <= i; j += kWarp) d[j] = scale * p[j] * (d[j] - dot);
  for (int j = i + 1 + lane; j < T; j += kWarp) d[j] = 0.0f;
}

RopeFreqs rope_freqs(int HS, float theta) {
  HF_CHECK(HS / 2 <= kMaxHalfHead, "head size %d exceeds the supported %d", HS, 2 * kMaxHalfHead);
  RopeFreqs f{};
  for (int i = 0; i < HS / 2; i++)  // the CPU twin's expression (ops/cpu_attention.cpp)
    f.inv_freq[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(HS));
  return f;
}

}  // namespace

void CudaOps::rope_forward(float* x, int B, int T, int H, int HS, float theta) {
  size_t rows = size_t(B) * T * H;
  if (rows == 0 || HS < 2) return;
  rope_kernel<<<grid_for(rows * (HS / 2)), kThreads, 0, stream_>>>(x, rows, T, H, HS, rope_freqs(HS, theta),
                                                                    1.0f);
  CUDA_CHECK_LAUNCH();
}

// The rotation is orthogonal, so its gradient is the rotation by the opposite angle.
void CudaOps::rope_backward(float* dx, int B, int T, int H, int HS, float theta) {
  size_t rows = size_t(B) * T * H;
  if (rows == 0 || HS < 2) return;
  rope_kernel<<<grid_for(rows * (HS / 2)), kThreads, 0, stream_>>>(dx, rows, T, H, HS, rope_freqs(HS, theta),
                                                                    -1.0f);
  CUDA_CHECK_LAUNCH();
}

bool CudaOps::fused_attention(int HS) const { return attention_ == CudaAttention::fused && HS <= kMaxFlashHead; }

void CudaOps::attention_forward(float* out, float* att, const float* q, const float* k, const float* v, int B,
                                int T, int NH, int NKV, int HS) {
  // out (B, T, NH, HS), att (B, NH, T, T), q (B, T, NH, HS), k, v (B, T, NKV, HS).
  // Head h of batch b: q at q + b * T * ldq + h * HS (row stride ldq), its scores at
  // att + (b * NH + h) * T * T; so for fixed h the batch stride is T * ldq, T * ldk, NH * T * T.
  if (B == 0 || T == 0) return;
  if (fused_attention(HS)) {  // att keeps the log-sum-exp (B, NH, T) only
    flash_attention_forward(stream_, out, att, q, k, v, B, T, NH, NKV, HS);
    return;
  }
  const int group = NH / NKV, ldq = NH * HS, ldk = NKV * HS;
  const long long sq = (long long)T * ldq, sk = (long long)T * ldk, sa = (long long)NH * T * T, tt = (long long)T * T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  for (int h = 0; h < NH; h++) {  // S = scale * Q K^T
    const int g = h / group;
    gemm_batched(false, true, T, T, HS, scale, q + h * HS, ldq, sq, k + g * HS, ldk, sk, 0.0f, att + h * tt, T, sa,
                 B);
  }
  const size_t rows = size_t(B) * NH * T;
  causal_softmax_kernel<<<(rows + kRowsPerBlock - 1) / kRowsPerBlock, kThreads, 0, stream_>>>(att, rows, T);
  CUDA_CHECK_LAUNCH();
  for (int h = 0; h < NH; h++) {  // O = P V
    const int g = h / group;
    gemm_batched(false, false, T, HS, T, 1.0f, att + h * tt, T, sa, v + g * HS, ldk, sk, 0.0f, out + h * HS, ldq,
                 sq, B);
  }
}

void CudaOps::attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout, const float* q,
                                 const float* k, const float* v, const float* att, int B, int T, int NH, int NKV,
                                 int HS) {
  // dq (B, T, NH, HS), dk, dv (B, T, NKV, HS), scratch (B, NH, T, T), dout (B, T, NH, HS)
  if (B == 0 || T == 0) return;
  if (fused_attention(HS)) {  // att holds the log-sum-exp (B, NH, T); scratch takes sum_j P dP (B, NH, T)
    flash_attention_backward(stream_, dq, dk, dv, scratch, dout, q, k, v, att, B, T, NH, NKV, HS);
    return;
  }
  const int group = NH / NKV, ldq = NH * HS, ldk = NKV * HS;
  const long long sq = (long long)T * ldq, sk = (long long)T * ldk, sa = (long long)NH * T * T, tt = (long long)T * T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  for (int h = 0; h < NH; h++) {
    const int g = h / group;
    // dP = dO V^T into scratch; dV += P^T dO
    gemm_batched(false, true, T, T, HS, 1.0f, dout + h * HS, ldq, sq, v + g * HS, ldk, sk, 0.0f, scratch + h * tt,
                 T, sa, B);
    gemm_batched(true, false, T, HS, T, 1.0f, att + h * tt, T, sa, dout + h * HS, ldq, sq, 1.0f, dv + g * HS, ldk,
                 sk, B);
  }
  const size_t rows = size_t(B) * NH * T;
  causal_softmax_backward_kernel<<<(rows + kRowsPerBlock - 1) / kRowsPerBlock, kThreads, 0, stream_>>>(
      scratch, att, rows, T, scale);
  CUDA_CHECK_LAUNCH();
  for (int h = 0; h < NH; h++) {
    const int g = h / group;
    // dQ += dS K; dK += dS^T Q
    gemm_batched(false, false, T, HS, T, 1.0f, scratch + h * tt, T, sa, k + g * HS, ldk, sk, 1.0f, dq + h * HS, ldq,
                 sq, B);
    gemm_batched(true, false, T, HS, T, 1.0f, scratch + h * tt, T, sa, q + h * HS, ldq, sq, 1.0f, dk + g * HS, ldk,
                 sk, B);
  }
}

}  // namespace hf
