// The CUDA backend against its CPU twin, op by op: memory, dense layers, embeddings, RMSNorm,
// RoPE, attention, losses, pooling, optimizer; plus backend selection. MoE ops:
// test_cuda_moe.cpp; the whole model: test_cuda_model.cpp. Tolerance classes and their
// justification: test_cuda_util.h. Shapes include 1s, odd sizes and sizes past one block
// (256) or one warp (32) so that tails and multi-tile loops are exercised.
#ifdef HFEDMOE_HAVE_CUDA
#include <cstring>

#include "cli/backend.h"
#include "test_cuda_util.h"
#include "util/check.h"
#include "util/rng.h"

namespace hf {
namespace {

using namespace test;
using CudaMemory = CudaTest;
using CudaDense = CudaTest;
using CudaAttention = CudaTest;
using CudaLoss = CudaTest;
using CudaOptim = CudaTest;

std::vector<int32_t> randint(size_t n, int hi, uint64_t seed) {
  Rng rng(seed, Purpose::eval, 78);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = static_cast<int32_t>(rng.below(hi));
  return v;
}

// ---- backend selection ------------------------------------------------------------------------

TEST(CudaBackend, UnknownNameOrMissingDeviceNamesTheFix) {
  EXPECT_STREQ(make_backend("cpu")->name(), "cpu");
  try {
    make_backend("gpu");
    ADD_FAILURE() << "an unknown backend was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use cpu or cuda"), std::string::npos) << e.what();
  }
  cuda::DeviceScan scan = cuda::scan_devices();
  int bad_device = scan.devices.empty() ? 0 : static_cast<int>(scan.devices.size());
  try {
    make_backend("cuda", bad_device);
    ADD_FAILURE() << "backend cuda on device " << bad_device << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code, kExitUsage);
    EXPECT_NE(std::string(e.what()).find(scan.devices.empty() ? "set run.backend=cpu" : "does not exist"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(CudaMemory, FactoryMakesTheCudaBackend) { EXPECT_STREQ(make_backend("cuda", 0)->name(), "cuda"); }

// ---- memory -------------------------------------------------------------------------------------

TEST_F(CudaMemory, AllocIsZeroedAndCopiesRoundTrip) {
  const size_t n = 1000;
  float* a = gpu().alloc_f32(n);
  float* b = gpu().alloc_f32(n);
  expect_equal("fresh alloc", down(a, n), std::vector<float>(n, 0.0f));
  std::vector<float> h = randn(n, 1);
  gpu().upload(a, h.data(), n * sizeof(float));
  expect_equal("upload/download", down(a, n), h);
  gpu().copy(b, a, n * sizeof(float));
  gpu().zero(a + 10, 20 * sizeof(float));
  expect_equal("copy", down(b, n), h);
  std::vector<float> z = h;
  std::fill(z.begin() + 10, z.begin() + 30, 0.0f);
  expect_equal("zero of a range", down(a, n), z);
  gpu().free(a);
  gpu().free(b);
}

// ---- dense layers ---------------------------------------------------------------------------------

struct MatShape {
  int N, IC, OC;
};
const MatShape kMatShapes[] = {{1, 1, 1}, {7, 13, 5}, {33, 64, 17}, {128, 96, 130}, {5, 300, 3}};

TEST_F(CudaDense, MatmulForwardWithinGemmBound) {
  uint64_t seed = 10;
  for (MatShape s : kMatShapes) {
    for (int variant = 0; variant < 4; variant++) {
      const bool bias = variant & 1, acc = variant & 2;
      SCOPED_TRACE(testing::Message() << s.N << "x" << s.IC << "->" << s.OC << " bias " << bias << " acc " << acc);
      auto inp = randn(s.N * s.IC, seed++), w = randn(s.OC * s.IC, seed++), b = randn(s.OC, seed++);
      auto out0 = randn(s.N * s.OC, seed++);
      std::vector<float> ref = out0;
      cpu().matmul_forward(ref.data(), inp.data(), w.data(), bias ? b.data() : nullptr, s.N, s.IC, s.OC, acc);
      float* d_out = up(out0);
      gpu().matmul_forward(d_out, up(inp), up(w), bias ? up(b) : nullptr, s.N, s.IC, s.OC, acc);
      std::vector<float> bound = acc ? abs_of(out0) : std::vector<float>(s.N * s.OC, 0.0f);
      cpu().matmul_forward(bound.data(), abs_of(inp).data(), abs_of(w).data(), bias ? abs_of(b).data() : nullptr, s.N,
                           s.IC, s.OC, true);
      expect_within("out", down(d_out, ref.size()), ref, gemm_bound(bound, s.IC));
    }
  }
}

TEST_F(CudaDense, MatmulBackwardAccumulatesWithinGemmBound) {
  uint64_t seed = 100;
  for (MatShape s : kMatShapes) {
    for (int which = 0; which < 3; which++) {  // 0: all gradients, 1: dinp only, 2: dw + dbias only
      SCOPED_TRACE(testing::Message() << s.N << "x" << s.IC << "->" << s.OC << " variant " << which);
      auto dout = randn(s.N * s.OC, seed++), inp = randn(s.N * s.IC, seed++), w = randn(s.OC * s.IC, seed++);
      auto dinp0 = randn(s.N * s.IC, seed++), dw0 = randn(s.OC * s.IC, seed++), db0 = randn(s.OC, seed++);
      const bool want_dinp = which != 2, want_dw = which != 1;
      std::vector<float> dinp = dinp0, dw = dw0, db = db0;
      cpu().matmul_backward(want_dinp ? dinp.data() : nullptr, want_dw ? dw.data() : nullptr,
                            want_dw ? db.data() : nullptr, dout.data(), inp.data(), w.data(), s.N, s.IC, s.OC);
      float *g_dinp = up(dinp0), *g_dw = up(dw0), *g_db = up(db0);
      gpu().matmul_backward(want_dinp ? g_dinp : nullptr, want_dw ? g_dw : nullptr, want_dw ? g_db : nullptr, up(dout),
                            up(inp), up(w), s.N, s.IC, s.OC);
      std::vector<float> b_dinp = abs_of(dinp0), b_dw = abs_of(dw0);
      cpu().matmul_backward(b_dinp.data(), b_dw.data(), nullptr, abs_of(dout).data(), abs_of(inp).data(),
                            abs_of(w).data(), s.N, s.IC, s.OC);
      expect_within("dinp", down(g_dinp, dinp.size()), dinp, gemm_bound(b_dinp, s.OC));
      expect_within("dw", down(g_dw, dw.size()), dw, gemm_bound(b_dw, s.N));
      expect_equal("dbias (column sums in row order, as the CPU)", down(g_db, db.size()), db);
    }
  }
}

// The tf32 option: each operand is rounded to TF32 (10 mantissa bits: relative error <= 2^-10
// whether cuBLAS truncates or rounds), so each product is within ~2^-9 of the exact one, on top
// of the fp32 accumulation bound.
TEST_F(CudaDense, Tf32OptionStaysWithinTf32Rounding) {
  CudaOps tf32(0, true);
  const int N = 256, IC = 256, OC = 256;
  auto inp = randn(N * IC, 20), w = randn(OC * IC, 21);
  std::vector<float> ref(N * OC), bound(N * OC);
  cpu().matmul_forward(ref.data(), inp.data(), w.data(), nullptr, N, IC, OC, false);
  cpu().matmul_forward(bound.data(), abs_of(inp).data(), abs_of(w).data(), nullptr, N, IC, OC, false);
  std::vector<float> tol = gemm_bound(bound, IC);
  for (size_t i = 0; i < tol.size(); i++) tol[i] += static_cast<float>(std::ldexp(1.0, -9) * 1.0001 * bound[i]);
  float* d_out = up(std::vector<float>(ref.size()));
  tf32.matmul_forward(d_out, up(inp), up(w), nullptr, N, IC, OC, false);
  tf32.synchronize();
  expect_within("tf32 out", down(d_out, ref.size()), ref, tol);
}

TEST_F(CudaDense, EmbeddingIsExactIncludingRepeatedTokens) {
  const int V = 260;
  for (int C : {1, 37, 300}) {
    for (int N : {1, 40, 300}) {
      SCOPED_TRACE(testing::Message() << "N " << N << " C " << C);
      auto table = randn(size_t(V) * C, 200 + C), dout = randn(size_t(N) * C, 300 + N);
      auto tokens = randint(N, V, 7 + N);
      for (int n = 0; n < N; n += 3) tokens[n] = tokens[n] % 5;  // many repeats of a few rows
      std::vector<float> out(size_t(N) * C), dtable = randn(size_t(V) * C, 400);
      std::vector<float> dtable0 = dtable;
      cpu().embedding_forward(out.data(), tokens.data(), table.data(), N, C);
      cpu().embedding_backward(dtable.data(), dout.data(), tokens.data(), N, V, C);
      float* g_out = up(std::vector<float>(out.size()));
      float* g_dtable = up(dtable0);
      const int32_t* g_tokens = up(tokens);
      gpu().embedding_forward(g_out, g_tokens, up(table), N, C);
      gpu().embedding_backward(g_dtable, up(dout), g_tokens, N, V, C);
      expect_equal("embedding out", down(g_out, out.size()), out);
      expect_equal("embedding dtable (token order, as the CPU)", down(g_dtable, dtable.size()), dtable);
    }
  }
}

TEST_F(CudaDense, RmsnormForwardBackward) {
  uint64_t seed = 500;
  for (int C : {1, 31, 64, 300}) {
    for (int N : {1, 9, 100}) {
      SCOPED_TRACE(testing::Message() << "N " << N << " C " << C);
      auto x = randn(size_t(N) * C, seed++), w = randn(C, seed++), dout = randn(size_t(N) * C, seed++);
      auto dinp0 = randn(size_t(N) * C, seed++), dw0 = randn(C, seed++);
      std::vector<float> out(size_t(N) * C), rstd(N), dinp = dinp0, dw = dw0;
      cpu().rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
      cpu().rmsnorm_backward(dinp.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), N, C);
      float *g_out = up(out), *g_rstd = up(rstd), *g_dinp = up(dinp0), *g_dw = up(dw0);
      const float *g_x = up(x), *g_w = up(w);
      gpu().rmsnorm_forward(g_out, g_rstd, g_x, g_w, N, C, 1e-5f);
      // Backward from the CPU's rstd so it is tested on its own.
      gpu().rmsnorm_backward(g_dinp, g_dw, up(dout), g_x, g_w, up(rstd), N, C);
      expect_close("rmsnorm out", down(g_out, out.size()), out, kReduction);
      expect_close("rmsnorm rstd", down(g_rstd, N), rstd, kReduction);
      expect_close("rmsnorm dinp", down(g_dinp, dinp.size()), dinp, kReduction);
      expect_close("rmsnorm dw", down(g_dw, C), dw, kReduction);
    }
  }
}

// ---- attention ------------------------------------------------------------------------------------

TEST_F(CudaAttention, RopeForwardBackwardAndRoundTrip) {
  uint64_t seed = 600;
  const int B = 2, H = 3;
  for (float theta : {10000.0f, 1e6f}) {
    for (int T : {1, 17, 300}) {
      for (int HS : {2, 8, 34, 64}) {
        SCOPED_TRACE(testing::Message() << "T " << T << " HS " << HS << " theta " << theta);
        auto x = randn(size_t(B) * T * H * HS, seed++);
        std::vector<float> fwd = x, bwd = x;
        cpu().rope_forward(fwd.data(), B, T, H, HS, theta);
        cpu().rope_backward(bwd.data(), B, T, H, HS, theta);
        float *g_fwd = up(x), *g_bwd = up(x);
        gpu().rope_forward(g_fwd, B, T, H, HS, theta);
        gpu().rope_backward(g_bwd, B, T, H, HS, theta);
        expect_close("rope forward", down(g_fwd, x.size()), fwd, kElementwise);
        expect_close("rope backward", down(g_bwd, x.size()), bwd, kElementwise);
        gpu().rope_backward(g_fwd, B, T, H, HS, theta);
        expect_close("rope backward after forward is the identity", down(g_fwd, x.size()), x, 4 * kElementwise);
      }
    }
  }
}

struct AttnShape {
  int B, T, NH, NKV, HS;
};

// The reference kernels (per-head cuBLAS, full T x T); the fused ones: test_cuda_flash_attention.cpp.
TEST_F(CudaAttention, ReferenceForwardBackwardMatchCpuIncludingGqa) {
  uint64_t seed = 700;
  const AttnShape shapes[] = {{1, 1, 1, 1, 4}, {2, 7, 4, 2, 8}, {3, 33, 6, 3, 16}, {2, 70, 4, 1, 32}, {1, 40, 2, 2, 6}};
  for (AttnShape s : shapes) {
    SCOPED_TRACE(testing::Message() << "B " << s.B << " T " << s.T << " NH " << s.NH << " NKV " << s.NKV << " HS "
                                    << s.HS);
    const size_t nq = size_t(s.B) * s.T * s.NH * s.HS, nk = size_t(s.B) * s.T * s.NKV * s.HS;
    const size_t na = size_t(s.B) * s.NH * s.T * s.T;
    auto q = randn(nq, seed++), k = randn(nk, seed++), v = randn(nk, seed++), dout = randn(nq, seed++);
    auto dq0 = randn(nq, seed++), dk0 = randn(nk, seed++), dv0 = randn(nk, seed++);
    std::vector<float> out(nq), att(na), scratch(na), dq = dq0, dk = dk0, dv = dv0;
    cpu().attention_forward(out.data(), att.data(), q.data(), k.data(), v.data(), s.B, s.T, s.NH, s.NKV, s.HS);
    cpu().attention_backward(dq.data(), dk.data(), dv.data(), scratch.data(), dout.data(), q.data(), k.data(),
                             v.data(), att.data(), s.B, s.T, s.NH, s.NKV, s.HS);
    const float *g_q = up(q), *g_k = up(k), *g_v = up(v);
    float *g_out = up(std::vector<float>(nq)), *g_att = up(std::vector<float>(na));
    gpu_reference().attention_forward(g_out, g_att, g_q, g_k, g_v, s.B, s.T, s.NH, s.NKV, s.HS);
    gpu_reference().synchronize();
    expect_close("attention probabilities (zero above the diagonal)", down(g_att, na), att, kReduction);
    expect_close("attention out", down(g_out, nq), out, kChain);
    // Backward from the CPU's probabilities so it is tested on its own.
    float *g_dq = up(dq0), *g_dk = up(dk0), *g_dv = up(dv0);
    gpu_reference().attention_backward(g_dq, g_dk, g_dv, up(std::vector<float>(na)), up(dout), g_q, g_k, g_v,
                                       up(att), s.B, s.T, s.NH, s.NKV, s.HS);
    gpu_reference().synchronize();
    expect_close("attention dq", down(g_dq, nq), dq, kChain);
    expect_close("attention dk", down(g_dk, nk), dk, kChain);
    expect_close("attention dv", down(g_dv, nk), dv, kChain);
  }
}

// ---- losses and pooling ---------------------------------------------------------------------------

TEST_F(CudaLoss, CrossEntropyForwardBackwardWithIgnoredRowsAndTies) {
  uint64_t seed = 800;
  for (int V : {2, 260, 1000}) {
    SCOPED_TRACE(testing::Message() << "V " << V);
    const int N = 9;
    auto logits = randn(size_t(N) * V, seed++, 2.0f);
    auto targets = randint(N, V, seed++);
    targets[2] = -1;
    targets[5] = -1;
    // Rows 0 and 1: the maximum is tied between columns 0 and V-1; the lower index is the argmax.
    for (int r = 0; r < 2; r++) logits[size_t(r) * V] = logits[size_t(r) * V + V - 1] = 10.0f;
    targets[0] = 0;      // correct
    targets[1] = V - 1;  // not correct: the tie goes to column 0
    std::vector<float> losses(N), dlogits = randn(size_t(N) * V, seed++);
    std::vector<float> dlogits0 = dlogits;
    std::vector<int32_t> correct(N);
    cpu().crossentropy_forward(losses.data(), correct.data(), logits.data(), targets.data(), N, V);
    cpu().crossentropy_backward(dlogits.data(), logits.data(), targets.data(), 0.37f, N, V);
    const float* g_logits = up(logits);
    const int32_t* g_targets = up(targets);
    float* g_losses = up(std::vector<float>(N, 5.0f));  // ignored rows must be overwritten with 0
    int32_t* g_correct = up(std::vector<int32_t>(N, 7));
    float* g_dlogits = up(dlogits0);
    gpu().crossentropy_forward(g_losses, g_correct, g_logits, g_targets, N, V);
    gpu().crossentropy_backward(g_dlogits, g_logits, g_targets, 0.37f, N, V);
    ASSERT_EQ(correct[0], 1);
    ASSERT_EQ(correct[1], 0);
    expect_equal("correct", down(g_correct, N), correct);
    expect_close("losses", down(g_losses, N), losses, kElementwise);
    expect_close("dlogits", down(g_dlogits, dlogits.size()), dlogits, kElementwise);
  }
}

TEST_F(CudaLoss, MeanPoolIsExact) {
  const int B = 4, T = 5;
  for (int C : {1, 300}) {
    auto x = randn(size_t(B) * T * C, 900 + C), dout = randn(size_t(B) * C, 901 + C);
    std::vector<uint8_t> valid = {1, 1, 0, 1, 0, /**/ 0, 0, 0, 0, 0, /**/ 1, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 1};
    std::vector<float> out(size_t(B) * C), dx = randn(x.size(), 902);
    std::vector<float> dx0 = dx;
    cpu().mean_pool_forward(out.data(), x.data(), valid.data(), B, T, C);
    cpu().mean_pool_backward(dx.data(), dout.data(), valid.data(), B, T, C);
    const uint8_t* g_valid = up(valid);
    float *g_out = up(std::vector<float>(out.size(), 3.0f)), *g_dx = up(dx0);
    gpu().mean_pool_forward(g_out, up(x), g_valid, B, T, C);
    gpu().mean_pool_backward(g_dx, up(dout), g_valid, B, T, C);
    expect_equal("mean_pool out (a row without valid positions gives zeros)", down(g_out, out.size()), out);
    expect_equal("mean_pool dx", down(g_dx, dx.size()), dx);
  }
}

// ---- optimizer -------------------------------------------------------------------------------------

TEST_F(CudaOptim, SumSquaresIsDeterministicAndMatchesCpu) {
  for (size_t n : {size_t(0), size_t(1), size_t(5), size_t(4097), (size_t(1) << 20) + 3}) {
    SCOPED_TRACE(testing::Message() << "n " << n);
    auto x = randn(n, 1000 + n);
    const float* g_x = up(x);
    double want = cpu().sum_squares(x.data(), n);
    double got = gpu().sum_squares(g_x, n);
    // Both sum exact double products; orders differ, so they agree to ~log2(n) double roundings.
    EXPECT_NEAR(got, want, 1e-12 * want);
    double again = gpu().sum_squares(g_x, n);
    EXPECT_EQ(std::memcmp(&got, &again, sizeof(double)), 0) << "sum_squares is not bitwise reproducible";
  }
}

TEST_F(CudaOptim, ScaleIsExact) {
  auto x = randn(70001, 1100);
  std::vector<float> ref = x;
  cpu().scale(ref.data(), ref.size(), 0.3f);
  float* g = up(x);
  gpu().scale(g, x.size(), 0.3f);
  expect_equal("scale", down(g, x.size()), ref);
}

TEST_F(CudaOptim, AdamwStepsMatchCpu) {
  const size_t n = 5003;
  auto param = randn(n, 1200), m = randn(n, 1201, 0.01f), v = abs_of(randn(n, 1202, 1e-4f));
  float *g_param = up(param), *g_m = up(m), *g_v = up(v);
  const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  for (int t = 1; t <= 3; t++) {
    auto grad = randn(n, 1300 + t, 0.1f);
    grad[t] = 0.0f;  // a zero gradient entry
    const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
    cpu().adamw_update(param.data(), grad.data(), m.data(), v.data(), n, lr, b1, b2, eps, wd, bc1, bc2);
    gpu().adamw_update(g_param, up(grad), g_m, g_v, n, lr, b1, b2, eps, wd, bc1, bc2);
  }
  expect_close("adamw param", down(g_param, n), param, kElementwise);
  expect_close("adamw m", down(g_m, n), m, kElementwise);
  expect_close("adamw v", down(g_v, n), v, kElementwise);
}

TEST_F(CudaOptim, ProximalGradMatchesCpu) {
  const size_t n = 70001;
  auto grad = randn(n, 1300), param = randn(n, 1301), anchor = randn(n, 1302);
  float* g_grad = up(grad);
  cpu().proximal_grad(grad.data(), param.data(), anchor.data(), n, 0.01f);
  gpu().proximal_grad(g_grad, up(param), up(anchor), n, 0.01f);
  expect_close("proximal_grad", down(g_grad, n), grad, kElementwise);
}

}  // namespace
}  // namespace hf

#endif  // HFEDMOE_HAVE_CUDA
