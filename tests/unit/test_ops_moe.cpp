// The grouped MoE layer (route, sort by expert, grouped GEMMs, weighted scatter) against a naive
// per-token loop over experts in double; capacity limits; its backward against finite
// differences; frozen-expert masking.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ops/cpu_ops.h"
#include "test_ops_fd.h"

namespace hf {
namespace {

using test::dot;
using test::expect_fd_match;
using test::randn;

CpuOps& ops() {
  static CpuOps o;
  return o;
}

// One MoE FFN layer on the CPU ops, the way model.cpp composes it. Expert e's weights are one
// block [w1 (F, C), w3 (F, C), w2 (C, F)] at experts + e * 3FC, as in the parameter arena.
struct MoeLayer {
  int N, C, E, K, F, capacity = 0;
  std::vector<float> x, router, experts;                        // (N, C), (E, C), (E, 3FC)
  std::vector<float> logits, probs, topk_w, xs, h1, h3, act, ys, out;
  std::vector<int32_t> idx, perm, pos, offsets;
  const uint8_t* routable = nullptr;
  std::vector<float> dx, drouter, dexperts;

  MoeLayer(int N_, int C_, int E_, int K_, int F_, uint64_t seed)
      : N(N_), C(C_), E(E_), K(K_), F(F_), x(randn(N * C, seed)), router(randn(E * C, seed + 1, 0.5f)),
        experts(randn(static_cast<size_t>(E) * 3 * F * C, seed + 2, 0.3f)), logits(N * E), probs(N * E),
        topk_w(N * K), xs(N * K * C), h1(N * K * F), h3(N * K * F), act(N * K * F), ys(N * K * C), out(N * C),
        idx(N * K), perm(N * K), pos(N * K), offsets(E + 1) {}
  size_t stride() const { return 3ull * F * C; }
  float* w1() { return experts.data(); }
  float* w3() { return experts.data() + static_cast<size_t>(F) * C; }
  float* w2() { return experts.data() + 2ull * F * C; }

  void forward() {
    ops().matmul_forward(logits.data(), x.data(), router.data(), nullptr, N, C, E, false);
    ops().router_forward(probs.data(), idx.data(), topk_w.data(), logits.data(), routable, N, E, K, true);
    ops().moe_dispatch(offsets.data(), perm.data(), pos.data(), idx.data(), N, K, E, capacity);
    int M = offsets[E];
    ops().moe_gather(xs.data(), x.data(), perm.data(), M, K, C);
    ops().grouped_matmul_forward(h1.data(), xs.data(), w1(), stride(), offsets.data(), E, C, F);
    ops().grouped_matmul_forward(h3.data(), xs.data(), w3(), stride(), offsets.data(), E, C, F);
    ops().swiglu_forward(act.data(), h1.data(), h3.data(), M, F);
    ops().grouped_matmul_forward(ys.data(), act.data(), w2(), stride(), offsets.data(), E, F, C);
    std::fill(out.begin(), out.end(), 0.0f);
    ops().moe_scatter(out.data(), ys.data(), topk_w.data(), pos.data(), N, K, C);
  }

  void backward(const std::vector<float>& dout, const uint8_t* trainable) {
    int M = offsets[E];
    dx.assign(N * C, 0.0f);
    drouter.assign(E * C, 0.0f);
    dexperts.assign(experts.size(), 0.0f);
    std::vector<float> dys(M * C, 0.0f), dtw(N * K, 0.0f), dact(M * F, 0.0f), dh1(M * F, 0.0f),
        dh3(M * F, 0.0f), dxs(M * C, 0.0f), dlogits(N * E, 0.0f);
    std::vector<uint8_t> valid(N, 1);
    ops().moe_scatter_backward(dys.data(), dtw.data(), dout.data(), ys.data(), topk_w.data(), pos.data(), N, K, C);
    ops().grouped_matmul_backward(dact.data(), dexperts.data() + 2ull * F * C, dys.data(), act.data(), w2(),
                                  stride(), offsets.data(), trainable, E, F, C);
    ops().swiglu_backward(dh1.data(), dh3.data(), dact.data(), h1.data(), h3.data(), M, F);
    ops().grouped_matmul_backward(dxs.data(), dexperts.data(), dh1.data(), xs.data(), w1(), stride(),
                                  offsets.data(), trainable, E, C, F);
    ops().grouped_matmul_backward(dxs.data(), dexperts.data() + static_cast<size_t>(F) * C, dh3.data(), xs.data(),
                                  w3(), stride(), offsets.data(), trainable, E, C, F);
    ops().moe_gather_backward(dx.data(), dxs.data(), pos.data(), N, K, C);
    ops().router_backward(dlogits.data(), dtw.data(), probs.data(), idx.data(), topk_w.data(), valid.data(),
                          nullptr, N, E, K, true);
    ops().matmul_backward(dx.data(), drouter.data(), nullptr, dlogits.data(), x.data(), router.data(), N, C, E);
  }

