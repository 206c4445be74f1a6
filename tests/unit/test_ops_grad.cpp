// Every CPU op's backward against central finite differences of its forward (tolerances and
// why: test_ops_fd.h), plus naive double-precision references for forwards whose convention
// matters (attention, RoPE pairing, router tie-breaking).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/cpu_math.h"
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

TEST(OpsGrad, MatmulWithBias) {
  const int N = 5, IC = 7, OC = 6;
  auto x = randn(N * IC, 1), w = randn(OC * IC, 2), b = randn(OC, 3), R = randn(N * OC, 4);
  std::vector<float> out(N * OC);
  auto loss = [&] {
    ops().matmul_forward(out.data(), x.data(), w.data(), b.data(), N, IC, OC, false);
    return dot(out, R);
  };
  loss();
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      double s = b[o];
      for (int i = 0; i < IC; i++) s += static_cast<double>(x[n * IC + i]) * w[o * IC + i];
      EXPECT_NEAR(out[n * OC + o], s, 1e-5);
    }
  // Backward accumulates: start from ones and subtract them afterwards.
  std::vector<float> dx(N * IC, 1.0f), dw(OC * IC, 1.0f), db(OC, 1.0f);
  ops().matmul_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), N, IC, OC);
  for (auto* g : {&dx, &dw, &db})
    for (auto& v : *g) v -= 1.0f;
  expect_fd_match("matmul dinp", x, dx, loss);
  expect_fd_match("matmul dw", w, dw, loss);
  expect_fd_match("matmul dbias", b, db, loss);
}

TEST(OpsGrad, MatmulAccumulateForward) {
  const int N = 3, IC = 4, OC = 2;
  auto x = randn(N * IC, 1), w = randn(OC * IC, 2);
  std::vector<float> a(N * OC), b(N * OC, 2.0f);
  ops().matmul_forward(a.data(), x.data(), w.data(), nullptr, N, IC, OC, false);
  ops().matmul_forward(b.data(), x.data(), w.data(), nullptr, N, IC, OC, true);
  for (int i = 0; i < N * OC; i++) EXPECT_FLOAT_EQ(b[i], a[i] + 2.0f);
}

TEST(OpsGrad, EmbeddingRepeatedTokens) {
  const int V = 6, C = 4, N = 7;
  std::vector<int32_t> tok = {1, 3, 1, 5, 0, 1, 3};
  auto table = randn(V * C, 1), R = randn(N * C, 2);
  std::vector<float> out(N * C), dtable(V * C, 0.0f);
  auto loss = [&] {
    ops().embedding_forward(out.data(), tok.data(), table.data(), N, C);
    return dot(out, R);
  };
  loss();
  ops().embedding_backward(dtable.data(), R.data(), tok.data(), N, V, C);
  expect_fd_match("embedding dtable", table, dtable, loss);
}

TEST(OpsGrad, RmsNorm) {
  const int N = 4, C = 16;
  auto x = randn(N * C, 1), w = randn(C, 2), R = randn(N * C, 3);
  std::vector<float> out(N * C), rstd(N), dx(N * C, 0.0f), dw(C, 0.0f);
  auto loss = [&] {
    ops().rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
    return dot(out, R);
  };
  loss();
  for (int c = 0; c < C; c++) {
    double ms = 0;
    for (int j = 0; j < C; j++) ms += static_cast<double>(x[j]) * x[j];
    EXPECT_NEAR(out[c], x[c] / std::sqrt(ms / C + 1e-5) * w[c], 1e-5);
  }
  ops().rmsnorm_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), rstd.data(), N, C);
  expect_fd_match("rmsnorm dinp", x, dx, loss);
  expect_fd_match("rmsnorm dw", w, dw, loss);
}

TEST(OpsGrad, RopeRotateHalfConvention) {
  const int B = 2, T = 5, H = 3, HS = 8;
  const float theta = 10000.0f;
  auto x0 = randn(B * T * H * HS, 1);
  auto x = x0;
  ops().rope_forward(x.data(), B, T, H, HS, theta);
  // HF rotate_half: out[i] = x[i] cos - x[i + HS/2] sin, out[i + HS/2] = x[i + HS/2] cos + x[i] sin.
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int h = 0; h < H; h++)
        for (int i = 0; i < HS / 2; i++) {
          size_t r = ((static_cast<size_t>(b) * T + t) * H + h) * HS;
          double ang = t * std::pow(static_cast<double>(theta), -2.0 * i / HS);
          double x1 = x0[r + i], x2 = x0[r + i + HS / 2];
          EXPECT_NEAR(x[r + i], x1 * std::cos(ang) - x2 * std::sin(ang), 1e-5);
          EXPECT_NEAR(x[r + i + HS / 2], x2 * std::cos(ang) + x1 * std::sin(ang), 1e-5);
        }
  auto R = randn(x.size(), 2);
  std::vector<float> y(x.size());
  auto loss = [&] {
    y = x0;
    ops().rope_forward(y.data(), B, T, H, HS, theta);
    return dot(y, R);
  };
  auto dx = R;
  ops().rope_backward(dx.data(), B, T, H, HS, theta);
  expect_fd_match("rope dinp", x0, dx, loss);
}

