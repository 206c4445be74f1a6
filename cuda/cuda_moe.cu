// CUDA backend: router, dispatch (a stable sort of assignments by expert), gather/scatter,
// grouped GEMMs, SwiGLU. No float atomics anywhere: every sum has one owner thread (or warp)
// that adds in the CPU twin's order (k = 0..K-1 per token, e = 0..E-1 per router row).
#include <cmath>

#include "cuda/cuda_common.cuh"
#include "cuda/cuda_ops.h"

namespace hf {

using namespace cuda_detail;

namespace {

// A per-expert float vector passed by value as a kernel parameter (4 KiB; CUDA 12.1+ allows
// 32764 bytes of parameters), so host-side vectors need no copy and no sync.
struct ExpertFloats {
  float v[kMaxExperts];
};

// ---- router ----------------------------------------------------------------------------------

// Thread per token row; the CPU twin's loops verbatim, so the top-k decisions and their
// tie-breaking (strict '>', scanning e upwards: the lower id keeps a tie) are the CPU's.
__global__ void router_forward_kernel(float* probs, int32_t* topk_idx, float* topk_w, const float* logits,
                                      const uint8_t* routable, int N, int E, int K, bool renormalize) {
  // probs (N, E), topk_idx (N, K), topk_w (N, K), logits (N, E), routable (E) or nullptr
  int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const float* z = logits + size_t(n) * E;
  float* p = probs + size_t(n) * E;
  int32_t* idx = topk_idx + size_t(n) * K;
  float* w = topk_w + size_t(n) * K;
  float mx = z[0];
  for (int e = 1; e < E; e++) mx = fmaxf(mx, z[e]);
  float sum = 0;
  for (int e = 0; e < E; e++) {
    p[e] = expf(z[e] - mx);
    sum += p[e];
  }
  for (int e = 0; e < E; e++) p[e] /= sum;
  float chosen = 0;
  for (int k = 0; k < K; k++) {
    int best = -1;
    for (int e = 0; e < E; e++) {
      if (routable && !routable[e]) continue;
      bool taken = false;
      for (int j = 0; j < k; j++) taken |= idx[j] == e;
      if (!taken && (best < 0 || p[e] > p[best])) best = e;
    }
    if (best < 0) __trap();  // fewer than K routable experts: the model rejects this before the forward
    idx[k] = best;
    chosen += p[best];
  }
  for (int k = 0; k < K; k++) w[k] = renormalize ? p[idx[k]] / chosen : p[idx[k]];
}

// Thread per token row. dG_e = aux_e (valid rows) + (dw_k - sum_j dw_j w_j) / S for e = idx[k],
// (dw_k alone without renormalisation), then the softmax backward dz_e += G_e (dG_e - sum_f G_f dG_f).
// dG_e is recomputed where used instead of kept in a per-thread (E) array.
__global__ void router_backward_kernel(float* dlogits, const float* dtopk_w, const float* probs,
                                       const int32_t* topk_idx, const float* topk_w, const uint8_t* valid,
                                       bool has_aux, ExpertFloats aux, int N, int E, int K, bool renormalize) {
  // dlogits (N, E), dtopk_w (N, K), probs (N, E), topk_idx (N, K), topk_w (N, K), valid (N)
  int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const float* p = probs + size_t(n) * E;
  const int32_t* idx = topk_idx + size_t(n) * K;
  const float* w = topk_w + size_t(n) * K;
  const float* dw = dtopk_w + size_t(n) * K;
  float* dz = dlogits + size_t(n) * E;
  const bool use_aux = has_aux && valid[n];
  float chosen = 0, wdw = 0;
  for (int k = 0; k < K; k++) {
    chosen += p[idx[k]];
    wdw += w[k] * dw[k];
  }
  auto dG = [&](int e) {
    float g = use_aux ? aux.v[e] : 0.0f;
    for (int k = 0; k < K; k++)
      if (idx[k] == e) g += renormalize ? (dw[k] - wdw) / chosen : dw[k];
    return g;
  };
  float dot = 0;
  for (int e = 0; e < E; e++) dot += p[e] * dG(e);
  for (int e = 0; e < E; e++) dz[e] += p[e] * (dG(e) - dot);
}

// Block per expert e: over valid tokens, the sum of probs[:, e] and the number of top-k
// assignments to e, both in double by a fixed tree; block 0 also counts the valid tokens.
// stats: [0, E) P sums, [E, 2E) f counts, [2E] valid count.
__global__ void router_stats_kernel(double* stats, const float* probs, const int32_t* topk_idx,
                                    const uint8_t* valid, int N, int E, int K) {
  __shared__ double sred[kThreads / kWarp];
  const int e = blockIdx.x;
  double sp = 0, sf = 0, count = 0;
  for (int n = threadIdx.x; n < N; n += kThreads) {
    if (!valid[n]) continue;
    count += 1;
    sp += probs[size_t(n) * E + e];
    for (int k = 0; k < K; k++) sf += topk_idx[size_t(n) * K + k] == e;
  }
  sp = block_sum(sp, sred);
  __syncthreads();
  sf = block_sum(sf, sred);
  __syncthreads();
  count = block_sum(count, sred);
  if (threadIdx.x == 0) {
    stats[e] = sp;
    stats[E + e] = sf;
    if (e == 0) stats[2 * E] = count;
  }
}

// ---- dispatch: a stable counting sort of the A = N*K assignments by expert ---------------------
// Block e scans all assignments in order, a tile of kThreads at a time; E * A comparisons in
// all, nothing against the GEMMs (E = 32, A = 8192: 262k). Stable by construction: ranks
// within a tile come from a ballot (lower lanes first) and tiles are walked in order.

__global__ void dispatch_count_kernel(int32_t* counts, const int32_t* topk_idx, int A) {
  const int e = blockIdx.x;
  int count = 0;
  for (int base = 0; base < A; base += kThreads) {
    int a = base + threadIdx.x;
    count += __syncthreads_count(a < A && topk_idx[a] == e);
  }
  if (threadIdx.x == 0) counts[e] = count;
}

__global__ void dispatch_offsets_kernel(int32_t* offsets, const int32_t* counts, int E, int capacity) {
  // offsets (E + 1): prefix sums of the kept counts; E <= 1024, one thread is plenty.
  offsets[0] = 0;
  for (int e = 0; e < E; e++) {
    int c = counts[e];
    if (capacity > 0) c = min(c, capacity);
    offsets[e + 1] = offsets[e] + c;
  }
}

__global__ void dispatch_place_kernel(int32_t* perm, int32_t* pos, const int32_t* topk_idx, const int32_t* offsets,
                                      int A) {
  // perm (M), pos (A): expert e's r-th assignment in token order goes to row offsets[e] + r when
  // r is below its kept count, else it is dropped (pos = -1).
  __shared__ int warp_count[kThreads / kWarp];
  const int e = blockIdx.x, lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int start = offsets[e], kept = offsets[e + 1] - offsets[e];
  int running = 0;  // assignments to e in earlier tiles
  for (int base = 0; base < A; base += kThreads) {
    int a = base + threadIdx.x;
    bool mine = a < A && topk_idx[a] == e;
    unsigned ballot = __ballot_sync(0xffffffffu, mine);
    if (lane == 0) warp_count[warp] = __popc(ballot);
    __syncthreads();
    int before = 0, total = 0;
    for (int w = 0; w < kThreads / kWarp; w++) {
      before += w < warp ? warp_count[w] : 0;
      total += warp_count[w];
    }
    if (mine) {
      int rank = running + before + __popc(ballot & ((1u << lane) - 1u));
      if (rank < kept) {
        pos[a] = start + rank;
        perm[start + rank] = a;
      } else {
        pos[a] = -1;
      }
    }
    running += total;
    __syncthreads();  // warp_count is rewritten by the next tile
  }
}

// ---- gather / scatter ------------------------------------------------------------------------------

__global__ void gather_kernel(float* xs, const float* x, const int32_t* perm, size_t M, int K, int C) {
  // xs (M, C) = x (N, C) row perm[m] / K
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < M * C; i += size_t(gridDim.x) * blockDim.x)
    xs[i] = x[size_t(perm[i / C] / K) * C + i % C];
}

__global__ void gather_backward_kernel(float* dx, const float* dxs, const int32_t* pos, size_t N, int K, int C) {
  // dx (N, C) += kept dxs (M, C) rows of the token, k in order; thread per (n, c).
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < N * C; i += size_t(gridDim.x) * blockDim.x) {
    size_t n = i / C;
    int c = static_cast<int>(i % C);
    float acc = dx[i];
    for (int k = 0; k < K; k++) {
      int row = pos[n * K + k];
      if (row >= 0) acc += dxs[size_t(row) * C + c];
    }
    dx[i] = acc;
  }
}

