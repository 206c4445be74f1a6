// CUDA backend: fused causal grouped-query attention, flash-style (FlashAttention-2's loop
// order: Dao, 2023), fp32 on CUDA cores. No T x T matrix is stored: the forward streams tiles
// of keys and values through shared memory with an online softmax (running max m, running sum
// l, unnormalised output o per query row) and keeps only each row's log-sum-exp m + log l; the
// backward recomputes P = exp(scale q.k - lse) tile by tile.
//
// Work split. A block is kFlashWarps warps and owns kOwnedRows rows (kRowsPerWarp per warp):
// query rows in the forward and the dQ kernel, key rows in the dK/dV kernel. It streams the
// other side in tiles of kTile = 32 rows, one per lane: lane j scores its tile row against the
// warp's owned rows; the lanes post their weights to shared memory, and for the weighted sums
// each lane owns head dims lane, lane + 32, .. and reads the tile's weights from there (one
// barrier per tile rather than a shuffle per weight, which also keeps the CPU emulation fast).
//
// Backward in two kernels and no atomics: dQ per query block (a first pass over its key tiles
// sums D_i = sum_j P_ij dP_ij, the softmax backward's row term, a second adds dQ), then dK/dV
// per key block, which walks the query heads of its kv head in order and the query tiles at
// or after its keys: each block owns its dK/dV rows, so the sums have a fixed order and two
// runs give the same bits. D is recomputed rather than taken as rowsum(dO * O) because the op
// interface's backward does not receive the output O; passing it would save the first pass.
//
// Shared memory (static, under the 48 KiB limit without opt-in): forward 8 x 128 query rows +
// 32 x 129 keys + 32 x 128 values + 8 x 32 weights = 38 KiB; backward 2 x 8 x 128 + 2 x 32 x 129
// + 8 x 32 (dQ) or 2 x 8 x 32 (dK/dV) weights = 42 or 43 KiB.
// Tiles read a row per lane have a 129-float stride so the 32 lanes hit 32 banks.
#include <cmath>

#include "cuda/cuda_common.cuh"
#include "cuda/flash_attention.h"

