#pragma once
// The CUDA backend: cuBLAS sgemm for the dense and per-expert matrix products, a fused
// attention kernel (or, as its reference, sgemm per head batched over the batch), plain kernels
// elsewhere, fp32 throughout.
// One device, one stream: every op is enqueued on the backend's stream in call order, so ops
// need no synchronisation between them; the host waits only where an op returns host data
// (download, moe_dispatch's offsets, router_stats, sum_squares). Split by topic like the CPU
// backend: cuda_ops.cu (memory, dense, norms, losses, optimizer), cuda_attention.cu (RoPE,
// attention; its fused kernels in flash_attention.cu), cuda_moe.cu (router, dispatch, grouped
// GEMM, SwiGLU), cuda_lora.cu (the frozen base and LoRA adapters). Precision, determinism
// and host syncs: cuda/README.md.
//
// This header includes no CUDA header, so host code (cli/backend.cpp, tests) builds with the
// plain C++ compiler; the stream and cuBLAS handle are forward-declared opaque types.
#include "ops/ops.h"

struct CUstream_st;
struct cublasContext;

namespace hf {

// Which attention kernels CudaOps runs. fused: one flash-style kernel forward and two backward
// (cuda/flash_attention.cu), no T x T matrix, for head sizes up to 128 (larger ones take the
// reference path). reference: per-head cuBLAS products around a softmax kernel over the full
// T x T probabilities (cuda_attention.cu), the CPU twin's algorithm, which the fused kernels are
// tested against.
enum class CudaAttention { fused, reference };

class CudaOps : public Ops {
 public:
  // device: CUDA ordinal. tf32: let cuBLAS round GEMM inputs to TF32 on tensor cores (several
  // times faster, ~1e-3 relative error per product); false keeps full fp32 products, the
  // precision of the CPU reference, and is what the parity tests use. attention: see above.
  explicit CudaOps(int device, bool tf32 = false, CudaAttention attention = CudaAttention::fused);
  ~CudaOps() override;
  CudaOps(const CudaOps&) = delete;
  CudaOps& operator=(const CudaOps&) = delete;
  const char* name() const override { return "cuda"; }
  int device() const { return device_; }
  // Waits for every op enqueued so far (benchmarks time with it; errors inside kernels surface).
  void synchronize();
  // Whether attention with head size HS runs the fused kernels. What `att` holds between
  // attention_forward and attention_backward follows from it: the log-sum-exp of each score row
  // (B, NH, T) in its first B * NH * T floats when fused, the probabilities (B, NH, T, T) when not.
  bool fused_attention(int HS) const;

