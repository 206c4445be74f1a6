// The CUDA backend's MoE ops against their CPU twins: router (ties, routable masks, K=1, K=E),
// router backward and statistics, dispatch (experts with no tokens, capacity drops, several
// tiles), gather/scatter and their backwards with dropped assignments, grouped GEMMs with
// empty and frozen experts, SwiGLU, the shared expert's sigmoid gate. Tolerance classes: test_cuda_util.h.
#ifdef HFEDMOE_HAVE_CUDA
#include "test_cuda_util.h"
#include "util/rng.h"

namespace hf {
namespace {

using namespace test;
using CudaMoe = CudaTest;

// Top-k choices of N tokens among `allowed` experts (K distinct each), as a router makes them.
std::vector<int32_t> random_topk(int N, int K, const std::vector<int>& allowed, uint64_t seed) {
  Rng rng(seed, Purpose::eval, 79);
  std::vector<int32_t> idx(size_t(N) * K);
  for (int n = 0; n < N; n++)
    for (int k = 0; k < K; k++) {
      int32_t e;
      bool taken;
      do {
        e = allowed[rng.below(allowed.size())];
        taken = false;
        for (int j = 0; j < k; j++) taken |= idx[size_t(n) * K + j] == e;
      } while (taken);
      idx[size_t(n) * K + k] = e;
    }
  return idx;
}

std::vector<int> range(int n) {
  std::vector<int> r(n);
  for (int i = 0; i < n; i++) r[i] = i;
  return r;
}

// ---- router ----------------------------------------------------------------------------------

struct RouterCase {
  int N, E, K;
  bool mask;
  bool renormalize = true;  // false: norm_topk_prob off (Qwen2-MoE, OLMoE)
};

// True when the CPU's probabilities in row n have two distinct values closer than 1e-5
// relative: there the backends' ulp-level differences may legitimately reorder the top-k.
bool near_tie(const std::vector<float>& probs, int n, int E) {
  for (int a = 0; a < E; a++)
    for (int b = 0; b < E; b++) {
      float pa = probs[size_t(n) * E + a], pb = probs[size_t(n) * E + b];
      if (pa != pb && std::fabs(pa - pb) < 1e-5f * std::max(pa, pb)) return true;
    }
  return false;
}

TEST_F(CudaMoe, RouterForwardTopkTiesAndMasks) {
  uint64_t seed = 2000;
  for (RouterCase c : {RouterCase{37, 8, 2, false}, {300, 32, 1, false}, {5, 4, 4, false}, {50, 8, 2, true},
                       {20, 6, 6, false}, {40, 8, 4, true}, {40, 16, 8, false, false}, {50, 8, 2, true, false}}) {
    SCOPED_TRACE(testing::Message() << "N " << c.N << " E " << c.E << " K " << c.K << " mask " << c.mask
                                    << " renormalize " << c.renormalize);
    auto logits = randn(size_t(c.N) * c.E, seed++, 2.0f);
    for (int e = 0; e < c.E; e++) logits[e] = 0.5f;  // row 0: all tied -> the lowest ids win
    for (int e = 0; e + 1 < c.E; e += 2) logits[c.E + e + 1] = logits[c.E + e];  // row 1: tied pairs
    std::vector<uint8_t> routable(c.E, 1);
    if (c.mask)
      for (int e = 0; e < c.E; e++) routable[e] = (e % 3 != 1);  // 0, 2, 3, 5, 6: at least K
    std::vector<float> probs(size_t(c.N) * c.E), w(size_t(c.N) * c.K);
    std::vector<int32_t> idx(size_t(c.N) * c.K);
    cpu().router_forward(probs.data(), idx.data(), w.data(), logits.data(), c.mask ? routable.data() : nullptr, c.N,
                         c.E, c.K, c.renormalize);
    float *g_probs = up(probs), *g_w = up(w);
    int32_t* g_idx = up(idx);
    gpu().router_forward(g_probs, g_idx, g_w, up(logits), c.mask ? up(routable) : nullptr, c.N, c.E, c.K,
                         c.renormalize);
    expect_close("probs", down(g_probs, probs.size()), probs, kElementwise);
    auto got_idx = down(g_idx, idx.size());
    // Row 0: the first K routable ids in order (the CPU's rule, checked here too).
    for (int k = 0, e = 0; k < c.K; k++, e++) {
      while (!routable[e]) e++;
      EXPECT_EQ(idx[k], e) << "cpu tie rule, k " << k;
    }
    int compared = 0;
    for (int n = 0; n < c.N; n++) {
      if (near_tie(probs, n, c.E)) continue;
      compared++;
      for (int k = 0; k < c.K; k++)
        ASSERT_EQ(got_idx[size_t(n) * c.K + k], idx[size_t(n) * c.K + k]) << "token " << n << " k " << k;
    }
    EXPECT_GE(compared, c.N / 2) << "too many near-tied rows to test the top-k";
    auto got_w = down(g_w, w.size());
    expect_close("topk_w", got_w, w, kElementwise);
  }
}

TEST_F(CudaMoe, RouterBackwardWithAndWithoutAux) {
  uint64_t seed = 2100;
  for (RouterCase c : {RouterCase{37, 8, 2, false}, {300, 32, 1, false}, {5, 4, 4, false}, {50, 8, 2, true},
                       {64, 16, 8, false, false}}) {
    for (bool aux : {false, true}) {
      SCOPED_TRACE(testing::Message() << "N " << c.N << " E " << c.E << " K " << c.K << " aux " << aux);
      auto logits = randn(size_t(c.N) * c.E, seed++, 2.0f);
      std::vector<float> probs(size_t(c.N) * c.E), w(size_t(c.N) * c.K);
      std::vector<int32_t> idx(size_t(c.N) * c.K);
      cpu().router_forward(probs.data(), idx.data(), w.data(), logits.data(), nullptr, c.N, c.E, c.K, c.renormalize);
      auto dw = randn(w.size(), seed++), aux_dprobs = randn(c.E, seed++, 0.1f);
      std::vector<uint8_t> valid(c.N, 1);
      for (int n = 0; n < c.N; n += 4) valid[n] = 0;
      std::vector<float> dlogits = randn(probs.size(), seed++), dlogits0 = dlogits;
      cpu().router_backward(dlogits.data(), dw.data(), probs.data(), idx.data(), w.data(), valid.data(),
                            aux ? aux_dprobs.data() : nullptr, c.N, c.E, c.K, c.renormalize);
      float* g_dlogits = up(dlogits0);
      gpu().router_backward(g_dlogits, up(dw), up(probs), up(idx), up(w), up(valid), aux ? aux_dprobs.data() : nullptr,
                            c.N, c.E, c.K, c.renormalize);
      expect_close("dlogits", down(g_dlogits, dlogits.size()), dlogits, kReduction);
    }
  }
}

TEST_F(CudaMoe, RouterStatsCountsAndMeans) {
  const int N = 333, E = 16, K = 2;
  auto logits = randn(size_t(N) * E, 2200, 2.0f);
  std::vector<float> probs(size_t(N) * E), w(size_t(N) * K);
  std::vector<int32_t> idx(size_t(N) * K);
  cpu().router_forward(probs.data(), idx.data(), w.data(), logits.data(), nullptr, N, E, K, true);
  for (bool any_valid : {true, false}) {
    std::vector<uint8_t> valid(N, any_valid ? 1 : 0);
    for (int n = 0; n < N; n += 5) valid[n] = 0;
    std::vector<float> f(E), pbar(E), gf(E, -1), gpbar(E, -1);
    cpu().router_stats(f.data(), pbar.data(), probs.data(), idx.data(), valid.data(), N, E, K);
    gpu().router_stats(gf.data(), gpbar.data(), up(probs), up(idx), up(valid), N, E, K);
    expect_equal("f (integer counts over the valid count)", gf, f);
    expect_close("pbar", gpbar, pbar, kElementwise);
  }
}

// ---- dispatch, gather, scatter ----------------------------------------------------------------

struct DispatchCase {
  int N, K, E, capacity, used;  // tokens pick among experts [0, used): the others get none
};
const DispatchCase kDispatchCases[] = {
    {50, 2, 8, 0, 6}, {50, 2, 8, 7, 8}, {300, 1, 4, 0, 4}, {40, 4, 4, 0, 4}, {600, 2, 32, 30, 32}, {3, 2, 8, 1, 3}};

// The CPU's dispatch of a case: offsets (E + 1), perm (M), pos (A).
struct Routed {
  std::vector<int32_t> idx, offsets, perm, pos;
  int M() const { return offsets.back(); }
};
Routed cpu_dispatch(CpuOps& cpu, const DispatchCase& c, uint64_t seed) {
  Routed r;
  r.idx = random_topk(c.N, c.K, range(c.used), seed);
  r.offsets.resize(c.E + 1);
  r.perm.resize(size_t(c.N) * c.K);
  r.pos.resize(size_t(c.N) * c.K);
  cpu.moe_dispatch(r.offsets.data(), r.perm.data(), r.pos.data(), r.idx.data(), c.N, c.K, c.E, c.capacity);
  r.perm.resize(r.M());
  return r;
}

TEST_F(CudaMoe, DispatchIsTheCpusStableSort) {
  uint64_t seed = 2300;
  for (DispatchCase c : kDispatchCases) {
    SCOPED_TRACE(testing::Message() << "N " << c.N << " K " << c.K << " E " << c.E << " capacity " << c.capacity);
    Routed r = cpu_dispatch(cpu(), c, seed++);
    const size_t A = size_t(c.N) * c.K;
    std::vector<int32_t> offsets(c.E + 1, -5);
    int32_t* g_perm = up(std::vector<int32_t>(A, -7));
    int32_t* g_pos = up(std::vector<int32_t>(A, -7));
    gpu().moe_dispatch(offsets.data(), g_perm, g_pos, up(r.idx), c.N, c.K, c.E, c.capacity);
    expect_equal("offsets", offsets, r.offsets);
    expect_equal("perm", down(g_perm, r.M()), r.perm);
    expect_equal("pos", down(g_pos, A), r.pos);
    if (c.capacity > 0 && c.N * c.K > c.capacity * c.E) {
      EXPECT_LT(r.M(), c.N * c.K) << "the case should drop";
    }
  }
}

TEST_F(CudaMoe, GatherScatterAndBackwardsWithDrops) {
  uint64_t seed = 2400;
  for (DispatchCase c : kDispatchCases) {
    for (int C : {1, 33, 300}) {
      SCOPED_TRACE(testing::Message() << "N " << c.N << " K " << c.K << " E " << c.E << " cap " << c.capacity
                                      << " C " << C);
      Routed r = cpu_dispatch(cpu(), c, seed++);
      const int M = r.M(), N = c.N, K = c.K;
      auto x = randn(size_t(N) * C, seed++), dxs = randn(size_t(M) * C, seed++), ys = randn(size_t(M) * C, seed++);
      auto topk_w = randn(size_t(N) * K, seed++), dout = randn(size_t(N) * C, seed++);
      std::vector<float> xs(size_t(M) * C), dx = randn(x.size(), seed++), out = randn(x.size(), seed++);
      std::vector<float> dys = randn(ys.size(), seed++), dtw = randn(topk_w.size(), seed++);
      const auto dx0 = dx, out0 = out, dys0 = dys, dtw0 = dtw;
      cpu().moe_gather(xs.data(), x.data(), r.perm.data(), M, K, C);
      cpu().moe_gather_backward(dx.data(), dxs.data(), r.pos.data(), N, K, C);
      cpu().moe_scatter(out.data(), ys.data(), topk_w.data(), r.pos.data(), N, K, C);
      cpu().moe_scatter_backward(dys.data(), dtw.data(), dout.data(), ys.data(), topk_w.data(), r.pos.data(), N, K, C);
      const int32_t *g_perm = up(r.perm), *g_pos = up(r.pos);
      const float *g_ys = up(ys), *g_tw = up(topk_w);
      float *g_xs = up(std::vector<float>(xs.size())), *g_dx = up(dx0), *g_out = up(out0);
      float *g_dys = up(dys0), *g_dtw = up(dtw0);
      gpu().moe_gather(g_xs, up(x), g_perm, M, K, C);
      gpu().moe_gather_backward(g_dx, up(dxs), g_pos, N, K, C);
      gpu().moe_scatter(g_out, g_ys, g_tw, g_pos, N, K, C);
      gpu().moe_scatter_backward(g_dys, g_dtw, up(dout), g_ys, g_tw, g_pos, N, K, C);
      expect_equal("gather", down(g_xs, xs.size()), xs);
      expect_equal("gather backward (k order, as the CPU)", down(g_dx, dx.size()), dx);
      expect_close("scatter", down(g_out, out.size()), out, kElementwise);
      expect_close("scatter backward dys", down(g_dys, dys.size()), dys, kElementwise);
      expect_close("scatter backward dtopk_w", down(g_dtw, dtw.size()), dtw, kReduction);
    }
  }
}

// ---- grouped GEMMs, SwiGLU ----------------------------------------------------------------------

TEST_F(CudaMoe, GroupedMatmulWithEmptyAndFrozenExperts) {
  uint64_t seed = 2500;
  const DispatchCase c{70, 2, 6, 0, 5};  // expert 5 gets no rows
  const std::vector<uint8_t> trainable = {1, 0, 1, 1, 0, 1};
  for (auto [IC, OC] : {std::pair<int, int>{24, 40}, {130, 7}, {1, 1}}) {
    SCOPED_TRACE(testing::Message() << "IC " << IC << " OC " << OC);
    Routed r = cpu_dispatch(cpu(), c, seed++);
    const int M = r.M(), E = c.E;
    ASSERT_EQ(r.offsets[E] - r.offsets[E - 1], 0);
    const size_t stride = size_t(OC) * IC + 17;  // expert blocks with a gap, like the arena's
    auto inp = randn(size_t(M) * IC, seed++), w = randn(stride * E, seed++), dout = randn(size_t(M) * OC, seed++);
    std::vector<float> out(size_t(M) * OC), dinp = randn(inp.size(), seed++), dw = randn(w.size(), seed++);
    const auto dinp0 = dinp, dw0 = dw;
    cpu().grouped_matmul_forward(out.data(), inp.data(), w.data(), stride, r.offsets.data(), E, IC, OC);
    cpu().grouped_matmul_backward(dinp.data(), dw.data(), dout.data(), inp.data(), w.data(), stride, r.offsets.data(),
                                  trainable.data(), E, IC, OC);
    const float *g_inp = up(inp), *g_w = up(w), *g_dout = up(dout);
    float *g_out = up(std::vector<float>(out.size())), *g_dinp = up(dinp0), *g_dw = up(dw0);
    gpu().grouped_matmul_forward(g_out, g_inp, g_w, stride, r.offsets.data(), E, IC, OC);
    gpu().grouped_matmul_backward(g_dinp, g_dw, g_dout, g_inp, g_w, stride, r.offsets.data(), trainable.data(), E, IC,
                                  OC);
    std::vector<float> b_out(out.size()), b_dinp = abs_of(dinp0), b_dw = abs_of(dw0);
    cpu().grouped_matmul_forward(b_out.data(), abs_of(inp).data(), abs_of(w).data(), stride, r.offsets.data(), E, IC,
                                 OC);
    cpu().grouped_matmul_backward(b_dinp.data(), b_dw.data(), abs_of(dout).data(), abs_of(inp).data(),
                                  abs_of(w).data(), stride, r.offsets.data(), trainable.data(), E, IC, OC);
    expect_within("grouped out", down(g_out, out.size()), out, gemm_bound(b_out, IC));
    expect_within("grouped dinp", down(g_dinp, dinp.size()), dinp, gemm_bound(b_dinp, OC));
    auto got_dw = down(g_dw, dw.size());
    expect_within("grouped dw", got_dw, dw, gemm_bound(b_dw, M));
    // Frozen experts' blocks, the empty expert's and the gaps between blocks stay untouched.
    for (int e = 0; e < E; e++) {
      bool written = trainable[e] && r.offsets[e + 1] > r.offsets[e];
      for (size_t i = e * stride; i < (e + 1) * stride; i++) {
        if (written && i < e * stride + size_t(OC) * IC) continue;
        ASSERT_EQ(got_dw[i], dw0[i]) << "expert " << e << " entry " << i - e * stride;
      }
    }
  }
}

TEST_F(CudaMoe, SwigluForwardBackward) {
  for (auto [M, F] : {std::pair<int, int>{1, 1}, {37, 129}, {300, 64}}) {
    auto h1 = randn(size_t(M) * F, 2600 + M, 3.0f), h3 = randn(h1.size(), 2700 + M), dout = randn(h1.size(), 2800);
    std::vector<float> out(h1.size()), dh1 = randn(h1.size(), 2900), dh3 = randn(h1.size(), 2901);
    const auto dh1_0 = dh1, dh3_0 = dh3;
    cpu().swiglu_forward(out.data(), h1.data(), h3.data(), M, F);
    cpu().swiglu_backward(dh1.data(), dh3.data(), dout.data(), h1.data(), h3.data(), M, F);
    const float *g_h1 = up(h1), *g_h3 = up(h3);
    float *g_out = up(std::vector<float>(out.size())), *g_dh1 = up(dh1_0), *g_dh3 = up(dh3_0);
    gpu().swiglu_forward(g_out, g_h1, g_h3, M, F);
    gpu().swiglu_backward(g_dh1, g_dh3, up(dout), g_h1, g_h3, M, F);
    expect_close("swiglu out", down(g_out, out.size()), out, kElementwise);
    expect_close("swiglu dh1", down(g_dh1, dh1.size()), dh1, kElementwise);
    expect_close("swiglu dh3", down(g_dh3, dh3.size()), dh3, kElementwise);
  }
}

// Qwen2-MoE's shared-expert gate: out += sigmoid(gate) y, and its backward.
TEST_F(CudaMoe, SigmoidGateForwardBackward) {
  for (auto [N, C] : {std::pair<int, int>{1, 1}, {37, 129}, {300, 64}}) {
    auto y = randn(size_t(N) * C, 3000 + N), gate = randn(N, 3100 + N, 3.0f), dout = randn(y.size(), 3200);
    std::vector<float> out = randn(y.size(), 3300), dy = randn(y.size(), 3400), dgate = randn(N, 3500);
    const auto out0 = out, dy0 = dy, dgate0 = dgate;
    cpu().sigmoid_gate_forward(out.data(), y.data(), gate.data(), N, C);
    cpu().sigmoid_gate_backward(dy.data(), dgate.data(), dout.data(), y.data(), gate.data(), N, C);
    const float *g_y = up(y), *g_gate = up(gate);
    float *g_out = up(out0), *g_dy = up(dy0), *g_dgate = up(dgate0);
    gpu().sigmoid_gate_forward(g_out, g_y, g_gate, N, C);
    gpu().sigmoid_gate_backward(g_dy, g_dgate, up(dout), g_y, g_gate, N, C);
    expect_close("gate out", down(g_out, out.size()), out, kElementwise);
    expect_close("gate dy", down(g_dy, dy.size()), dy, kElementwise);
    expect_close("gate dgate", down(g_dgate, dgate.size()), dgate, kReduction);
  }
}

}  // namespace
}  // namespace hf

#endif  // HFEDMOE_HAVE_CUDA