namespace hf::cuda_detail {
namespace {

constexpr int kFlashWarps = 2;
constexpr int kRowsPerWarp = 4;
constexpr int kOwnedRows = kFlashWarps * kRowsPerWarp;
constexpr int kTile = kWarp;
constexpr int kDimsPerLane = kMaxFlashHead / kWarp;  // head dims d = lane + c * 32, c < 4
constexpr int kStride = kMaxFlashHead;               // row stride of tiles read by broadcast
constexpr int kPadded = kMaxFlashHead + 1;           // row stride of tiles read a row per lane

// tile (rows, HS) with row stride `stride` <- rows [row0, row0 + rows) of one head, x pointing
// at that head's row 0 with row stride ld; rows at or past T become zeros. The whole block
// takes part; consecutive threads read consecutive floats.
__device__ void load_rows(float* tile, int stride, const float* x, size_t ld, int row0, int rows, int T, int HS) {
  for (int idx = threadIdx.x; idx < rows * HS; idx += blockDim.x) {
    const int r = idx / HS, d = idx % HS;
    tile[r * stride + d] = row0 + r < T ? x[size_t(row0 + r) * ld + d] : 0.0f;
  }
}

// acc[r][c] += sum over the tile's first `rows` rows jj of w[r][jj] * tile[jj][lane + 32c]: for
// each of the warp's rows r, the tile rows weighted by w (4, 32) (shared memory), into the head
// dims this lane owns. Each tile value is read once for the 4 rows; dims past HS add zeros to
// accumulators that are never written.
__device__ void add_weighted_rows(float (&acc)[kRowsPerWarp][kDimsPerLane], const float* w, const float* tile,
                                  int stride, int rows, int HS) {
  const int lane = threadIdx.x % kWarp;
  for (int jj = 0; jj < rows; jj++) {
    float t[kDimsPerLane];
    for (int c = 0; c < kDimsPerLane; c++) {
      const int d = lane + c * kWarp;
      t[c] = d < HS ? tile[jj * stride + d] : 0.0f;
    }
    for (int r = 0; r < kRowsPerWarp; r++) {
      const float wj = w[r * kTile + jj];
      for (int c = 0; c < kDimsPerLane; c++) acc[r][c] += wj * t[c];
    }
  }
}

// Grid (B * NH, ceil(T / kOwnedRows)): block (b * NH + h, y) owns query rows i0 = 8y .. i0 + 7
// of head h and streams the key tiles j0 = 0, 32, .. up to its last row.
__global__ void flash_forward_kernel(float* out, float* lse, const float* q, const float* k, const float* v, int T,
                                     int NH, int NKV, int HS, float scale) {
  __shared__ float qs[kOwnedRows * kStride];  // (8, HS) the block's query rows
  __shared__ float ks[kTile * kPadded];       // (32, HS) keys, row j read by lane j
  __shared__ float vs[kTile * kStride];       // (32, HS) values
  __shared__ float ps[kOwnedRows * kTile];    // (8, 32) each owned row's weights for the tile
  const int bh = blockIdx.x, b = bh / NH, h = bh % NH, g = h / (NH / NKV);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int i0 = blockIdx.y * kOwnedRows, first_row = i0 + warp * kRowsPerWarp;
  const size_t ldq = size_t(NH) * HS, ldk = size_t(NKV) * HS;
  const float* kh = k + size_t(b) * T * ldk + g * HS;  // (T, HS) rows ldk apart
  const float* vh = v + size_t(b) * T * ldk + g * HS;  // (T, HS) rows ldk apart
  float* pw = ps + warp * kRowsPerWarp * kTile;        // (4, 32) this warp's rows
  load_rows(qs, kStride, q + size_t(b) * T * ldq + h * HS, ldq, i0, kOwnedRows, T, HS);
  float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][kDimsPerLane];
  for (int r = 0; r < kRowsPerWarp; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
    for (int c = 0; c < kDimsPerLane; c++) o[r][c] = 0.0f;
  }
  const int last = min(i0 + kOwnedRows, T) - 1;  // the block's last query row
  for (int j0 = 0; j0 <= last; j0 += kTile) {
    __syncthreads();  // every warp is done with the previous tile and its weights (and qs is loaded)
    load_rows(ks, kPadded, kh, ldk, j0, kTile, T, HS);
    load_rows(vs, kStride, vh, ldk, j0, kTile, T, HS);
    __syncthreads();
    float s[kRowsPerWarp] = {};  // q_i . k_j for the warp's rows i and this lane's key j
    for (int d = 0; d < HS; d++) {
      const float kd = ks[lane * kPadded + d];
      for (int r = 0; r < kRowsPerWarp; r++) s[r] += qs[(warp * kRowsPerWarp + r) * kStride + d] * kd;
    }
    const int keys = min(kTile, last + 1 - j0);  // tile rows any of the block's queries sees
    const int j = j0 + lane;
    for (int r = 0; r < kRowsPerWarp; r++) {
      // Every row sees key 0 in its first tile, so m is finite from then on (rows past T, the
      // last block's tail, see zero-padded keys and are not written).
      const int i = first_row + r;
      const float x = j <= i ? s[r] * scale : -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(x));
      const float alpha = expf(m[r] - m_new), p = expf(x - m_new);
      l[r] = l[r] * alpha + warp_sum(p);
      m[r] = m_new;
      for (int c = 0; c < kDimsPerLane; c++) o[r][c] *= alpha;
      pw[r * kTile + lane] = p;
    }
    __syncthreads();  // the weights are posted
    add_weighted_rows(o, pw, vs, kStride, keys, HS);
  }
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int i = first_row + r;
    if (i >= T) continue;
    if (lane == 0) lse[size_t(bh) * T + i] = m[r] + logf(l[r]);
    const float inv = 1.0f / l[r];
    float* oi = out + (size_t(b) * T + i) * ldq + h * HS;
    for (int c = 0; c < kDimsPerLane; c++) {
      const int d = lane + c * kWarp;
      if (d < HS) oi[d] = o[r][c] * inv;
    }
  }
}