  void* alloc(size_t bytes) override;
  void free(void* p) override;
  bool host_memory() const override { return false; }
  void upload(void* dst, const void* host_src, size_t bytes) override;
  void download(void* host_dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void zero(void* p, size_t bytes) override;

  void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int IC, int OC,
                      bool accumulate) override;
  void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                       const float* w, int N, int IC, int OC) override;
  void embedding_forward(float* out, const int32_t* tokens, const float* table, int N, int C) override;
  void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int N, int V,
                          int C) override;
  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C,
                       float eps) override;
  void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                        const float* rstd, int N, int C) override;

  void rope_forward(float* x, int B, int T, int H, int HS, float theta) override;
  void rope_backward(float* dx, int B, int T, int H, int HS, float theta) override;
  void attention_forward(float* out, float* att, const float* q, const float* k, const float* v, int B, int T,
                         int NH, int NKV, int HS) override;
  void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout, const float* q,
                          const float* k, const float* v, const float* att, int B, int T, int NH, int NKV,
                          int HS) override;

  void router_forward(float* probs, int32_t* topk_idx, float* topk_w, const float* logits,
                      const uint8_t* routable, int N, int E, int K, bool renormalize) override;
  void router_backward(float* dlogits, const float* dtopk_w, const float* probs, const int32_t* topk_idx,
                       const float* topk_w, const uint8_t* valid, const float* aux_dprobs, int N, int E,
                       int K, bool renormalize) override;
  void router_stats(float* f_host, float* pbar_host, const float* probs, const int32_t* topk_idx,
                    const uint8_t* valid, int N, int E, int K) override;
  void moe_dispatch(int32_t* offsets_host, int32_t* perm, int32_t* pos, const int32_t* topk_idx, int N, int K,
                    int E, int capacity) override;
  void moe_gather(float* xs, const float* x, const int32_t* perm, int M, int K, int C) override;
  void moe_gather_backward(float* dx, const float* dxs, const int32_t* pos, int N, int K, int C) override;
  void moe_scatter(float* out, const float* ys, const float* topk_w, const int32_t* pos, int N, int K,
                   int C) override;
  void moe_scatter_backward(float* dys, float* dtopk_w, const float* dout, const float* ys, const float* topk_w,
                            const int32_t* pos, int N, int K, int C) override;
  void grouped_matmul_forward(float* out, const float* inp, const float* w, size_t w_stride,
                              const int32_t* offsets_host, int E, int IC, int OC) override;
  void grouped_matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                               size_t w_stride, const int32_t* offsets_host, const uint8_t* trainable_host,
                               int E, int IC, int OC) override;
  void swiglu_forward(float* out, const float* h1, const float* h3, int M, int F) override;
  void swiglu_backward(float* dh1, float* dh3, const float* dout, const float* h1, const float* h3, int M,
                       int F) override;
  void sigmoid_gate_forward(float* out, const float* y, const float* gate, int N, int C) override;
  void sigmoid_gate_backward(float* dy, float* dgate, const float* dout, const float* y, const float* gate, int N,
                             int C) override;

  void frozen_dequantize(float* out, const FrozenWeight& w, int row0, int rows) override;
  void frozen_matmul_forward(float* out, const float* inp, const FrozenWeight& w, float* scratch, int N,
                             bool accumulate) override;
  void frozen_matmul_backward(float* dinp, const float* dout, const FrozenWeight& w, float* scratch, int N) override;
  void lora_forward(float* out, float* ax, const float* inp, const float* a, const float* b, int N, int IC, int OC,
                    int r, float scale) override;
  void lora_backward(float* dinp, float* da, float* db, float* dax, const float* dout, const float* inp,
                     const float* ax, const float* a, const float* b, int N, int IC, int OC, int r,
                     float scale) override;

  void crossentropy_forward(float* losses, int32_t* correct, const float* logits, const int32_t* targets, int N,
                            int V) override;
  void crossentropy_backward(float* dlogits, const float* logits, const int32_t* targets, float dloss, int N,
                             int V) override;
  void mean_pool_forward(float* out, const float* x, const uint8_t* valid, int B, int T, int C) override;
  void mean_pool_backward(float* dx, const float* dout, const uint8_t* valid, int B, int T, int C) override;

  double sum_squares(const float* x, size_t n) override;
  void scale(float* x, size_t n, float s) override;
  void proximal_grad(float* grad, const float* param, const float* anchor, size_t n, float mu) override;
  void adamw_update(float* param, const float* grad, float* m, float* v, size_t n, double lr, double beta1,
                    double beta2, double eps, double weight_decay, double bias_corr1, double bias_corr2) override;

 private:
  // Row-major C (M, N) = alpha op(A) op(B) + beta C, the arguments of cblas_sgemm(CblasRowMajor,
  // ...), so each call reads like its CPU twin; op(X) = X^T when trans_x. Batched: `batch`
  // products, operand i at X + i * stride_x.
  void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
            int ldb, float beta, float* C, int ldc);
  void gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                    long long stride_a, const float* B, int ldb, long long stride_b, float beta, float* C, int ldc,
                    long long stride_c, int batch);

  int device_;
  CudaAttention attention_;
  CUstream_st* stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  // Fixed scratch, allocated here once (ops never allocate):
  double* reduce_ = nullptr;   // (kReduceBlocks + 1) sum_squares partials, then the total
  double* stats_ = nullptr;    // (2 * kMaxExperts + 1) router_stats: P sums, f counts, valid count
  int32_t* counts_ = nullptr;  // (kMaxExperts) moe_dispatch tokens per expert
  int32_t* offsets_ = nullptr; // (kMaxExperts + 1) moe_dispatch offsets on the device
};

}  // namespace hf
