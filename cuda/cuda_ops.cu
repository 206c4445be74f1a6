// CUDA backend: memory, GEMM helpers, dense layers, embeddings, RMSNorm, losses, pooling,
// optimizer. Each kernel sums in the order noted beside it; cuda/README.md lists where that
// order equals the CPU twin's (bitwise-equal results) and where it does not.
#include <cmath>

#include "cuda/cuda_common.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/device.h"

namespace hf {

using namespace cuda_detail;

// ---- setup, memory ---------------------------------------------------------------------------

CudaOps::CudaOps(int device, bool tf32, CudaAttention attention) : device_(device), attention_(attention) {
  cuda::use_device(device);
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CUBLAS_CHECK(cublasCreate(&cublas_));
  CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  // CUBLAS_DEFAULT_MATH keeps fp32 sgemm on fp32 FMA units (TF32 is opt-in since CUDA 11).
  CUBLAS_CHECK(cublasSetMathMode(cublas_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  reduce_ = static_cast<double*>(alloc((kReduceBlocks + 1) * sizeof(double)));
  stats_ = static_cast<double*>(alloc((2 * kMaxExperts + 1) * sizeof(double)));
  counts_ = alloc_i32(kMaxExperts);
  offsets_ = alloc_i32(kMaxExperts + 1);
}

CudaOps::~CudaOps() {
  // Destructors must not throw: errors here are ignored (a broken context was reported by the
  // call that broke it).
  free(reduce_);
  free(stats_);
  free(counts_);
  free(offsets_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaOps::synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

void* CudaOps::alloc(size_t bytes) {
  // Zero-filled like the CPU backend's; allocation happens at construction time only, so the
  // synchronous clear costs nothing per step.
  size_t n = bytes > 0 ? bytes : 1;
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, n);
  if (err != cudaSuccess)
    fail(strf("cannot allocate %zu bytes on CUDA device %d: %s", bytes, device_, cudaGetErrorString(err)),
         "use a smaller batch, sequence length or model preset, or a GPU with more free memory", kExitRuntime);
  CUDA_CHECK(cudaMemsetAsync(p, 0, n, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  return p;
}

void CudaOps::free(void* p) {
  if (p) cudaFree(p);  // called from destructors: unchecked, see ~CudaOps
}

// Host <-> device copies wait for completion: the caller may reuse or read its (pageable)
// host buffer as soon as the call returns.
void CudaOps::upload(void* dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaOps::download(void* host_dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaOps::copy(void* dst, const void* src, size_t bytes) {
  if (dst == src || bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaOps::zero(void* p, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
}

// ---- GEMM --------------------------------------------------------------------------------------
// cuBLAS is column-major. A row-major matrix X with leading dimension ld is, read column-major,
// X^T with the same ld. So row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T:
// pass B first with B's transpose flag, then A with A's, and swap M and N.

void CudaOps::gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  CUBLAS_CHECK(cublasSgemm(cublas_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M,
                           K, &alpha, B, ldb, A, lda, &beta, C, ldc));
}

void CudaOps::gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                           long long stride_a, const float* B, int ldb, long long stride_b, float beta, float* C,
                           int ldc, long long stride_c, int batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                         trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ldb, stride_b, A,
                                         lda, stride_a, &beta, C, ldc, stride_c, batch));
}

// ---- dense layers ------------------------------------------------------------------------------

namespace {

__global__ void bias_init_kernel(float* out, const float* bias, size_t N, int OC, bool accumulate) {
  // out (N, OC) = (accumulate ? out : 0) + bias (OC)
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < N * OC; i += size_t(gridDim.x) * blockDim.x)
    out[i] = (accumulate ? out[i] : 0.0f) + bias[i % OC];
}

__global__ void column_sum_kernel(float* dbias, const float* dout, int N, int OC) {
  // dbias (OC) += sum over rows of dout (N, OC); one thread per column, rows in order (the CPU's order).
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= OC) return;
  float acc = dbias[j];
  for (int n = 0; n < N; n++) acc += dout[size_t(n) * OC + j];
  dbias[j] = acc;
}

__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* table, size_t N, int C) {
  // out (N, C), tokens (N), table (V, C)
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < N * C; i += size_t(gridDim.x) * blockDim.x)
    out[i] = table[size_t(tokens[i / C]) * C + i % C];
}

// dtable (V, C) += dout rows at their tokens. Block (v, column tile): each thread owns one
// column c of vocabulary row v and walks all N tokens in order (staged through shared memory
// a tile at a time), adding the rows whose token is v. No atomics, and each entry is summed
// in token order exactly as the CPU does, so the result is bitwise equal to the CPU's. Cost:
// V * N token comparisons (from shared memory) on top of the N * C adds; right for the
// byte-level vocabulary (V = 260). A large vocabulary would want a stable sort of positions
// by token first.
__global__ void embedding_backward_kernel(float* dtable, const float* dout, const int32_t* tokens, int N, int C) {
  __shared__ int32_t tok[kThreads];
  const int v = blockIdx.x, c = blockIdx.y * kThreads + threadIdx.x;
  float acc = c < C ? dtable[size_t(v) * C + c] : 0.0f;
  for (int base = 0; base < N; base += kThreads) {
    int n = base + threadIdx.x;
    tok[threadIdx.x] = n < N ? tokens[n] : -1;
    __syncthreads();
    int end = min(kThreads, N - base);
    if (c < C)
      for (int j = 0; j < end; j++)
        if (tok[j] == v) acc += dout[size_t(base + j) * C + c];
    __syncthreads();
  }
  if (c < C) dtable[size_t(v) * C + c] = acc;
}

constexpr int kRowsPerBlock = kThreads / kWarp;  // one warp per row

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* inp, const float* w, int N, int C,
                                       float eps) {
  // out (N, C), rstd (N), inp (N, C), w (C); one warp per row, the sum of squares by lanes then a butterfly.
  int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  if (row >= N) return;  // the whole warp leaves together
  const float* x = inp + size_t(row) * C;
  float ss = 0;
  for (int c = lane; c < C; c += kWarp) ss += x[c] * x[c];
  ss = warp_sum(ss);
  float r = 1.0f / sqrtf(ss / C + eps);
  if (lane == 0) rstd[row] = r;
  float* o = out + size_t(row) * C;
  for (int c = lane; c < C; c += kWarp) o[c] = x[c] * r * w[c];
}

__global__ void rmsnorm_backward_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* w,
                                             const float* rstd, int N, int C) {
  // dx = r (w dy) - x r^3 / C * sum_j (w dy x)_j; one warp per row.
  int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  if (row >= N) return;
  const float* x = inp + size_t(row) * C;
  const float* dy = dout + size_t(row) * C;
  float* dx = dinp + size_t(row) * C;
  float r = rstd[row], dot = 0;
  for (int c = lane; c < C; c += kWarp) dot += w[c] * dy[c] * x[c];
  dot = warp_sum(dot);
  float k = dot * r * r * r / C;
  for (int c = lane; c < C; c += kWarp) dx[c] += r * w[c] * dy[c] - k * x[c];
}

__global__ void rmsnorm_backward_dw_kernel(float* dw, const float* dout, const float* inp, const float* rstd, int N,
                                           int C) {
  // dw (C) += sum over rows of dy * x * r; one thread per column, rows in order (the CPU's order).
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = dw[c];
  for (int n = 0; n < N; n++) acc += dout[size_t(n) * C + c] * inp[size_t(n) * C + c] * rstd[n];
  dw[c] = acc;
}

}  // namespace

