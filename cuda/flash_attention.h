#pragma once
// Fused causal grouped-query attention (flash-style) for the CUDA backend: the fast path of
// CudaOps::attention_forward/backward when CudaAttention::fused is chosen and HS <= kMaxFlashHead;
// the per-head cuBLAS path in cuda_attention.cu is the reference it is tested against. How it
// works and what it keeps: flash_attention.cu. No CUDA header, like cuda_ops.h.

struct CUstream_st;

namespace hf::cuda_detail {

constexpr int kMaxFlashHead = 128;  // head sizes above it take the reference path

// out (B, T, NH, HS) = causal softmax(scale Q K^T) V with scale 1/sqrt(HS); query head h reads
// kv head h / (NH / NKV). q (B, T, NH, HS), k, v (B, T, NKV, HS). lse (B, NH, T) keeps each
// row's log-sum-exp of its scaled scores, all the backward needs besides the inputs.
void flash_attention_forward(CUstream_st* stream, float* out, float* lse, const float* q, const float* k,
                             const float* v, int B, int T, int NH, int NKV, int HS);

// dq (B, T, NH, HS), dk, dv (B, T, NKV, HS) += the gradients for dout (B, T, NH, HS), with the
// probabilities recomputed from lse (B, NH, T). dsum (B, NH, T) is overwritten with each row's
// sum_j P dP, the softmax backward's row term.
void flash_attention_backward(CUstream_st* stream, float* dq, float* dk, float* dv, float* dsum, const float* dout,
                              const float* q, const float* k, const float* v, const float* lse, int B, int T,
                              int NH, int NKV, int HS);

}  // namespace hf::cuda_detail