// Naive causal GQA attention in double.
std::vector<double> attention_ref(const std::vector<float>& q, const std::vector<float>& k,
                                  const std::vector<float>& v, int B, int T, int NH, int NKV, int HS) {
  std::vector<double> out(static_cast<size_t>(B) * T * NH * HS, 0.0);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++) {
      int kh = h / (NH / NKV);
      for (int i = 0; i < T; i++) {
        std::vector<double> s(i + 1);
        double mx = -1e300, sum = 0;
        for (int j = 0; j <= i; j++) {
          double d = 0;
          for (int c = 0; c < HS; c++)
            d += static_cast<double>(q[((b * T + i) * NH + h) * HS + c]) * k[((b * T + j) * NKV + kh) * HS + c];
          s[j] = d / std::sqrt(static_cast<double>(HS));
          mx = std::max(mx, s[j]);
        }
        for (int j = 0; j <= i; j++) sum += (s[j] = std::exp(s[j] - mx));
        for (int j = 0; j <= i; j++)
          for (int c = 0; c < HS; c++)
            out[((b * T + i) * NH + h) * HS + c] += s[j] / sum * v[((b * T + j) * NKV + kh) * HS + c];
      }
    }
  return out;
}

TEST(OpsGrad, AttentionGroupedQuery) {
  const int B = 2, T = 6, NH = 4, NKV = 2, HS = 4;
  auto q = randn(B * T * NH * HS, 1), k = randn(B * T * NKV * HS, 2), v = randn(B * T * NKV * HS, 3);
  auto R = randn(B * T * NH * HS, 4);
  std::vector<float> out(q.size()), att(B * NH * T * T), scratch(att.size());
  auto loss = [&] {
    ops().attention_forward(out.data(), att.data(), q.data(), k.data(), v.data(), B, T, NH, NKV, HS);
    return dot(out, R);
  };
  loss();
  auto ref = attention_ref(q, k, v, B, T, NH, NKV, HS);
  for (size_t i = 0; i < out.size(); i++) EXPECT_NEAR(out[i], ref[i], 1e-5) << i;
  std::vector<float> dq(q.size(), 0.0f), dk(k.size(), 0.0f), dv(v.size(), 0.0f);
  ops().attention_backward(dq.data(), dk.data(), dv.data(), scratch.data(), R.data(), q.data(), k.data(), v.data(),
                           att.data(), B, T, NH, NKV, HS);
  expect_fd_match("attention dq", q, dq, loss);
  expect_fd_match("attention dk", k, dk, loss);
  expect_fd_match("attention dv", v, dv, loss);
}

struct RouterCase {
  int N = 6, E = 5, K = 2;
  std::vector<float> logits, probs, topk_w, R, aux;
  std::vector<int32_t> idx, idx_at_x;
  std::vector<uint8_t> valid;
  bool renormalize = true;
  RouterCase() : logits(randn(N * E, 11, 2.0f)), probs(N * E), topk_w(N * K), R(randn(N * K, 12)),
                 aux(randn(E, 13)), idx(N * K), valid(N, 1) {
    valid[2] = 0;
  }
  // L = sum(topk_w * R) + sum over valid rows of probs . aux
  double loss(const uint8_t* routable) {
    ops().router_forward(probs.data(), idx.data(), topk_w.data(), logits.data(), routable, N, E, K, renormalize);
    double l = dot(topk_w, R);
    for (int n = 0; n < N; n++)
      for (int e = 0; e < E; e++)
        if (valid[n]) l += static_cast<double>(probs[n * E + e]) * aux[e];
    return l;
  }
};