void CudaOps::matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int IC,
                             int OC, bool accumulate) {
  // out (N, OC), inp (N, IC), w (OC, IC), bias (OC)
  if (N == 0 || OC == 0) return;
  if (bias) {
    bias_init_kernel<<<grid_for(size_t(N) * OC), kThreads, 0, stream_>>>(out, bias, N, OC, accumulate);
    CUDA_CHECK_LAUNCH();
  }
  gemm(false, true, N, OC, IC, 1.0f, inp, IC, w, IC, (accumulate || bias) ? 1.0f : 0.0f, out, OC);
}

void CudaOps::matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                              const float* w, int N, int IC, int OC) {
  // dinp (N, IC) += dout (N, OC) w (OC, IC); dw (OC, IC) += dout^T inp (N, IC); dbias (OC)
  if (N == 0) return;
  if (dinp) gemm(false, false, N, IC, OC, 1.0f, dout, OC, w, IC, 1.0f, dinp, IC);
  if (dw) gemm(true, false, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
  if (dbias) {
    column_sum_kernel<<<(OC + kThreads - 1) / kThreads, kThreads, 0, stream_>>>(dbias, dout, N, OC);
    CUDA_CHECK_LAUNCH();
  }
}

void CudaOps::embedding_forward(float* out, const int32_t* tokens, const float* table, int N, int C) {
  if (N == 0) return;
  embedding_forward_kernel<<<grid_for(size_t(N) * C), kThreads, 0, stream_>>>(out, tokens, table, N, C);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int N, int V, int C) {
  if (N == 0 || V == 0 || C == 0) return;
  dim3 grid(V, (C + kThreads - 1) / kThreads);
  embedding_backward_kernel<<<grid, kThreads, 0, stream_>>>(dtable, dout, tokens, N, C);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C, float eps) {
  if (N == 0) return;
  rmsnorm_forward_kernel<<<(N + kRowsPerBlock - 1) / kRowsPerBlock, kThreads, 0, stream_>>>(out, rstd, inp, w, N,
                                                                                              C, eps);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                               const float* rstd, int N, int C) {
  if (N == 0) return;
  if (dinp) {
    rmsnorm_backward_dinp_kernel<<<(N + kRowsPerBlock - 1) / kRowsPerBlock, kThreads, 0, stream_>>>(
        dinp, dout, inp, w, rstd, N, C);
    CUDA_CHECK_LAUNCH();
  }
  if (dw) {
    rmsnorm_backward_dw_kernel<<<(C + kThreads - 1) / kThreads, kThreads, 0, stream_>>>(dw, dout, inp, rstd, N, C);
    CUDA_CHECK_LAUNCH();
  }
}

// ---- heads and losses ----------------------------------------------------------------------------

namespace {

// One block per row of logits (N, V). The argmax keeps the lower index on ties: each thread
// scans its columns in increasing order with a strict '>', then pairs are merged preferring
// the larger value and, on equal values, the lower index.
__device__ int block_argmax(const float* z, int V, float* sval, int* sidx) {
  const int tid = threadIdx.x;
  float best = -INFINITY;
  int arg = V;  // "none yet": larger than any index
  for (int j = tid; j < V; j += kThreads)
    if (arg == V || z[j] > best) {
      best = z[j];
      arg = j;
    }
  sval[tid] = best;
  sidx[tid] = arg;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (tid < s) {
      float ov = sval[tid + s];
      int oi = sidx[tid + s];
      if (oi < V && (sidx[tid] == V || ov > sval[tid] || (ov == sval[tid] && oi < sidx[tid]))) {
        sval[tid] = ov;
        sidx[tid] = oi;
      }
    }
    __syncthreads();
  }
  int result = sidx[0];
  __syncthreads();  // sval/sidx may be reused by the caller
  return result;
}

__global__ void crossentropy_forward_kernel(float* losses, int32_t* correct, const float* logits,
                                            const int32_t* targets, int V) {
  // losses (N), correct (N), logits (N, V), targets (N); block n handles row n.
  __shared__ float sval[kThreads];
  __shared__ int sidx[kThreads];
  __shared__ double sred[kThreads / kWarp];
  const int n = blockIdx.x, t = targets[n];
  if (t < 0) {  // uniform over the block
    if (threadIdx.x == 0) {
      losses[n] = 0;
      correct[n] = 0;
    }
    return;
  }
  const float* z = logits + size_t(n) * V;
  const int arg = block_argmax(z, V, sval, sidx);
  const float zmax = z[arg];
  double sum = 0;  // sum of exp in double, as the CPU; tree order, not the CPU's sequential one
  for (int j = threadIdx.x; j < V; j += kThreads) sum += exp(static_cast<double>(z[j]) - zmax);
  sum = block_sum(sum, sred);
  if (threadIdx.x == 0) {
    losses[n] = static_cast<float>(log(sum) + zmax - z[t]);
    correct[n] = arg == t;
  }
}

__global__ void crossentropy_backward_kernel(float* dlogits, const float* logits, const int32_t* targets,
                                             float dloss, int V) {
  // dlogits (N, V) += dloss * (softmax - onehot(target)); block n handles row n.
  __shared__ float smax[kThreads / kWarp];
  __shared__ double sred[kThreads / kWarp];
  const int n = blockIdx.x, t = targets[n];
  if (t < 0) return;
  const float* z = logits + size_t(n) * V;
  float* dz = dlogits + size_t(n) * V;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < V; j += kThreads) mx = fmaxf(mx, z[j]);
  mx = block_max(mx, smax);
  double sum = 0;
  for (int j = threadIdx.x; j < V; j += kThreads) sum += exp(static_cast<double>(z[j]) - mx);
  sum = block_sum(sum, sred);
  const float inv = static_cast<float>(1.0 / sum);
  for (int j = threadIdx.x; j < V; j += kThreads) {
    float g = dz[j] + dloss * expf(z[j] - mx) * inv;
    if (j == t) g -= dloss;  // the CPU's separate "dz[t] -= dloss", same order
    dz[j] = g;
  }
}