// Grid and rows as the forward. Pass 0 over the key tiles sums D_i = sum_j P_ij dP_ij with
// dP = dO V^T; pass 1 adds dQ_i += sum_j dS_ij k_j with dS = scale P (dP - D_i). D goes to dsum.
__global__ void flash_backward_dq_kernel(float* dq, float* dsum, const float* dout, const float* q, const float* k,
                                         const float* v, const float* lse, int T, int NH, int NKV, int HS,
                                         float scale) {
  __shared__ float qs[kOwnedRows * kStride];   // (8, HS) the block's query rows
  __shared__ float dos[kOwnedRows * kStride];  // (8, HS) their output gradients
  __shared__ float ks[kTile * kPadded];        // (32, HS) keys, row j read by lane j
  __shared__ float vs[kTile * kPadded];        // (32, HS) values, row j read by lane j
  __shared__ float dss[kOwnedRows * kTile];    // (8, 32) each owned row's dS for the tile
  const int bh = blockIdx.x, b = bh / NH, h = bh % NH, g = h / (NH / NKV);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int i0 = blockIdx.y * kOwnedRows, first_row = i0 + warp * kRowsPerWarp;
  const size_t ldq = size_t(NH) * HS, ldk = size_t(NKV) * HS;
  const float* kh = k + size_t(b) * T * ldk + g * HS;  // (T, HS) rows ldk apart
  const float* vh = v + size_t(b) * T * ldk + g * HS;  // (T, HS) rows ldk apart
  float* dsw = dss + warp * kRowsPerWarp * kTile;      // (4, 32) this warp's rows
  load_rows(qs, kStride, q + size_t(b) * T * ldq + h * HS, ldq, i0, kOwnedRows, T, HS);
  load_rows(dos, kStride, dout + size_t(b) * T * ldq + h * HS, ldq, i0, kOwnedRows, T, HS);
  float row_lse[kRowsPerWarp], D[kRowsPerWarp] = {}, acc[kRowsPerWarp][kDimsPerLane] = {};
  for (int r = 0; r < kRowsPerWarp; r++) row_lse[r] = first_row + r < T ? lse[size_t(bh) * T + first_row + r] : 0.0f;
  const int last = min(i0 + kOwnedRows, T) - 1;
  for (int pass = 0; pass < 2; pass++) {
    for (int j0 = 0; j0 <= last; j0 += kTile) {
      __syncthreads();
      load_rows(ks, kPadded, kh, ldk, j0, kTile, T, HS);
      load_rows(vs, kPadded, vh, ldk, j0, kTile, T, HS);
      __syncthreads();
      float s[kRowsPerWarp] = {}, dp[kRowsPerWarp] = {};  // q_i . k_j and dO_i . v_j
      for (int d = 0; d < HS; d++) {
        const float kd = ks[lane * kPadded + d], vd = vs[lane * kPadded + d];
        for (int r = 0; r < kRowsPerWarp; r++) {
          s[r] += qs[(warp * kRowsPerWarp + r) * kStride + d] * kd;
          dp[r] += dos[(warp * kRowsPerWarp + r) * kStride + d] * vd;
        }
      }
      const int keys = min(kTile, last + 1 - j0);
      const int j = j0 + lane;
      for (int r = 0; r < kRowsPerWarp; r++) {
        const int i = first_row + r;
        const float p = j <= i && i < T ? expf(s[r] * scale - row_lse[r]) : 0.0f;
        if (pass == 0)
          D[r] += p * dp[r];
        else
          dsw[r * kTile + lane] = scale * p * (dp[r] - D[r]);
      }
      if (pass == 1) {
        __syncthreads();  // dS is posted
        add_weighted_rows(acc, dsw, ks, kPadded, keys, HS);
      }
    }
    if (pass == 0)
      for (int r = 0; r < kRowsPerWarp; r++) D[r] = warp_sum(D[r]);
  }
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int i = first_row + r;
    if (i >= T) continue;
    if (lane == 0) dsum[size_t(bh) * T + i] = D[r];
    float* dqi = dq + (size_t(b) * T + i) * ldq + h * HS;
    for (int c = 0; c < kDimsPerLane; c++) {
      const int d = lane + c * kWarp;
      if (d < HS) dqi[d] += acc[r][c];
    }
  }
}

