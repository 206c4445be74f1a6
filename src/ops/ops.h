#pragma once
// The op interface: every computation the model, its backward and the optimizer perform.
// Model code (model/model.cpp, model/adamw.cpp) is written once against it; the CPU backend
// (ops/cpu_ops.h) is the readable reference and the CUDA backend (cuda/) the fast path.
//
// Conventions, the same for every op:
//  - Tensor pointers point into backend memory (alloc()); host-only arguments say "host".
//  - Forward ops overwrite their outputs unless the op says "+=" (accumulate).
//  - Backward ops ACCUMULATE (+=) into every gradient they receive, parameters and inputs
//    alike (so residual branches and tied weights add up with no extra pass); the caller
//    zeroes gradient buffers it reuses. A nullptr gradient is not computed.
//  - Row-major; linear weights use PyTorch's nn.Linear layout (OC, IC): out = inp · W^T + b.
//  - N = B*T rows (tokens); M = rows of the expert-sorted assignment buffer (<= N*K).
// Dimension letters: model/config.h.
#include <cstddef>
#include <cstdint>

#include "ops/frozen_weight.h"

namespace hf {

class Ops {
 public:
  virtual ~Ops() = default;
  virtual const char* name() const = 0;

  // ---- memory ---------------------------------------------------------------------------
  // Backend buffers, zero-filled. Allocation happens at construction time only (model
  // workspace, optimizer state), never inside a training step.
  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* p) = 0;
  // True when backend pointers are ordinary host pointers (CPU backend): then the model
  // hands out its buffers directly instead of mirroring them.
  virtual bool host_memory() const = 0;
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // within the backend; no overlap
  virtual void zero(void* p, size_t bytes) = 0;

  float* alloc_f32(size_t n) { return static_cast<float*>(alloc(n * sizeof(float))); }
  int32_t* alloc_i32(size_t n) { return static_cast<int32_t*>(alloc(n * sizeof(int32_t))); }
  uint8_t* alloc_u8(size_t n) { return static_cast<uint8_t*>(alloc(n)); }

