// The CUDA frozen-base and LoRA ops against their CPU twins (tolerance classes:
// test_cuda_util.h). Dequantisation is exact: each element is one code times one scale (the
// double-quantised scale an explicit fma on both sides). The GEMMs are in the GEMM class,
// bounded with |A| |B| over the dequantised weight; the frozen backward adds its tiles in the
// same row order on both backends, so the bound of one product of inner length OC holds.
#ifdef HFEDMOE_HAVE_CUDA
#include "ops/quantize.h"
#include "test_cuda_util.h"

namespace hf {
namespace {

using namespace test;
struct Storage {
  BaseDtype dtype;
  int block;  // int8: 0 = one scale per row
  bool double_quant;
};
const Storage kStorages[] = {{BaseDtype::fp32, 0, false}, {BaseDtype::bf16, 0, false}, {BaseDtype::int8, 0, false},
                             {BaseDtype::int8, 16, true}, {BaseDtype::nf4, kNf4Block, false},
                             {BaseDtype::nf4, kNf4Block, true}};

QuantizedWeight quantize(const std::vector<float>& w, int OC, int IC, Storage s) {
  return quantize_weight(w.data(), OC, IC, s.dtype, s.dtype == BaseDtype::int8 && s.block == 0 ? IC : s.block,
                         s.double_quant);
}

class CudaLora : public CudaTest {
 protected:
  // q's bytes in device memory (freed after the test), described by the returned view.
  FrozenWeight on_device(const QuantizedWeight& q) {
    FrozenWeight f = q.view();
    f.data = up(q.data);
    if (!q.scales.empty()) f.scales = up(q.scales);
    if (!q.scale_codes.empty()) {
      f.scale_codes = up(q.scale_codes);
      f.scale_scales = up(q.scale_scales);
    }
    return f;
  }
};

TEST_F(CudaLora, DequantisationEqualsTheCpuBitForBit) {
  const int OC = 150, IC = 90;  // 13500 elements: odd blocks, a partial nf4 block, two scale groups for int8/16
  auto w = randn(OC * IC, 1, 0.3f);
  for (Storage s : kStorages) {
    SCOPED_TRACE(testing::Message() << base_dtype_name(s.dtype) << " block " << s.block << " dq " << s.double_quant);
    QuantizedWeight q = quantize(w, OC, IC, s);
    FrozenWeight dw = on_device(q);
    std::vector<float> want(37 * IC);
    cpu().frozen_dequantize(want.data(), q.view(), 101, 37);
    float* d_out = up(std::vector<float>(want.size()));
    gpu().frozen_dequantize(d_out, dw, 101, 37);
    expect_equal("rows 101..137", down(d_out, want.size()), want);
  }
}

TEST_F(CudaLora, FrozenMatmulWithinGemmBound) {
  const int N = 33, IC = 70, OC = 130;  // three tiles, the last of 2 rows
  auto w = randn(OC * IC, 2), x = randn(N * IC, 3), dout = randn(N * OC, 4), out0 = randn(N * OC, 5);
  auto dx0 = randn(N * IC, 6);
  std::vector<float> scratch(static_cast<size_t>(kFrozenTileRows) * IC);
  for (Storage s : kStorages) {
    for (bool acc : {false, true}) {
      SCOPED_TRACE(testing::Message() << base_dtype_name(s.dtype) << " dq " << s.double_quant << " acc " << acc);
      QuantizedWeight q = quantize(w, OC, IC, s);
      FrozenWeight dw = on_device(q);
      std::vector<float> deq(w.size());
      cpu().frozen_dequantize(deq.data(), q.view(), 0, OC);
      std::vector<float> ref = out0;
      cpu().frozen_matmul_forward(ref.data(), x.data(), q.view(), scratch.data(), N, acc);
      float* d_out = up(out0);
      float* d_scratch = up(scratch);
      gpu().frozen_matmul_forward(d_out, up(x), dw, d_scratch, N, acc);
      std::vector<float> bound = acc ? abs_of(out0) : std::vector<float>(ref.size(), 0.0f);
      cpu().matmul_forward(bound.data(), abs_of(x).data(), abs_of(deq).data(), nullptr, N, IC, OC, true);
      expect_within("out", down(d_out, ref.size()), ref, gemm_bound(bound, IC));

      std::vector<float> dx = dx0;
      cpu().frozen_matmul_backward(dx.data(), dout.data(), q.view(), scratch.data(), N);
      float* d_dx = up(dx0);
      gpu().frozen_matmul_backward(d_dx, up(dout), dw, d_scratch, N);
      std::vector<float> b_dx = abs_of(dx0);
      cpu().matmul_backward(b_dx.data(), nullptr, nullptr, abs_of(dout).data(), nullptr, abs_of(deq).data(), N, IC, OC);
      expect_within("dinp", down(d_dx, dx.size()), dx, gemm_bound(b_dx, OC));
    }
  }
}

// The LoRA branch is two chained GEMMs (ax, then scale · ax · B^T), so the forward's bound is
// the GEMM bound of each product carried through the next: |ax| is bounded by |x||A| and the
// error of ax enters the output through |B|. The chain class (1e-4 of the largest entry) covers
// both at these sizes with 10x to spare; a wrong scale or transpose is O(1).
TEST_F(CudaLora, LoraForwardAndBackwardMatchTheCpu) {
  const int N = 300, IC = 48, OC = 40, r = 8;  // N past one CPU row chunk (256)
  const float scale = 16.0f / r;
  auto x = randn(N * IC, 7), a = randn(r * IC, 8, 0.2f), b = randn(OC * r, 9, 0.2f), dout = randn(N * OC, 10);
  auto out0 = randn(N * OC, 11), dx0 = randn(N * IC, 12), da0 = randn(r * IC, 13), db0 = randn(OC * r, 14);
  std::vector<float> out = out0, ax(N * r), dax(N * r), dx = dx0, da = da0, db = db0;
  cpu().lora_forward(out.data(), ax.data(), x.data(), a.data(), b.data(), N, IC, OC, r, scale);
  cpu().lora_backward(dx.data(), da.data(), db.data(), dax.data(), dout.data(), x.data(), ax.data(), a.data(), b.data(),
                      N, IC, OC, r, scale);
  float *d_out = up(out0), *d_ax = up(ax), *d_dax = up(dax), *d_dx = up(dx0), *d_da = up(da0), *d_db = up(db0);
  float *d_x = up(x), *d_a = up(a), *d_b = up(b);
  gpu().lora_forward(d_out, d_ax, d_x, d_a, d_b, N, IC, OC, r, scale);
  gpu().lora_backward(d_dx, d_da, d_db, d_dax, up(dout), d_x, d_ax, d_a, d_b, N, IC, OC, r, scale);
  expect_close("ax", down(d_ax, ax.size()), ax, kChain);
  expect_close("out", down(d_out, out.size()), out, kChain);
  expect_close("dax", down(d_dax, dax.size()), dax, kChain);
  expect_close("dinp", down(d_dx, dx.size()), dx, kChain);
  expect_close("da", down(d_da, da.size()), da, kChain);
  expect_close("db", down(d_db, db.size()), db, kChain);
  // a frozen adapter: no adapter gradients, the same input gradient
  float* d_dx2 = up(dx0);
  gpu().lora_backward(d_dx2, nullptr, nullptr, d_dax, up(dout), d_x, d_ax, d_a, d_b, N, IC, OC, r, scale);
  expect_equal("dinp of a frozen adapter", down(d_dx2, dx.size()), down(d_dx, dx.size()));
}

}  // namespace
}  // namespace hf

#endif  // HFEDMOE_HAVE_CUDA