__global__ void scatter_kernel(float* out, const float* ys, const float* topk_w, const int32_t* pos, size_t N, int K,
                               int C) {
  // out (N, C) += sum_k topk_w[n][k] * ys (M, C) row pos[n*K + k]; thread per (n, c), k in order.
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < N * C; i += size_t(gridDim.x) * blockDim.x) {
    size_t n = i / C;
    int c = static_cast<int>(i % C);
    float acc = out[i];
    for (int k = 0; k < K; k++) {
      int row = pos[n * K + k];
      if (row >= 0) acc += topk_w[n * K + k] * ys[size_t(row) * C + c];
    }
    out[i] = acc;
  }
}

constexpr int kWarpsPerBlock = kThreads / kWarp;

// One warp over a row of C: dy[c] += s * d[c] for every c, and dot(d, y), lanes then a
// butterfly (every lane returns it).
__device__ float warp_axpy_dot(float* dy, const float* d, const float* y, float s, int C, int lane) {
  float dot = 0;
  for (int c = lane; c < C; c += kWarp) {
    dy[c] += s * d[c];
    dot += d[c] * y[c];
  }
  return warp_sum(dot);
}

__global__ void scatter_backward_kernel(float* dys, float* dtopk_w, const float* dout, const float* ys,
                                        const float* topk_w, const int32_t* pos, size_t A, int K, int C) {
  // Warp per assignment a = n*K + k: dys row += w * dout row n (each kept assignment owns its
  // row of dys (M, C)), and dtopk_w[a] += dot(dout row n, ys row), lanes then a butterfly.
  size_t a = blockIdx.x * size_t(kWarpsPerBlock) + threadIdx.x / kWarp;
  int lane = threadIdx.x % kWarp;
  if (a >= A) return;  // the whole warp leaves together
  int row = pos[a];
  if (row < 0) return;  // dropped by the capacity limit: adds nothing
  const float dot = warp_axpy_dot(dys + size_t(row) * C, dout + (a / K) * C, ys + size_t(row) * C, topk_w[a], C, lane);
  if (lane == 0) dtopk_w[a] += dot;
}