__global__ void mean_pool_forward_kernel(float* out, const float* x, const uint8_t* valid, int B, int T, int C) {
  // out (B, C), x (B, T, C), valid (B, T); thread per (b, c), positions in order (the CPU's order).
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= B * C) return;
  int b = i / C, c = i % C, count = 0;
  float acc = 0;
  for (int t = 0; t < T; t++) {
    if (!valid[b * T + t]) continue;
    acc += x[(size_t(b) * T + t) * C + c];
    count++;
  }
  out[i] = count > 0 ? acc / count : 0.0f;
}

__global__ void mean_pool_backward_kernel(float* dx, const float* dout, const uint8_t* valid, int B, int T, int C) {
  // dx (B, T, C) += dout (B, C) / count at valid positions; thread per (b, c).
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= B * C) return;
  int b = i / C, c = i % C, count = 0;
  for (int t = 0; t < T; t++) count += valid[b * T + t] != 0;
  if (count == 0) return;
  float g = dout[i] / count;
  for (int t = 0; t < T; t++)
    if (valid[b * T + t]) dx[(size_t(b) * T + t) * C + c] += g;
}

}  // namespace

void CudaOps::crossentropy_forward(float* losses, int32_t* correct, const float* logits, const int32_t* targets,
                                   int N, int V) {
  if (N == 0) return;
  crossentropy_forward_kernel<<<N, kThreads, 0, stream_>>>(losses, correct, logits, targets, V);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::crossentropy_backward(float* dlogits, const float* logits, const int32_t* targets, float dloss, int N,
                                    int V) {
  if (N == 0) return;
  crossentropy_backward_kernel<<<N, kThreads, 0, stream_>>>(dlogits, logits, targets, dloss, V);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::mean_pool_forward(float* out, const float* x, const uint8_t* valid, int B, int T, int C) {
  if (B * C == 0) return;
  mean_pool_forward_kernel<<<(B * C + kThreads - 1) / kThreads, kThreads, 0, stream_>>>(out, x, valid, B, T, C);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::mean_pool_backward(float* dx, const float* dout, const uint8_t* valid, int B, int T, int C) {
  if (B * C == 0) return;
  mean_pool_backward_kernel<<<(B * C + kThreads - 1) / kThreads, kThreads, 0, stream_>>>(dx, dout, valid, B, T, C);
  CUDA_CHECK_LAUNCH();
}

// ---- optimizer -------------------------------------------------------------------------------------

namespace {

// Stage 1 of sum_squares: block b sums x[i] for i = b * kThreads + t + j * kReduceBlocks * kThreads
// in double, then a fixed tree per block. The grid never depends on the device, so neither does
// the sum order: the same input gives the same bits on any GPU.
__global__ void sum_squares_partial_kernel(double* partial, const float* x, size_t n) {
  __shared__ double sred[kThreads / kWarp];
  double s = 0;
  for (size_t i = blockIdx.x * size_t(kThreads) + threadIdx.x; i < n; i += size_t(kReduceBlocks) * kThreads)
    s += static_cast<double>(x[i]) * x[i];  // exact product, rounded sum
  s = block_sum(s, sred);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// Stage 2: one block sums the kReduceBlocks partials by the same kind of fixed tree.
__global__ void sum_squares_final_kernel(double* partial) {
  __shared__ double sred[kThreads / kWarp];
  double s = 0;
  for (int i = threadIdx.x; i < kReduceBlocks; i += kThreads) s += partial[i];
  s = block_sum(s, sred);
  if (threadIdx.x == 0) partial[kReduceBlocks] = s;
}

__global__ void scale_kernel(float* x, size_t n, float s) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    x[i] *= s;
}

__global__ void proximal_grad_kernel(float* grad, const float* param, const float* anchor, size_t n, float mu) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    grad[i] += mu * (param[i] - anchor[i]);
}

struct AdamScalars {
  float decay, b1, one_b1, b2, one_b2, neg_step, bc2_sqrt, eps;
};

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, size_t n, AdamScalars s) {
  // The CPU twin's expression, term for term (ops/cpu_ops.cpp).
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    float g = grad[i];
    float p = param[i] * s.decay;
    float mi = m[i] * s.b1 + s.one_b1 * g;
    float vi = v[i] * s.b2 + s.one_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p + s.neg_step * (mi / (sqrtf(vi) / s.bc2_sqrt + s.eps));
  }
}

}  // namespace

