// The frozen base's storages (ops/quantize.h): the NF4 code book against its construction,
// codes against a brute-force nearest level, round-trip error bounds for every storage, the
// bytes each one really takes, and the codes against an independent implementation
// (tests/ref/make_lora_reference.py, in tests/data/ref/lora_linear.h5).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "io/h5.h"
#include "ops/quantize.h"
#include "util/check.h"
#include "test_ops_fd.h"

namespace hf {
namespace {

using test::randn;

// Inverse of the standard normal CDF by bisection on erfc (to 1e-15).
double normal_quantile(double p) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200; i++) {
    double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// QLoRA's construction (bitsandbytes create_normal_map, offset 0.9677083, asymmetric so that 0
// is a level): 8 positive quantiles of linspace(offset, 0.5, 9)[:-1], 7 negative ones of
// linspace(offset, 0.5, 8)[:-1], and 0; sorted and divided by the largest.
TEST(OpsQuantize, Nf4CodeBookIsTheNormalFloatConstruction) {
  const double offset = 0.9677083;
  std::vector<double> v;
  for (int i = 0; i < 8; i++) v.push_back(normal_quantile(offset + (0.5 - offset) * i / 8.0));
  for (int i = 0; i < 7; i++) v.push_back(-normal_quantile(offset + (0.5 - offset) * i / 7.0));
  v.push_back(0.0);
  std::sort(v.begin(), v.end());
  for (int i = 0; i < 16; i++) EXPECT_NEAR(kNf4Code[i], v[i] / v[15], 2e-7) << "level " << i;
  EXPECT_EQ(kNf4Code[7], 0.0f);
}

// The largest distance from a point of [-1, 1] to its nearest level.
double nf4_half_gap() {
  double g = 0;
  for (int i = 0; i < 15; i++) g = std::max(g, 0.5 * (kNf4Code[i + 1] - kNf4Code[i]));
  return g;
}

int nf4_level(const QuantizedWeight& q, size_t i) { return i % 2 == 0 ? q.data[i / 2] >> 4 : q.data[i / 2] & 15; }

TEST(OpsQuantize, Nf4CodesAreTheNearestLevelAndRoundTripWithinHalfAGap) {
  const int OC = 37, IC = 96;  // 3552 elements: 55.5 blocks, so the last block is partial
  auto w = randn(OC * IC, 1);
  w[5] = 0.0f;
  QuantizedWeight q = quantize_weight(w.data(), OC, IC, BaseDtype::nf4, kNf4Block, false);
  FrozenWeight f = q.view();
  ASSERT_EQ(f.n_blocks(), 56u);
  std::vector<float> back(w.size());
  dequantize_reference(back.data(), f, 0, w.size());
  const double gap = nf4_half_gap();
  EXPECT_NEAR(gap, 0.1519, 1e-4);
  for (size_t i = 0; i < w.size(); i++) {
    const float absmax = q.scales[i / kNf4Block];
    const float x = w[i] / absmax;
    int best = 0;
    for (int l = 1; l < 16; l++)
      if (std::fabs(x - kNf4Code[l]) < std::fabs(x - kNf4Code[best])) best = l;
    ASSERT_EQ(nf4_level(q, i), best) << "element " << i;
    ASSERT_LE(std::fabs(back[i] - w[i]), gap * absmax * (1 + 1e-6)) << "element " << i;
  }
  EXPECT_EQ(back[5], 0.0f);  // 0 is a level: exact zeros stay zero
  // absmax elements come back exactly (level +-1)
  for (size_t b = 0; b < f.n_blocks(); b++) {
    size_t arg = b * kNf4Block;
    for (size_t i = arg; i < std::min(w.size(), (b + 1) * kNf4Block); i++)
      if (std::fabs(w[i]) > std::fabs(w[arg])) arg = i;
    EXPECT_EQ(back[arg], w[arg]) << "block " << b;
  }
}

TEST(OpsQuantize, DoubleQuantisedScalesAddAtMostHalfAStep) {
  const int OC = 300, IC = 128;  // 600 nf4 blocks: three scale groups, the last partial
  auto w = randn(OC * IC, 2, 0.05f);
  QuantizedWeight plain = quantize_weight(w.data(), OC, IC, BaseDtype::nf4, kNf4Block, false);
  QuantizedWeight dq = quantize_weight(w.data(), OC, IC, BaseDtype::nf4, kNf4Block, true);
  FrozenWeight f = dq.view();
  ASSERT_TRUE(f.double_quant());
  ASSERT_EQ(f.n_groups(), 3u);
  EXPECT_EQ(plain.data, dq.data) << "double quantisation changes the scales only, not the codes";
  std::vector<float> back(w.size());
  dequantize_reference(back.data(), f, 0, w.size());
  const double gap = nf4_half_gap();
  for (size_t i = 0; i < w.size(); i++) {
    const size_t b = i / kNf4Block;
    const double s2 = dq.scale_scales[b / kScaleGroup];
    const double scale = std::fma(dq.scale_codes[b], dq.scale_scales[b / kScaleGroup], dq.scale_offset);
    ASSERT_LE(std::fabs(scale - plain.scales[b]), s2 / 2 * (1 + 1e-5) + 1e-7 * plain.scales[b]) << "block " << b;
    ASSERT_LE(std::fabs(back[i] - w[i]), gap * plain.scales[b] + s2 / 2 + 1e-6 * plain.scales[b]) << i;
  }
  // What QLoRA's double quantisation is for: 8 bits per scale instead of 32 (4.127 -> 4.03 bits a weight).
  const double bits_plain = 8.0 * plain.view().bytes() / w.size(), bits_dq = 8.0 * f.bytes() / w.size();
  EXPECT_NEAR(bits_plain, 4.5, 1e-9);
  EXPECT_LT(bits_dq, 4.13);
}

TEST(OpsQuantize, Int8PerRowAndPerBlockRoundTripWithinHalfAStep) {
  const int OC = 9, IC = 50;
  auto w = randn(OC * IC, 3);
  for (int block : {IC, 16}) {
    SCOPED_TRACE(block == IC ? "per row" : "blocks of 16");
    for (bool dq : {false, true}) {
      QuantizedWeight q = quantize_weight(w.data(), OC, IC, BaseDtype::int8, block, dq);
      std::vector<float> back(w.size());
      dequantize_reference(back.data(), q.view(), 0, w.size());
      for (size_t i = 0; i < w.size(); i++) {
        float absmax = 0;
        for (size_t j = i / block * block; j < std::min(w.size(), (i / block + 1) * block); j++)
          absmax = std::max(absmax, std::fabs(w[j]));
        // plain: half a step of absmax/127; double-quantised scales add 127 * their own half step
        double tol = absmax / 254.0 * (1 + 1e-5);
        if (dq) tol += 127.0 * q.scale_scales[i / block / kScaleGroup] / 2;
        ASSERT_LE(std::fabs(back[i] - w[i]), tol) << "element " << i << " double quant " << dq;
      }
      if (!dq) {
        EXPECT_EQ(q.view().bytes(), w.size() + q.view().n_blocks() * sizeof(float));
      }
    }
  }
}

TEST(OpsQuantize, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_bits(1.0f), 0x3F80);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0)
  EXPECT_EQ(bf16_bits(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(bf16_bits(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_EQ(bf16_bits(-2.0f), 0xC000);
  const int OC = 4, IC = 33;
  auto w = randn(OC * IC, 4);
  QuantizedWeight q = quantize_weight(w.data(), OC, IC, BaseDtype::bf16, 0, false);
  std::vector<float> back(w.size());
  dequantize_reference(back.data(), q.view(), 0, w.size());
  for (size_t i = 0; i < w.size(); i++) ASSERT_LE(std::fabs(back[i] - w[i]), std::ldexp(std::fabs(w[i]), -8));
  EXPECT_EQ(q.view().bytes(), 2 * w.size());
}

TEST(OpsQuantize, Fp32IsStoredAsIsAndBadRequestsAreRefused) {
  auto w = randn(12, 5);
  QuantizedWeight q = quantize_weight(w.data(), 3, 4, BaseDtype::fp32, 0, false);
  std::vector<float> back(12);
  dequantize_reference(back.data(), q.view(), 0, 12);
  EXPECT_EQ(back, w);
  EXPECT_THROW(quantize_weight(w.data(), 3, 4, BaseDtype::nf4, 32, false), Error);   // nf4 blocks are 64
  EXPECT_THROW(quantize_weight(w.data(), 3, 4, BaseDtype::bf16, 0, true), Error);    // nothing to double-quantise
  EXPECT_THROW(quantize_weight(w.data(), 3, 4, BaseDtype::int8, 0, false), Error);   // no block size
}

// Codes and scales from tests/ref/make_lora_reference.py, which quantises the same fp32 weight
// with numpy by the rules of ops/quantize.h: the bytes must be identical.
TEST(OpsQuantize, Nf4BytesEqualTheIndependentReference) {
  h5::File f = h5::File::open_read(HFEDMOE_SOURCE_DIR "/tests/data/ref/lora_linear.h5");
  std::vector<float> w = f.read<float>("w");
  const int OC = static_cast<int>(f.attr_int("/", "OC")), IC = static_cast<int>(f.attr_int("/", "IC"));
  QuantizedWeight q = quantize_weight(w.data(), OC, IC, BaseDtype::nf4, kNf4Block, true);
  EXPECT_EQ(q.data, f.read<uint8_t>("nf4/codes"));
  std::vector<int32_t> scale_codes = f.read<int32_t>("nf4/scale_codes");  // int8 in the file, widened by HDF5
  EXPECT_EQ(q.scale_codes, std::vector<int8_t>(scale_codes.begin(), scale_codes.end()));
  EXPECT_EQ(q.scale_scales, f.read<float>("nf4/scale_scales"));
  EXPECT_EQ(q.scale_offset, f.read<float>("nf4/scale_offset")[0]);
  std::vector<float> back(w.size());
  dequantize_reference(back.data(), q.view(), 0, w.size());
  EXPECT_EQ(back, f.read<float>("nf4/dequantized"));
}

}  // namespace
}  // namespace hf
