// The fused (flash-style) attention kernels, cuda/flash_attention.cu, against the reference CUDA
// kernels (gpu_reference(): per-head cuBLAS over the full T x T) and against the CPU twin:
// outputs, the saved log-sum-exp and all three gradients, over T = 1, T not a multiple of the
// 8-row blocks or the 32-row tiles, batch > 1, grouped and multi-query heads, head sizes up to
// the fused limit (128) and past it (the reference path then runs). Each comparison prints its
// measured max |diff| / max |ref|, so a GPU session records the errors on hardware too.
//
// Tolerances (test_cuda_util.h): out and the gradients are chains of dot products over HS and
// sums over up to T keys, in another order than the reference (online softmax with rescaling,
// recomputed probabilities, per-lane partial sums): the chain class, 1e-4 * max|ref|. The
// log-sum-exp is one reduction against a double-precision evaluation: 3e-5 * max|lse|. The
// fused kernels use no atomics, so two runs agree bitwise.
#ifdef HFEDMOE_HAVE_CUDA
#include <cmath>
#include <cstdio>
#include <cstring>

#include "test_cuda_util.h"

namespace hf {
namespace {

using namespace test;
using CudaFlashAttention = CudaTest;

struct Shape {
  int B, T, NH, NKV, HS;
};

// lse (B, NH, T) = log sum_{j <= i} exp(q_i . k_j / sqrt(HS)) for each query row, in double.
std::vector<float> logsumexp(const std::vector<float>& q, const std::vector<float>& k, Shape s) {
  std::vector<float> lse(size_t(s.B) * s.NH * s.T);
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.HS));
  for (int b = 0; b < s.B; b++)
    for (int h = 0; h < s.NH; h++)
      for (int i = 0; i < s.T; i++) {
        const float* qi = q.data() + ((size_t(b) * s.T + i) * s.NH + h) * s.HS;
        std::vector<double> x(i + 1);
        for (int j = 0; j <= i; j++) {
          const float* kj = k.data() + ((size_t(b) * s.T + j) * s.NKV + h / (s.NH / s.NKV)) * s.HS;
          double dot = 0;
          for (int d = 0; d < s.HS; d++) dot += double(qi[d]) * kj[d];
          x[j] = dot * scale;
        }
        double mx = x[0], sum = 0;
        for (double v : x) mx = std::max(mx, v);
        for (double v : x) sum += std::exp(v - mx);
        lse[(size_t(b) * s.NH + h) * s.T + i] = static_cast<float>(mx + std::log(sum));
      }
  return lse;
}

// Prints max |got - want| / max |want| (the measured error) and checks it against rtol.
void compare(const char* what, const char* against, const std::vector<float>& got, const std::vector<float>& want,
             double rtol) {
  double err = 0;
  for (size_t i = 0; i < got.size(); i++) err = std::max(err, std::fabs(double(got[i]) - want[i]));
  std::printf("    fused %-4s vs %-9s max|diff|/max|ref| = %.2e (tolerance %.0e)\n", what, against,
              err / std::max(max_abs(want), 1e-30), rtol);
  expect_close(std::string("fused ") + what + " vs " + against, got, want, rtol);
}

// Everything the fused path gives for one shape: out, lse and dq, dk, dv accumulated onto dq0, dk0, dv0.
struct Result {
  std::vector<float> out, lse, dq, dk, dv;
};