__global__ void swiglu_forward_kernel(float* out, const float* h1, const float* h3, size_t n) {
  // out, h1, h3 (M, F): silu(h1) * h3
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    float a = h1[i];
    out[i] = a / (1.0f + expf(-a)) * h3[i];
  }
}

__global__ void swiglu_backward_kernel(float* dh1, float* dh3, const float* dout, const float* h1, const float* h3,
                                       size_t n) {
  // silu'(a) = s (1 + a (1 - s)) with s = sigmoid(a)
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    float a = h1[i];
    float s = 1.0f / (1.0f + expf(-a));
    dh1[i] += dout[i] * h3[i] * s * (1.0f + a * (1.0f - s));
    dh3[i] += dout[i] * a * s;
  }
}

__global__ void sigmoid_gate_forward_kernel(float* out, const float* y, const float* gate, size_t n, int C) {
  // out, y (N, C), gate (N): out += sigmoid(gate[row]) * y
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] += y[i] / (1.0f + expf(-gate[i / C]));
}

__global__ void sigmoid_gate_backward_kernel(float* dy, float* dgate, const float* dout, const float* y,
                                             const float* gate, int N, int C) {
  // Warp per row n: dy row += s * dout row, dgate[n] += s (1 - s) dot(dout row, y row).
  int n = blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;
  int lane = threadIdx.x % kWarp;
  if (n >= N) return;
  const float s = 1.0f / (1.0f + expf(-gate[n]));
  const size_t row = size_t(n) * C;
  const float dot = warp_axpy_dot(dy + row, dout + row, y + row, s, C, lane);
  if (lane == 0) dgate[n] += s * (1.0f - s) * dot;
}

}  // namespace