TEST(OpsGrad, RouterTopkRenormalised) {
  RouterCase rc;
  rc.loss(nullptr);
  rc.idx_at_x = rc.idx;
  for (int n = 0; n < rc.N; n++) {
    EXPECT_NEAR(rc.topk_w[n * rc.K] + rc.topk_w[n * rc.K + 1], 1.0f, 1e-6);
    EXPECT_GE(rc.probs[n * rc.E + rc.idx[n * rc.K]], rc.probs[n * rc.E + rc.idx[n * rc.K + 1]]);
  }
  std::vector<float> dlogits(rc.N * rc.E, 0.0f);
  ops().router_backward(dlogits.data(), rc.R.data(), rc.probs.data(), rc.idx.data(), rc.topk_w.data(),
                        rc.valid.data(), rc.aux.data(), rc.N, rc.E, rc.K, rc.renormalize);
  expect_fd_match("router dlogits", rc.logits, dlogits, [&] { return rc.loss(nullptr); }, 1e-3f, 3e-3, 1e-6, 1,
                  [&] { return rc.idx != rc.idx_at_x; });
}

// norm_topk_prob false (Qwen2-MoE, OLMoE): the top-k weights are the softmax probabilities themselves.
TEST(OpsGrad, RouterTopkRaw) {
  RouterCase rc;
  rc.renormalize = false;
  rc.loss(nullptr);
  rc.idx_at_x = rc.idx;
  for (int a = 0; a < rc.N * rc.K; a++) EXPECT_EQ(rc.topk_w[a], rc.probs[(a / rc.K) * rc.E + rc.idx[a]]);
  std::vector<float> dlogits(rc.N * rc.E, 0.0f);
  ops().router_backward(dlogits.data(), rc.R.data(), rc.probs.data(), rc.idx.data(), rc.topk_w.data(),
                        rc.valid.data(), rc.aux.data(), rc.N, rc.E, rc.K, rc.renormalize);
  expect_fd_match("router dlogits (raw top-k)", rc.logits, dlogits, [&] { return rc.loss(nullptr); }, 1e-3f, 3e-3,
                  1e-6, 1, [&] { return rc.idx != rc.idx_at_x; });
}

// Qwen2-MoE's shared-expert gate: out += sigmoid(g) y.
TEST(OpsGrad, SigmoidGate) {
  const int N = 5, C = 7;
  std::vector<float> y = randn(N * C, 21), g = randn(N, 22, 2.0f), R = randn(N * C, 23), out(N * C);
  auto loss = [&] {
    std::fill(out.begin(), out.end(), 0.0f);
    ops().sigmoid_gate_forward(out.data(), y.data(), g.data(), N, C);
    return dot(out, R);
  };
  loss();
  for (int i = 0; i < N * C; i++) EXPECT_NEAR(out[i], y[i] / (1.0 + std::exp(-g[i / C])), 1e-6);
  std::vector<float> dy(N * C, 0.0f), dg(N, 0.0f);
  ops().sigmoid_gate_backward(dy.data(), dg.data(), R.data(), y.data(), g.data(), N, C);
  expect_fd_match("sigmoid gate dy", y, dy, loss);
  expect_fd_match("sigmoid gate dgate", g, dg, loss);
}

TEST(OpsGrad, RouterStrictRoutableMask) {
  RouterCase rc;
  const uint8_t routable[5] = {1, 0, 1, 1, 0};
  rc.loss(routable);
  rc.idx_at_x = rc.idx;
  for (int a = 0; a < rc.N * rc.K; a++) EXPECT_TRUE(routable[rc.idx[a]]) << "routed to a disallowed expert";
  // The softmax still spans all experts: disallowed experts keep probability mass.
  for (int n = 0; n < rc.N; n++) EXPECT_GT(rc.probs[n * rc.E + 1], 0.0f);
  std::vector<float> dlogits(rc.N * rc.E, 0.0f);
  ops().router_backward(dlogits.data(), rc.R.data(), rc.probs.data(), rc.idx.data(), rc.topk_w.data(),
                        rc.valid.data(), rc.aux.data(), rc.N, rc.E, rc.K, rc.renormalize);
  expect_fd_match("router dlogits (routable mask)", rc.logits, dlogits, [&] { return rc.loss(routable); }, 1e-3f,
                  3e-3, 1e-6, 1, [&] { return rc.idx != rc.idx_at_x; });
}

TEST(OpsGrad, RouterTiesGoToLowerExpert) {
  const int N = 1, E = 4, K = 2;
  std::vector<float> logits = {0.5f, 1.0f, 1.0f, 1.0f}, probs(E), w(K);
  std::vector<int32_t> idx(K);
  ops().router_forward(probs.data(), idx.data(), w.data(), logits.data(), nullptr, N, E, K, true);
  EXPECT_EQ(idx[0], 1);
  EXPECT_EQ(idx[1], 2);
  EXPECT_FLOAT_EQ(w[0], 0.5f);
}

