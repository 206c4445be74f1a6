// The CPU frozen-base and LoRA ops: against the float64 PyTorch reference
// (tests/ref/make_lora_reference.py), against finite differences (tolerances: test_ops_fd.h),
// and the properties the model relies on (an fp32 base is matmul_forward bit for bit, a zero B
// leaves the base's output unchanged, frozen adapters get no gradient, tiles add up).
#include <gtest/gtest.h>

#include <cmath>

#include "io/h5.h"
#include "ops/cpu_ops.h"
#include "ops/quantize.h"
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

// ||got - want|| <= rel ||want||
void expect_rel(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, double rel) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double d = 0, n = 0;
  for (size_t i = 0; i < got.size(); i++) {
    d += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    n += static_cast<double>(want[i]) * want[i];
  }
  EXPECT_LE(std::sqrt(d), rel * std::sqrt(n)) << what << ": relative error " << std::sqrt(d / n);
}

// One frozen layer with its adapter, run forward and backward by the ops.
struct LoraLayer {
  int N, IC, OC, r;
  float scale;
  FrozenWeight w;
  std::vector<float> scratch, ax, dax;  // (kFrozenTileRows, IC), (N, r), (N, r)
  LoraLayer(int N_, int IC_, int OC_, int r_, float scale_, const FrozenWeight& w_)
      : N(N_), IC(IC_), OC(OC_), r(r_), scale(scale_), w(w_), scratch(static_cast<size_t>(kFrozenTileRows) * IC_),
        ax(static_cast<size_t>(N_) * r_), dax(static_cast<size_t>(N_) * r_) {}
  std::vector<float> forward(const std::vector<float>& x, const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> out(static_cast<size_t>(N) * OC);
    ops().frozen_matmul_forward(out.data(), x.data(), w, scratch.data(), N, false);
    ops().lora_forward(out.data(), ax.data(), x.data(), a.data(), b.data(), N, IC, OC, r, scale);
    return out;
  }
  // dx, da, db from dout after a forward at (x, a, b).
  void backward(std::vector<float>& dx, std::vector<float>* da, std::vector<float>* db, const std::vector<float>& dout,
                const std::vector<float>& x, const std::vector<float>& a, const std::vector<float>& b) {
    ops().frozen_matmul_backward(dx.data(), dout.data(), w, scratch.data(), N);
    ops().lora_backward(dx.data(), da ? da->data() : nullptr, db ? db->data() : nullptr, dax.data(), dout.data(),
                        x.data(), ax.data(), a.data(), b.data(), N, IC, OC, r, scale);
  }
};

// Tolerances against the float64 reference: fp32 GEMMs of inner length <= 200 are ~1e-7
// relative per entry; 1e-5 of each tensor's norm leaves 100x for summation order, while a
// missing scale, a transposed adapter or a dropped term is O(1).
TEST(OpsLora, MatchesTheFloat64ReferenceOverFp32AndNf4Bases) {
  h5::File f = h5::File::open_read(HFEDMOE_SOURCE_DIR "/tests/data/ref/lora_linear.h5");
  const int N = static_cast<int>(f.attr_int("/", "N")), IC = static_cast<int>(f.attr_int("/", "IC"));
  const int OC = static_cast<int>(f.attr_int("/", "OC")), r = static_cast<int>(f.attr_int("/", "r"));
  const float scale = static_cast<float>(f.attr_double("/", "scale"));
  auto x = f.read<float>("x"), w = f.read<float>("w"), a = f.read<float>("a"), b = f.read<float>("b");
  auto dout = f.read<float>("dout");
  for (BaseDtype dtype : {BaseDtype::fp32, BaseDtype::nf4}) {
    const std::string pre = dtype == BaseDtype::nf4 ? "nf4/" : "";
    SCOPED_TRACE(base_dtype_name(dtype));
    QuantizedWeight q = quantize_weight(w.data(), OC, IC, dtype, dtype == BaseDtype::nf4 ? kNf4Block : 0,
                                        dtype == BaseDtype::nf4);
    LoraLayer layer(N, IC, OC, r, scale, q.view());
    expect_rel("out", layer.forward(x, a, b), f.read<float>(pre + "out"), 1e-5);
    std::vector<float> dx(x.size()), da(a.size()), db(b.size());
    layer.backward(dx, &da, &db, dout, x, a, b);
    expect_rel("dx", dx, f.read<float>(pre + "dx"), 1e-5);
    expect_rel("da", da, f.read<float>(pre + "da"), 1e-5);
    expect_rel("db", db, f.read<float>(pre + "db"), 1e-5);
  }
}