TEST_F(CudaFlashAttention, MatchesReferenceKernelsAndCpuOverShapes) {
  uint64_t seed = 1700;
  const Shape shapes[] = {{1, 1, 1, 1, 4},   {2, 7, 4, 2, 8},   {3, 33, 6, 3, 16}, {2, 70, 4, 1, 32},
                          {1, 40, 2, 2, 6},  {1, 45, 3, 1, 100}, {1, 65, 2, 1, 128}, {2, 9, 2, 2, 33}};
  for (Shape s : shapes) {
    SCOPED_TRACE(testing::Message() << "B " << s.B << " T " << s.T << " NH " << s.NH << " NKV " << s.NKV << " HS "
                                    << s.HS);
    std::printf("  B %d T %d NH %d NKV %d HS %d\n", s.B, s.T, s.NH, s.NKV, s.HS);
    ASSERT_TRUE(gpu().fused_attention(s.HS));
    const size_t nq = size_t(s.B) * s.T * s.NH * s.HS, nk = size_t(s.B) * s.T * s.NKV * s.HS;
    const size_t na = size_t(s.B) * s.NH * s.T * s.T, nl = size_t(s.B) * s.NH * s.T;
    auto q = randn(nq, seed++), k = randn(nk, seed++), v = randn(nk, seed++), dout = randn(nq, seed++);
    auto dq0 = randn(nq, seed++), dk0 = randn(nk, seed++), dv0 = randn(nk, seed++);
    const float *g_q = up(q), *g_k = up(k), *g_v = up(v), *g_dout = up(dout);

    Result cpu_r{std::vector<float>(nq), {}, dq0, dk0, dv0};
    std::vector<float> att(na), scratch(na);
    cpu().attention_forward(cpu_r.out.data(), att.data(), q.data(), k.data(), v.data(), s.B, s.T, s.NH, s.NKV, s.HS);
    cpu().attention_backward(cpu_r.dq.data(), cpu_r.dk.data(), cpu_r.dv.data(), scratch.data(), dout.data(),
                             q.data(), k.data(), v.data(), att.data(), s.B, s.T, s.NH, s.NKV, s.HS);

    // One backend's forward and backward on device buffers; att and scratch start as garbage.
    auto run = [&](CudaOps& ops) {
      float *g_out = up(randn(nq, 1)), *g_att = up(randn(na, 2)), *g_scratch = up(randn(na, 3));
      float *g_dq = up(dq0), *g_dk = up(dk0), *g_dv = up(dv0);
      ops.attention_forward(g_out, g_att, g_q, g_k, g_v, s.B, s.T, s.NH, s.NKV, s.HS);
      ops.attention_backward(g_dq, g_dk, g_dv, g_scratch, g_dout, g_q, g_k, g_v, g_att, s.B, s.T, s.NH, s.NKV, s.HS);
      ops.synchronize();
      return Result{down(g_out, nq), down(g_att, nl), down(g_dq, nq), down(g_dk, nk), down(g_dv, nk)};
    };
    const Result fused = run(gpu()), ref = run(gpu_reference());

    compare("lse", "double", fused.lse, logsumexp(q, k, s), kReduction);
    compare("out", "cpu", fused.out, cpu_r.out, kChain);
    compare("out", "reference", fused.out, ref.out, kChain);
    compare("dq", "cpu", fused.dq, cpu_r.dq, kChain);
    compare("dq", "reference", fused.dq, ref.dq, kChain);
    compare("dk", "cpu", fused.dk, cpu_r.dk, kChain);
    compare("dk", "reference", fused.dk, ref.dk, kChain);
    compare("dv", "cpu", fused.dv, cpu_r.dv, kChain);
    compare("dv", "reference", fused.dv, ref.dv, kChain);
  }
}

TEST_F(CudaFlashAttention, TwoRunsGiveTheSameBits) {
  const Shape s{2, 41, 4, 2, 16};
  const size_t nq = size_t(s.B) * s.T * s.NH * s.HS, nk = size_t(s.B) * s.T * s.NKV * s.HS;
  const size_t na = size_t(s.B) * s.NH * s.T * s.T;
  const float *g_q = up(randn(nq, 1800)), *g_k = up(randn(nk, 1801)), *g_v = up(randn(nk, 1802));
  const float* g_dout = up(randn(nq, 1803));
  auto run = [&]() {
    float *g_out = up(std::vector<float>(nq)), *g_att = up(std::vector<float>(na));
    float *g_dq = up(std::vector<float>(nq)), *g_dk = up(std::vector<float>(nk)), *g_dv = up(std::vector<float>(nk));
    gpu().attention_forward(g_out, g_att, g_q, g_k, g_v, s.B, s.T, s.NH, s.NKV, s.HS);
    gpu().attention_backward(g_dq, g_dk, g_dv, up(std::vector<float>(na)), g_dout, g_q, g_k, g_v, g_att, s.B, s.T,
                             s.NH, s.NKV, s.HS);
    return Result{down(g_out, nq), down(g_att, size_t(s.B) * s.NH * s.T), down(g_dq, nq), down(g_dk, nk),
                  down(g_dv, nk)};
  };
  const Result a = run(), b = run();
  expect_equal("out", b.out, a.out);
  expect_equal("lse", b.lse, a.lse);
  expect_equal("dq", b.dq, a.dq);
  expect_equal("dk", b.dk, a.dk);
  expect_equal("dv", b.dv, a.dv);
}

// Past the fused kernels' head size the fused backend runs the reference path, whose att holds
// the probabilities.
TEST_F(CudaFlashAttention, HeadsPastTheLimitTakeTheReferencePath) {
  const Shape s{1, 5, 2, 1, 136};
  ASSERT_FALSE(gpu().fused_attention(s.HS));
  const size_t nq = size_t(s.B) * s.T * s.NH * s.HS, nk = size_t(s.B) * s.T * s.NKV * s.HS;
  const size_t na = size_t(s.B) * s.NH * s.T * s.T;
  auto q = randn(nq, 1900), k = randn(nk, 1901), v = randn(nk, 1902);
  std::vector<float> out(nq), att(na);
  cpu().attention_forward(out.data(), att.data(), q.data(), k.data(), v.data(), s.B, s.T, s.NH, s.NKV, s.HS);
  float *g_out = up(std::vector<float>(nq)), *g_att = up(std::vector<float>(na));
  gpu().attention_forward(g_out, g_att, up(q), up(k), up(v), s.B, s.T, s.NH, s.NKV, s.HS);
  expect_close("probabilities", down(g_att, na), att, kReduction);
  expect_close("out", down(g_out, nq), out, kChain);
}

}  // namespace
}  // namespace hf

#endif  // HFEDMOE_HAVE_CUDA