void CudaOps::router_forward(float* probs, int32_t* topk_idx, float* topk_w, const float* logits,
                             const uint8_t* routable, int N, int E, int K, bool renormalize) {
  HF_CHECK(E <= kMaxExperts && K >= 1 && K <= E, "router with E=%d, K=%d is unsupported (E <= %d, 1 <= K <= E)", E, K,
           kMaxExperts);
  if (N == 0) return;
  if (routable) {
    // model.cpp passes the mask in backend memory (it uploads it); a host pointer here is a bug.
    cudaPointerAttributes attr;
    CUDA_CHECK(cudaPointerGetAttributes(&attr, routable));
    HF_CHECK(attr.type == cudaMemoryTypeDevice, "router_forward: the routable mask must be backend memory");
  }
  router_forward_kernel<<<(N + kThreads - 1) / kThreads, kThreads, 0, stream_>>>(probs, topk_idx, topk_w, logits,
                                                                                  routable, N, E, K, renormalize);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::router_backward(float* dlogits, const float* dtopk_w, const float* probs, const int32_t* topk_idx,
                              const float* topk_w, const uint8_t* valid, const float* aux_dprobs, int N, int E,
                              int K, bool renormalize) {
  HF_CHECK(E <= kMaxExperts, "%d experts exceed the supported %d", E, kMaxExperts);
  if (N == 0) return;
  ExpertFloats aux{};
  if (aux_dprobs)
    for (int e = 0; e < E; e++) aux.v[e] = aux_dprobs[e];  // host (E)
  router_backward_kernel<<<(N + kThreads - 1) / kThreads, kThreads, 0, stream_>>>(
      dlogits, dtopk_w, probs, topk_idx, topk_w, valid, aux_dprobs != nullptr, aux, N, E, K, renormalize);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::router_stats(float* f_host, float* pbar_host, const float* probs, const int32_t* topk_idx,
                           const uint8_t* valid, int N, int E, int K) {
  HF_CHECK(E <= kMaxExperts, "%d experts exceed the supported %d", E, kMaxExperts);
  double stats[2 * kMaxExperts + 1] = {};
  if (N > 0) {
    router_stats_kernel<<<E, kThreads, 0, stream_>>>(stats_, probs, topk_idx, valid, N, E, K);
    CUDA_CHECK_LAUNCH();
    download(stats, stats_, (2 * E + 1) * sizeof(double));  // host sync: the outputs are host values
  }
  const double count = stats[2 * E];
  for (int e = 0; e < E; e++) {
    f_host[e] = count > 0 ? static_cast<float>(stats[E + e] / count) : 0.0f;
    pbar_host[e] = count > 0 ? static_cast<float>(stats[e] / count) : 0.0f;
  }
}

void CudaOps::moe_dispatch(int32_t* offsets_host, int32_t* perm, int32_t* pos, const int32_t* topk_idx, int N,
                           int K, int E, int capacity) {
  // offsets (E + 1) host, perm (M), pos (N * K), topk_idx (N, K)
  HF_CHECK(E <= kMaxExperts, "%d experts exceed the supported %d", E, kMaxExperts);
  const int A = N * K;
  dispatch_count_kernel<<<E, kThreads, 0, stream_>>>(counts_, topk_idx, A);
  CUDA_CHECK_LAUNCH();
  dispatch_offsets_kernel<<<1, 1, 0, stream_>>>(offsets_, counts_, E, capacity);
  CUDA_CHECK_LAUNCH();
  dispatch_place_kernel<<<E, kThreads, 0, stream_>>>(perm, pos, topk_idx, offsets_, A);
  CUDA_CHECK_LAUNCH();
  // The interface returns offsets on the host (the grouped GEMMs' row ranges are host loop
  // bounds): one (E + 1)-int copy and one host sync per MoE layer per forward.
  download(offsets_host, offsets_, (E + 1) * sizeof(int32_t));
}

void CudaOps::moe_gather(float* xs, const float* x, const int32_t* perm, int M, int K, int C) {
  if (M == 0) return;
  gather_kernel<<<grid_for(size_t(M) * C), kThreads, 0, stream_>>>(xs, x, perm, M, K, C);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::moe_gather_backward(float* dx, const float* dxs, const int32_t* pos, int N, int K, int C) {
  if (N == 0) return;
  gather_backward_kernel<<<grid_for(size_t(N) * C), kThreads, 0, stream_>>>(dx, dxs, pos, N, K, C);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::moe_scatter(float* out, const float* ys, const float* topk_w, const int32_t* pos, int N, int K,
                          int C) {
  if (N == 0) return;
  scatter_kernel<<<grid_for(size_t(N) * C), kThreads, 0, stream_>>>(out, ys, topk_w, pos, N, K, C);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::moe_scatter_backward(float* dys, float* dtopk_w, const float* dout, const float* ys,
                                   const float* topk_w, const int32_t* pos, int N, int K, int C) {
  const size_t A = size_t(N) * K;
  if (A == 0) return;
  scatter_backward_kernel<<<(A + kWarpsPerBlock - 1) / kWarpsPerBlock, kThreads, 0, stream_>>>(
      dys, dtopk_w, dout, ys, topk_w, pos, A, K, C);
  CUDA_CHECK_LAUNCH();
}

// One sgemm per expert with rows, in expert order on the stream. Each expert's output rows
// (and dW_e) are its own, so the calls never overlap. Frozen experts skip their weight GEMM.
void CudaOps::grouped_matmul_forward(float* out, const float* inp, const float* w, size_t w_stride,
                                     const int32_t* offsets_host, int E, int IC, int OC) {
  // out (M, OC), inp (M, IC), expert e's w (OC, IC) at w + e * w_stride
  for (int e = 0; e < E; e++) {
    int rows = offsets_host[e + 1] - offsets_host[e];
    if (rows == 0) continue;
    size_t r0 = offsets_host[e];
    gemm(false, true, rows, OC, IC, 1.0f, inp + r0 * IC, IC, w + e * w_stride, IC, 0.0f, out + r0 * OC, OC);
  }
}

void CudaOps::grouped_matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                                      size_t w_stride, const int32_t* offsets_host, const uint8_t* trainable_host,
                                      int E, int IC, int OC) {
  // dinp (M, IC), dw like w, dout (M, OC), inp (M, IC)
  for (int e = 0; e < E; e++) {
    int rows = offsets_host[e + 1] - offsets_host[e];
    if (rows == 0) continue;
    size_t r0 = offsets_host[e];
    if (dinp)
      gemm(false, false, rows, IC, OC, 1.0f, dout + r0 * OC, OC, w + e * w_stride, IC, 1.0f, dinp + r0 * IC, IC);
    if (dw && (!trainable_host || trainable_host[e]))
      gemm(true, false, OC, IC, rows, 1.0f, dout + r0 * OC, OC, inp + r0 * IC, IC, 1.0f, dw + e * w_stride, IC);
  }
}

void CudaOps::swiglu_forward(float* out, const float* h1, const float* h3, int M, int F) {
  size_t n = size_t(M) * F;
  if (n == 0) return;
  swiglu_forward_kernel<<<grid_for(n), kThreads, 0, stream_>>>(out, h1, h3, n);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::swiglu_backward(float* dh1, float* dh3, const float* dout, const float* h1, const float* h3, int M,
                              int F) {
  size_t n = size_t(M) * F;
  if (n == 0) return;
  swiglu_backward_kernel<<<grid_for(n), kThreads, 0, stream_>>>(dh1, dh3, dout, h1, h3, n);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::sigmoid_gate_forward(float* out, const float* y, const float* gate, int N, int C) {
  size_t n = size_t(N) * C;
  if (n == 0) return;
  sigmoid_gate_forward_kernel<<<grid_for(n), kThreads, 0, stream_>>>(out, y, gate, n, C);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::sigmoid_gate_backward(float* dy, float* dgate, const float* dout, const float* y, const float* gate,
                                    int N, int C) {
  if (N == 0) return;
  sigmoid_gate_backward_kernel<<<(N + kWarpsPerBlock - 1) / kWarpsPerBlock, kThreads, 0, stream_>>>(
      dy, dgate, dout, y, gate, N, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace hf