TEST(OpsLora, BackwardMatchesFiniteDifferencesForEveryStorage) {
  const int N = 6, IC = 70, OC = 130, r = 3;  // OC: three tiles, the last of 2 rows
  const float scale = 16.0f / r;
  auto w = randn(OC * IC, 1, 0.1f), x = randn(N * IC, 2), a = randn(r * IC, 3, 0.1f), b = randn(OC * r, 4, 0.1f);
  auto R = randn(N * OC, 5);
  for (BaseDtype dtype : {BaseDtype::fp32, BaseDtype::bf16, BaseDtype::int8, BaseDtype::nf4}) {
    SCOPED_TRACE(base_dtype_name(dtype));
    const int block = dtype == BaseDtype::nf4 ? kNf4Block : dtype == BaseDtype::int8 ? IC : 0;
    QuantizedWeight q = quantize_weight(w.data(), OC, IC, dtype, block, dtype == BaseDtype::nf4);
    LoraLayer layer(N, IC, OC, r, scale, q.view());
    auto loss = [&] { return dot(layer.forward(x, a, b), R); };
    loss();
    // Backward accumulates: start from ones and subtract them afterwards.
    std::vector<float> dx(x.size(), 1.0f), da(a.size(), 1.0f), db(b.size(), 1.0f);
    layer.backward(dx, &da, &db, R, x, a, b);
    for (auto* g : {&dx, &da, &db})
      for (auto& v : *g) v -= 1.0f;
    expect_fd_match("dinp", x, dx, loss);
    expect_fd_match("da", a, da, loss);
    expect_fd_match("db", b, db, loss);
  }
}

TEST(OpsLora, QuantisedBaseIsTheMatmulOfItsDequantisedWeight) {
  const int N = 300, IC = 40, OC = 70;  // N past one row chunk (256), OC past one tile
  auto w = randn(OC * IC, 6), x = randn(N * IC, 7), dout = randn(N * OC, 8);
  QuantizedWeight q = quantize_weight(w.data(), OC, IC, BaseDtype::int8, 8, true);
  std::vector<float> deq(w.size()), scratch(static_cast<size_t>(kFrozenTileRows) * IC);
  ops().frozen_dequantize(deq.data(), q.view(), 0, OC);
  std::vector<float> want(N * OC), got(N * OC, 2.0f);
  ops().matmul_forward(want.data(), x.data(), deq.data(), nullptr, N, IC, OC, false);
  ops().frozen_matmul_forward(got.data(), x.data(), q.view(), scratch.data(), N, false);
  expect_rel("forward", got, want, 1e-6);
  std::vector<float> dx_want(N * IC, 0.5f), dx_got(N * IC, 0.5f);
  ops().matmul_backward(dx_want.data(), nullptr, nullptr, dout.data(), x.data(), deq.data(), N, IC, OC);
  ops().frozen_matmul_backward(dx_got.data(), dout.data(), q.view(), scratch.data(), N);
  expect_rel("backward", dx_got, dx_want, 1e-6);
  // a tile of rows in the middle is the reference's bits
  std::vector<float> tile(5 * IC), ref(5 * IC);
  ops().frozen_dequantize(tile.data(), q.view(), 33, 5);
  dequantize_reference(ref.data(), q.view(), 33 * IC, 38 * IC);
  EXPECT_EQ(tile, ref);
}

// With train.adapter=none the model runs the fp32 base through the same call: it must be
// matmul_forward's bits, and a LoRA branch whose B is zero (PEFT's initialisation) adds nothing.
TEST(OpsLora, Fp32BaseWithZeroBIsThePlainMatmulBitForBit) {
  const int N = 9, IC = 24, OC = 17, r = 2;
  auto w = randn(OC * IC, 9), x = randn(N * IC, 10), a = randn(r * IC, 11);
  std::vector<float> b(OC * r, 0.0f), plain(N * OC);
  ops().matmul_forward(plain.data(), x.data(), w.data(), nullptr, N, IC, OC, false);
  QuantizedWeight q = quantize_weight(w.data(), OC, IC, BaseDtype::fp32, 0, false);
  LoraLayer layer(N, IC, OC, r, 1.0f, q.view());
  EXPECT_EQ(layer.forward(x, a, b), plain);
}

TEST(OpsLora, FrozenAdapterPassesInputGradientsOnly) {
  const int N = 4, IC = 12, OC = 10, r = 2;
  auto w = randn(OC * IC, 12), x = randn(N * IC, 13), a = randn(r * IC, 14), b = randn(OC * r, 15);
  auto dout = randn(N * OC, 16);
  QuantizedWeight q = quantize_weight(w.data(), OC, IC, BaseDtype::fp32, 0, false);
  LoraLayer layer(N, IC, OC, r, 2.0f, q.view());
  layer.forward(x, a, b);
  std::vector<float> dx_frozen(x.size()), dx_trained(x.size()), da(a.size()), db(b.size());
  layer.backward(dx_frozen, nullptr, nullptr, dout, x, a, b);
  layer.backward(dx_trained, &da, &db, dout, x, a, b);
  EXPECT_EQ(dx_frozen, dx_trained);
}

}  // namespace
}  // namespace hf