TEST(OpsGrad, SwiGLU) {
  const int M = 3, F = 8;
  auto h1 = randn(M * F, 1, 2.0f), h3 = randn(M * F, 2), R = randn(M * F, 3);
  std::vector<float> out(M * F), d1(M * F, 0.0f), d3(M * F, 0.0f);
  auto loss = [&] {
    ops().swiglu_forward(out.data(), h1.data(), h3.data(), M, F);
    return dot(out, R);
  };
  loss();
  for (int i = 0; i < M * F; i++) EXPECT_NEAR(out[i], h1[i] / (1 + std::exp(-h1[i])) * h3[i], 1e-5);
  ops().swiglu_backward(d1.data(), d3.data(), R.data(), h1.data(), h3.data(), M, F);
  expect_fd_match("swiglu dh1", h1, d1, loss);
  expect_fd_match("swiglu dh3", h3, d3, loss);
}

TEST(OpsGrad, CrossEntropyIgnoreIndex) {
  const int N = 5, V = 7;
  auto logits = randn(N * V, 1, 2.0f);
  std::vector<int32_t> targets = {3, -1, 0, 6, 2};
  std::vector<float> losses(N), dlogits(N * V, 0.0f);
  std::vector<int32_t> correct(N);
  const float dloss = 0.25f;
  auto loss = [&] {
    ops().crossentropy_forward(losses.data(), correct.data(), logits.data(), targets.data(), N, V);
    double s = 0;
    for (float l : losses) s += l;
    return s * dloss;
  };
  loss();
  EXPECT_EQ(losses[1], 0.0f);
  for (int n = 0; n < N; n++) {
    if (targets[n] < 0) continue;
    int arg = 0;
    double sum = 0;
    for (int j = 0; j < V; j++) {
      if (logits[n * V + j] > logits[n * V + arg]) arg = j;
      sum += std::exp(static_cast<double>(logits[n * V + j]));
    }
    EXPECT_NEAR(losses[n], std::log(sum) - logits[n * V + targets[n]], 1e-5);
    EXPECT_EQ(correct[n], arg == targets[n]);
  }
  ops().crossentropy_backward(dlogits.data(), logits.data(), targets.data(), dloss, N, V);
  for (int j = 0; j < V; j++) EXPECT_EQ(dlogits[1 * V + j], 0.0f);
  expect_fd_match("crossentropy dlogits", logits, dlogits, loss);
}

TEST(OpsGrad, MeanPoolOverValidTokens) {
  const int B = 2, T = 4, C = 3;
  auto x = randn(B * T * C, 1), R = randn(B * C, 2);
  std::vector<uint8_t> valid = {1, 1, 1, 0, 1, 0, 0, 0};
  std::vector<float> out(B * C), dx(B * T * C, 0.0f);
  auto loss = [&] {
    ops().mean_pool_forward(out.data(), x.data(), valid.data(), B, T, C);
    return dot(out, R);
  };
  loss();
  EXPECT_NEAR(out[0], (x[0] + x[3] + x[6]) / 3, 1e-6);
  EXPECT_NEAR(out[C], x[4 * C], 1e-6);
  ops().mean_pool_backward(dx.data(), R.data(), valid.data(), B, T, C);
  expect_fd_match("mean_pool dx", x, dx, loss);
}

TEST(OpsGrad, ExpFastWithinTwoUlp) {
  // Relative error against double exp over the whole clamped range; 2 ulp of fp32 is 2.4e-7.
  double worst = 0;
  for (int i = 0; i <= 1000000; i++) {
    float x = -87.0f + 175.0f * static_cast<float>(i) / 1000000.0f;
    double e = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(exp_fast(x) - e) / e);
  }
  EXPECT_LT(worst, 2.4e-7);
  EXPECT_EQ(exp_fast(0.0f), 1.0f);
  EXPECT_GT(exp_fast(-1000.0f), 0.0f);  // clamped, not zero: a softmax row never sums to 0
  EXPECT_LT(exp_fast(-1000.0f), 2e-38f);
  EXPECT_GT(exp_fast(1000.0f), 1e38f);
  EXPECT_TRUE(std::isfinite(exp_fast(std::numeric_limits<float>::infinity())));
}

TEST(OpsGrad, SumSquaresIndependentOfThreads) {
  auto x = randn(1 << 20, 5);
  double a = ops().sum_squares(x.data(), x.size());
  double ref = 0;
  for (float v : x) ref += static_cast<double>(v) * v;
  EXPECT_NEAR(a, ref, 1e-9 * ref);
  CpuOps one(1);
  EXPECT_EQ(one.sum_squares(x.data(), x.size()), a);
  CpuOps two(2);
  EXPECT_EQ(two.sum_squares(x.data(), x.size()), a);
}

}  // namespace
}  // namespace hf