double CudaOps::sum_squares(const float* x, size_t n) {
  if (n == 0) return 0.0;
  sum_squares_partial_kernel<<<kReduceBlocks, kThreads, 0, stream_>>>(reduce_, x, n);
  CUDA_CHECK_LAUNCH();
  sum_squares_final_kernel<<<1, kThreads, 0, stream_>>>(reduce_);
  CUDA_CHECK_LAUNCH();
  double total = 0;
  download(&total, reduce_ + kReduceBlocks, sizeof(double));  // host sync: the caller needs the value
  return total;
}

void CudaOps::scale(float* x, size_t n, float s) {
  if (n == 0) return;
  scale_kernel<<<grid_for(n), kThreads, 0, stream_>>>(x, n, s);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::proximal_grad(float* grad, const float* param, const float* anchor, size_t n, float mu) {
  if (n == 0) return;
  proximal_grad_kernel<<<grid_for(n), kThreads, 0, stream_>>>(grad, param, anchor, n, mu);
  CUDA_CHECK_LAUNCH();
}

void CudaOps::adamw_update(float* param, const float* grad, float* m, float* v, size_t n, double lr, double beta1,
                           double beta2, double eps, double weight_decay, double bias_corr1, double bias_corr2) {
  if (n == 0) return;
  // Scalars computed on the host exactly as the CPU twin computes them (double, then fp32).
  AdamScalars s;
  s.decay = static_cast<float>(1.0 - lr * weight_decay);
  s.b1 = static_cast<float>(beta1);
  s.one_b1 = static_cast<float>(1.0 - beta1);
  s.b2 = static_cast<float>(beta2);
  s.one_b2 = static_cast<float>(1.0 - beta2);
  s.neg_step = static_cast<float>(-lr / bias_corr1);
  s.bc2_sqrt = static_cast<float>(std::sqrt(bias_corr2));
  s.eps = static_cast<float>(eps);
  adamw_kernel<<<grid_for(n), kThreads, 0, stream_>>>(param, grad, m, v, n, s);
  CUDA_CHECK_LAUNCH();
}

}  // namespace hf