// Grid (B * NKV, ceil(T / kOwnedRows)): block (b * NKV + g, y) owns key rows j0 = 8y .. j0 + 7 of
// kv head g; for each query head of the group, in order, it streams the query tiles i0 = j0,
// j0 + 32, .. (earlier queries do not see these keys): dV_j += sum_i P_ij dO_i and
// dK_j += sum_i dS_ij q_i.
__global__ void flash_backward_dkdv_kernel(float* dk, float* dv, const float* dout, const float* q, const float* k,
                                           const float* v, const float* lse, const float* dsum, int T, int NH,
                                           int NKV, int HS, float scale) {
  __shared__ float ks[kOwnedRows * kStride];  // (8, HS) the block's keys
  __shared__ float vs[kOwnedRows * kStride];  // (8, HS) their values
  __shared__ float qs[kTile * kPadded];       // (32, HS) query rows, row i read by lane i
  __shared__ float dos[kTile * kPadded];      // (32, HS) their output gradients
  __shared__ float ps[kOwnedRows * kTile];    // (8, 32) each owned key's P for the tile's queries
  __shared__ float dss[kOwnedRows * kTile];   // (8, 32) and its dS
  const int bg = blockIdx.x, b = bg / NKV, g = bg % NKV, group = NH / NKV;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int j0 = blockIdx.y * kOwnedRows, first_key = j0 + warp * kRowsPerWarp;
  const size_t ldq = size_t(NH) * HS, ldk = size_t(NKV) * HS;
  float* pw = ps + warp * kRowsPerWarp * kTile;    // (4, 32) this warp's keys
  float* dsw = dss + warp * kRowsPerWarp * kTile;  // (4, 32)
  load_rows(ks, kStride, k + size_t(b) * T * ldk + g * HS, ldk, j0, kOwnedRows, T, HS);
  load_rows(vs, kStride, v + size_t(b) * T * ldk + g * HS, ldk, j0, kOwnedRows, T, HS);
  float dk_acc[kRowsPerWarp][kDimsPerLane] = {}, dv_acc[kRowsPerWarp][kDimsPerLane] = {};
  for (int h = g * group; h < (g + 1) * group; h++) {
    const float* qh = q + size_t(b) * T * ldq + h * HS;     // (T, HS) rows ldq apart
    const float* doh = dout + size_t(b) * T * ldq + h * HS;  // (T, HS) rows ldq apart
    const float* lse_h = lse + (size_t(b) * NH + h) * T;    // (T)
    const float* dsum_h = dsum + (size_t(b) * NH + h) * T;  // (T)
    for (int i0 = j0; i0 < T; i0 += kTile) {
      __syncthreads();
      load_rows(qs, kPadded, qh, ldq, i0, kTile, T, HS);
      load_rows(dos, kPadded, doh, ldq, i0, kTile, T, HS);
      __syncthreads();
      const int i = i0 + lane;
      const float lse_i = i < T ? lse_h[i] : 0.0f, D_i = i < T ? dsum_h[i] : 0.0f;
      float s[kRowsPerWarp] = {}, dp[kRowsPerWarp] = {};  // q_i . k_j and dO_i . v_j
      for (int d = 0; d < HS; d++) {
        const float qd = qs[lane * kPadded + d], dod = dos[lane * kPadded + d];
        for (int r = 0; r < kRowsPerWarp; r++) {
          s[r] += qd * ks[(warp * kRowsPerWarp + r) * kStride + d];
          dp[r] += dod * vs[(warp * kRowsPerWarp + r) * kStride + d];
        }
      }
      const int rows = min(kTile, T - i0);
      for (int r = 0; r < kRowsPerWarp; r++) {
        const int j = first_key + r;
        const float p = j <= i && i < T ? expf(s[r] * scale - lse_i) : 0.0f;
        pw[r * kTile + lane] = p;
        dsw[r * kTile + lane] = scale * p * (dp[r] - D_i);
      }
      __syncthreads();  // P and dS are posted
      add_weighted_rows(dv_acc, pw, dos, kPadded, rows, HS);
      add_weighted_rows(dk_acc, dsw, qs, kPadded, rows, HS);
    }
  }
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int j = first_key + r;
    if (j >= T) continue;
    float* dkj = dk + (size_t(b) * T + j) * ldk + g * HS;
    float* dvj = dv + (size_t(b) * T + j) * ldk + g * HS;
    for (int c = 0; c < kDimsPerLane; c++) {
      const int d = lane + c * kWarp;
      if (d < HS) {
        dkj[d] += dk_acc[r][c];
        dvj[d] += dv_acc[r][c];
      }
    }
  }
}

dim3 flash_grid(int B, int heads, int T) {
  const int blocks = (T + kOwnedRows - 1) / kOwnedRows;
  HF_CHECK(blocks <= 65535, "sequence length %d exceeds the fused attention's grid limit %d", T, 65535 * kOwnedRows);
  return dim3(B * heads, blocks);
}

}  // namespace

void flash_attention_forward(CUstream_st* stream, float* out, float* lse, const float* q, const float* k,
                             const float* v, int B, int T, int NH, int NKV, int HS) {
  if (B == 0 || T == 0) return;
  HF_CHECK(HS >= 1 && HS <= kMaxFlashHead, "head size %d is outside the fused attention's 1..%d", HS, kMaxFlashHead);
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  flash_forward_kernel<<<flash_grid(B, NH, T), kFlashWarps * kWarp, 0, stream>>>(out, lse, q, k, v, T, NH, NKV, HS,
                                                                                 scale);
  CUDA_CHECK_LAUNCH();
}

void flash_attention_backward(CUstream_st* stream, float* dq, float* dk, float* dv, float* dsum, const float* dout,
                              const float* q, const float* k, const float* v, const float* lse, int B, int T,
                              int NH, int NKV, int HS) {
  if (B == 0 || T == 0) return;
  HF_CHECK(HS >= 1 && HS <= kMaxFlashHead, "head size %d is outside the fused attention's 1..%d", HS, kMaxFlashHead);
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  flash_backward_dq_kernel<<<flash_grid(B, NH, T), kFlashWarps * kWarp, 0, stream>>>(dq, dsum, dout, q, k, v, lse,
                                                                                     T, NH, NKV, HS, scale);
  CUDA_CHECK_LAUNCH();
  flash_backward_dkdv_kernel<<<flash_grid(B, NKV, T), kFlashWarps * kWarp, 0, stream>>>(
      dk, dv, dout, q, k, v, lse, dsum, T, NH, NKV, HS, scale);
  CUDA_CHECK_LAUNCH();
}

}  // namespace hf::cuda_detail