  // ---- dense layers -----------------------------------------------------------------------
  // out (N, OC) = inp (N, IC) · w (OC, IC)^T + bias (OC, or nullptr); "+=" when accumulate.
  virtual void matmul_forward(float* out, const float* inp, const float* w, const float* bias,
                              int N, int IC, int OC, bool accumulate) = 0;
  // dinp (N, IC) += dout · w;  dw (OC, IC) += dout^T · inp;  dbias (OC) += column sums of dout.
  virtual void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout,
                               const float* inp, const float* w, int N, int IC, int OC) = 0;

  // out (N, C) = table[tokens[n]] for table (V, C); tokens (N).
  virtual void embedding_forward(float* out, const int32_t* tokens, const float* table, int N, int C) = 0;
  // dtable (V, C) += dout rows at their tokens. Deterministic (no atomics): rows are summed in
  // token order.
  virtual void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int N, int V,
                                  int C) = 0;

  // out (N, C) = inp * rstd * w with rstd (N) = 1/sqrt(mean(inp^2) + eps), saved for backward.
  virtual void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C,
                               float eps) = 0;
  virtual void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                                const float* rstd, int N, int C) = 0;

  // ---- attention ----------------------------------------------------------------------------
  // Rotary embedding in place on x (B, T, H, HS), HF "rotate_half" pairing (i, i + HS/2),
  // angle = pos * theta^(-2i/HS), pos = t. Backward rotates dx back in place (an exception to
  // the accumulate rule: the rotation is its own buffer's transform).
  virtual void rope_forward(float* x, int B, int T, int H, int HS, float theta) = 0;
  virtual void rope_backward(float* dx, int B, int T, int H, int HS, float theta) = 0;

  // Causal grouped-query attention, scale 1/sqrt(HS); query head h reads kv head h / (NH/NKV).
  // q (B, T, NH, HS), k, v (B, T, NKV, HS) -> out (B, T, NH, HS); att (B, NH, T, T) keeps what
  // backward needs: the probabilities (zero above the diagonal) on the CPU, or less on a fused
  // kernel (the CUDA backend's keeps each score row's log-sum-exp, cuda/cuda_ops.h).
  virtual void attention_forward(float* out, float* att, const float* q, const float* k, const float* v,
                                 int B, int T, int NH, int NKV, int HS) = 0;
  // scratch (B, NH, T, T) is overwritten.
  virtual void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                                  const float* q, const float* k, const float* v, const float* att,
                                  int B, int T, int NH, int NKV, int HS) = 0;

  // ---- mixture of experts ---------------------------------------------------------------------
  // Router: probs (N, E) = softmax(logits (N, E)) over all E; topk_idx (N, K) the K largest
  // probs among experts with routable[e] (backend memory (E), nullptr = all), ties to the
  // lower id, in descending order; topk_w (N, K) those probs, renormalised to sum to 1 when
  // `renormalize` (Mixtral), as they are otherwise (Qwen2-MoE, OLMoE: norm_topk_prob false).
  virtual void router_forward(float* probs, int32_t* topk_idx, float* topk_w, const float* logits,
                              const uint8_t* routable, int N, int E, int K, bool renormalize) = 0;
  // dlogits (N, E) += gradient through the renormalisation (when `renormalize`, as in forward)
  // and the softmax, from dtopk_w (N, K) and, when aux_dprobs (host (E)) is given, an extra
  // d(loss)/d(probs[n][e]) = aux_dprobs[e] on rows with valid[n] (the load-balancing loss;
  // valid (N), 1 = not a pad token).
  virtual void router_backward(float* dlogits, const float* dtopk_w, const float* probs,
                               const int32_t* topk_idx, const float* topk_w, const uint8_t* valid,
                               const float* aux_dprobs, int N, int E, int K, bool renormalize) = 0;
  // Load-balancing statistics over valid tokens, host outputs: f (E) = top-k assignments to e
  // / valid tokens, pbar (E) = mean probs[:, e]; both zero when no token is valid.
  virtual void router_stats(float* f_host, float* pbar_host, const float* probs, const int32_t* topk_idx,
                            const uint8_t* valid, int N, int E, int K) = 0;

  // Sort the N*K assignments a = n*K + k by expert, stable in token order, keeping at most
  // `capacity` per expert (capacity <= 0: all). offsets_host (E + 1): expert e owns sorted
  // rows [offsets[e], offsets[e+1]); perm (M) the assignment of each sorted row; pos (N*K)
  // the sorted row of each assignment, -1 when dropped by the capacity limit.
  virtual void moe_dispatch(int32_t* offsets_host, int32_t* perm, int32_t* pos, const int32_t* topk_idx,
                            int N, int K, int E, int capacity) = 0;
  // xs (M, C) = x (N, C) row perm[m] / K.
  virtual void moe_gather(float* xs, const float* x, const int32_t* perm, int M, int K, int C) = 0;
  // dx (N, C) += sum over the token's kept assignments of dxs rows.
  virtual void moe_gather_backward(float* dx, const float* dxs, const int32_t* pos, int N, int K, int C) = 0;
  // out (N, C) += sum_k topk_w[n][k] * ys (M, C) row pos[n*K + k], dropped assignments add 0.
  virtual void moe_scatter(float* out, const float* ys, const float* topk_w, const int32_t* pos, int N,
                           int K, int C) = 0;
  // dys (M, C) += w * dout row; dtopk_w (N, K) += dot(dout row, ys row) for kept assignments.
  virtual void moe_scatter_backward(float* dys, float* dtopk_w, const float* dout, const float* ys,
                                    const float* topk_w, const int32_t* pos, int N, int K, int C) = 0;

  // Grouped GEMM, one per expert: rows [offsets[e], offsets[e+1]) of out (M, OC) = the same
  // rows of inp (M, IC) · W_e^T, where W_e (OC, IC) starts at w + e * w_stride. offsets: host.
  virtual void grouped_matmul_forward(float* out, const float* inp, const float* w, size_t w_stride,
                                      const int32_t* offsets_host, int E, int IC, int OC) = 0;
  // dinp (M, IC) += dout · W_e for every expert; dW_e (at dw + e * w_stride) += dout^T · inp only
  // where trainable_host[e] (host (E), nullptr = all): frozen experts' weight GEMMs are skipped.
  virtual void grouped_matmul_backward(float* dinp, float* dw, const float* dout, const float* inp,
                                       const float* w, size_t w_stride, const int32_t* offsets_host,
                                       const uint8_t* trainable_host, int E, int IC, int OC) = 0;

  // out (M, F) = silu(h1) * h3.
  virtual void swiglu_forward(float* out, const float* h1, const float* h3, int M, int F) = 0;
  virtual void swiglu_backward(float* dh1, float* dh3, const float* dout, const float* h1, const float* h3,
                               int M, int F) = 0;

  // Qwen2-MoE's gated shared expert: out (N, C) += sigmoid(gate[n]) * y (N, C) row n, gate (N).
  virtual void sigmoid_gate_forward(float* out, const float* y, const float* gate, int N, int C) = 0;
  // dy (N, C) += sigmoid(gate[n]) * dout row n; dgate (N) += s (1 - s) dot(dout row, y row).
  virtual void sigmoid_gate_backward(float* dy, float* dgate, const float* dout, const float* y, const float* gate,
                                     int N, int C) = 0;

  // ---- frozen base and LoRA adapters -----------------------------------------------------------
  // A frozen linear layer W (OC, IC) at its storage precision (ops/frozen_weight.h). Only input
  // gradients flow through it: the base is never trained, so no op computes its gradient.
  // out (rows, IC) = rows [row0, row0 + rows) of W in fp32 (ops/quantize.h's reference bits).
  virtual void frozen_dequantize(float* out, const FrozenWeight& w, int row0, int rows) = 0;
  // out (N, OC) = inp (N, IC) · W^T ("+=" when accumulate). W is dequantised kFrozenTileRows rows
  // at a time into scratch (kFrozenTileRows, IC); an fp32 W is read in place (matmul_forward).
  virtual void frozen_matmul_forward(float* out, const float* inp, const FrozenWeight& w, float* scratch, int N,
                                     bool accumulate) = 0;
  // dinp (N, IC) += dout (N, OC) · W, tile by tile in row order (scratch as above).
  virtual void frozen_matmul_backward(float* dinp, const float* dout, const FrozenWeight& w, float* scratch,
                                      int N) = 0;

  // The LoRA branch of a linear layer, y = W x + scale · B (A x) with scale = alpha / r, without
  // forming W + scale · B A: ax (N, r) = inp (N, IC) · a (r, IC)^T, kept for backward;
  // out (N, OC) += scale · ax · b (OC, r)^T.
  virtual void lora_forward(float* out, float* ax, const float* inp, const float* a, const float* b, int N, int IC,
                            int OC, int r, float scale) = 0;
  // db (OC, r) += scale · dout^T · ax; dax (N, r) = scale · dout · b (scratch, overwritten);
  // da (r, IC) += dax^T · inp; dinp (N, IC) += dax · a. da and db are nullptr for a frozen
  // adapter (its input gradient still flows).
  virtual void lora_backward(float* dinp, float* da, float* db, float* dax, const float* dout, const float* inp,
                             const float* ax, const float* a, const float* b, int N, int IC, int OC, int r,
                             float scale) = 0;

  // ---- heads and losses ------------------------------------------------------------------------
  // Per row of logits (N, V): losses (N) = -log softmax[target], correct (N) = 1 when the
  // argmax (ties to the lower index) equals the target; both 0 where target == -1.
  virtual void crossentropy_forward(float* losses, int32_t* correct, const float* logits,
                                    const int32_t* targets, int N, int V) = 0;
  // dlogits (N, V) += dloss * (softmax - onehot(target)) on rows with target != -1.
  virtual void crossentropy_backward(float* dlogits, const float* logits, const int32_t* targets,
                                     float dloss, int N, int V) = 0;

  // out (B, C) = mean of x (B, T, C) over positions with valid (B, T); a row with no valid
  // position gives zeros.
  virtual void mean_pool_forward(float* out, const float* x, const uint8_t* valid, int B, int T, int C) = 0;
  virtual void mean_pool_backward(float* dx, const float* dout, const uint8_t* valid, int B, int T, int C) = 0;

  // ---- optimizer ---------------------------------------------------------------------------------
  // Sum of squares of x (n), accumulated in double in a fixed order (deterministic).
  virtual double sum_squares(const float* x, size_t n) = 0;
  virtual void scale(float* x, size_t n, float s) = 0;
  // FedProx: grad (n) += mu * (param (n) - anchor (n)), the gradient of mu/2 |param - anchor|^2.
  virtual void proximal_grad(float* grad, const float* param, const float* anchor, size_t n, float mu) = 0;
  // One torch.optim.AdamW step on n elements, given the bias corrections 1 - beta^t. Scalars
  // are double, as torch's are Python floats, and are rounded to fp32 where torch rounds them.
  virtual void adamw_update(float* param, const float* grad, float* m, float* v, size_t n, double lr,
                            double beta1, double beta2, double eps, double weight_decay, double bias_corr1,
                            double bias_corr2) = 0;
};

}  // namespace hf