  // Naive reference in double: per token, softmax, top-k (ties to the lower id), renormalise,
  // run each chosen expert unless its capacity (first `capacity` tokens in token order) is used.
  std::vector<double> reference() {
    std::vector<double> ref(N * C, 0.0);
    std::vector<int> used(E, 0);
    for (int n = 0; n < N; n++) {
      std::vector<double> p(E);
      double mx = -1e300, sum = 0;
      for (int e = 0; e < E; e++) {
        double z = 0;
        for (int c = 0; c < C; c++) z += static_cast<double>(router[e * C + c]) * x[n * C + c];
        mx = std::max(mx, p[e] = z);
      }
      for (int e = 0; e < E; e++) sum += (p[e] = std::exp(p[e] - mx));
      for (auto& v : p) v /= sum;
      std::vector<int> chosen;
      for (int k = 0; k < K; k++) {
        int best = -1;
        for (int e = 0; e < E; e++)
          if ((!routable || routable[e]) && std::find(chosen.begin(), chosen.end(), e) == chosen.end() &&
              (best < 0 || p[e] > p[best]))
            best = e;
        chosen.push_back(best);
      }
      double s = 0;
      for (int e : chosen) s += p[e];
      for (int e : chosen) {
        if (capacity > 0 && used[e]++ >= capacity) continue;
        const float* b = experts.data() + e * stride();
        std::vector<double> a(F);
        for (int f = 0; f < F; f++) {
          double u = 0, g = 0;
          for (int c = 0; c < C; c++) {
            u += static_cast<double>(b[f * C + c]) * x[n * C + c];
            g += static_cast<double>(b[F * C + f * C + c]) * x[n * C + c];
          }
          a[f] = u / (1 + std::exp(-u)) * g;
        }
        for (int c = 0; c < C; c++) {
          double y = 0;
          for (int f = 0; f < F; f++) y += static_cast<double>(b[2 * F * C + c * F + f]) * a[f];
          ref[n * C + c] += p[e] / s * y;
        }
      }
    }
    return ref;
  }
};

TEST(OpsMoe, GroupedEqualsNaivePerTokenLoop) {
  Rng rng(3, Purpose::eval);
  int empty_experts = 0;
  for (int trial = 0; trial < 12; trial++) {
    int E = 2 + static_cast<int>(rng.below(9)), K = 1 + static_cast<int>(rng.below(std::min(E, 3)));
    int N = 1 + static_cast<int>(rng.below(40)), C = 4 + static_cast<int>(rng.below(13));
    int F = 3 + static_cast<int>(rng.below(17));
    MoeLayer m(N, C, E, K, F, 100 + trial);
    m.forward();
    auto ref = m.reference();
    for (int i = 0; i < N * C; i++) ASSERT_NEAR(m.out[i], ref[i], 1e-4) << "trial " << trial << " entry " << i;
    for (int e = 0; e < E; e++) empty_experts += m.offsets[e + 1] == m.offsets[e];
    EXPECT_EQ(m.offsets[E], N * K);
  }
  EXPECT_GT(empty_experts, 0) << "no trial had an expert without tokens; change the seeds";
}

TEST(OpsMoe, LargeCapacityEqualsDropless) {
  MoeLayer a(37, 12, 6, 2, 10, 7), b(37, 12, 6, 2, 10, 7);
  a.forward();
  b.capacity = 37;  // no expert can receive more than N assignments
  b.forward();
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.offsets, b.offsets);
}

TEST(OpsMoe, CapacityDropsLaterTokens) {
  MoeLayer m(40, 8, 4, 2, 6, 9);
  m.capacity = 7;
  m.forward();
  auto ref = m.reference();
  for (int i = 0; i < m.N * m.C; i++) ASSERT_NEAR(m.out[i], ref[i], 1e-4) << i;
  for (int e = 0; e < m.E; e++) EXPECT_LE(m.offsets[e + 1] - m.offsets[e], 7);
  // Kept assignments of an expert are its first tokens in token order.
  for (int e = 0; e < m.E; e++) {
    int seen = 0;
    for (int a = 0; a < m.N * m.K; a++) {
      if (m.idx[a] != e) continue;
      EXPECT_EQ(m.pos[a] >= 0, seen < 7) << "expert " << e << " assignment " << a;
      seen++;
    }
  }
}

// m's backward against finite differences of the loss sum(out * R), R random from seed: dx,
// drouter (when router is set) and dexperts, each named `what` + " d...". An entry whose
// perturbation changes a top-k choice is skipped (the loss has a kink there).
void expect_backward_matches_fd(MoeLayer& m, uint64_t seed, const std::string& what, bool router) {
  auto R = randn(m.N * m.C, seed);
  std::vector<int32_t> idx_at_x;
  auto loss = [&] {
    m.forward();
    return dot(m.out, R);
  };
  loss();
  idx_at_x = m.idx;
  m.backward(R, nullptr);
  auto kink = [&] { return m.idx != idx_at_x; };
  expect_fd_match(what + " dx", m.x, m.dx, loss, 1e-2f, 3e-3, 1e-6, 1, kink);
  if (router) expect_fd_match(what + " drouter", m.router, m.drouter, loss, 1e-2f, 3e-3, 1e-6, 1, kink);
  expect_fd_match(what + " dexperts", m.experts, m.dexperts, loss, 1e-2f, 3e-3, 1e-6, 1, kink);
}

TEST(OpsMoe, BackwardMatchesFiniteDifferences) {
  MoeLayer m(9, 6, 5, 2, 7, 21);
  expect_backward_matches_fd(m, 22, "moe", true);
}

TEST(OpsMoe, CapacityBackwardMatchesFiniteDifferences) {
  MoeLayer m(12, 6, 3, 2, 5, 31);
  m.capacity = 5;
  expect_backward_matches_fd(m, 32, "moe capacity", false);
}

TEST(OpsMoe, StrictRoutingMatchesNaive) {
  MoeLayer m(25, 8, 6, 2, 9, 41);
  const uint8_t routable[6] = {0, 1, 1, 0, 1, 0};
  m.routable = routable;
  m.forward();
  auto ref = m.reference();
  for (int i = 0; i < m.N * m.C; i++) ASSERT_NEAR(m.out[i], ref[i], 1e-4) << i;
  for (int e : {0, 3, 5}) EXPECT_EQ(m.offsets[e + 1], m.offsets[e]) << "expert " << e << " got tokens";
}

TEST(OpsMoe, FrozenExpertsGetExactlyZeroAndOthersUnchanged) {
  MoeLayer m(30, 8, 6, 2, 10, 51);
  auto R = randn(m.N * m.C, 52);
  m.forward();
  m.backward(R, nullptr);
  auto full_dx = m.dx, full_drouter = m.drouter, full_dexperts = m.dexperts;
  const uint8_t trainable[6] = {1, 0, 1, 0, 0, 1};
  m.backward(R, trainable);
  EXPECT_EQ(m.dx, full_dx) << "input gradients must flow through frozen experts unchanged";
  EXPECT_EQ(m.drouter, full_drouter);
  double frozen_mass = 0;  // the unmasked gradient the mask removed: must be non-zero to mean anything
  for (int e = 0; e < m.E; e++) {
    for (size_t j = e * m.stride(); j < (e + 1) * m.stride(); j++) {
      if (trainable[e]) {
        ASSERT_EQ(m.dexperts[j], full_dexperts[j]) << "expert " << e;
      } else {
        ASSERT_EQ(m.dexperts[j], 0.0f) << "frozen expert " << e;
        frozen_mass += std::fabs(full_dexperts[j]);
      }
    }
  }
  EXPECT_GT(frozen_mass, 0.0);
}

}  // namespace
}  // namespace hf
