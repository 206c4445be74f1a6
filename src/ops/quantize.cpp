#include "ops/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "util/check.h"

namespace hf {

uint16_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  u += 0x7FFFu + ((u >> 16) & 1u);  // round to nearest, ties to the even upper half
  return static_cast<uint16_t>(u >> 16);
}

namespace {

int nearest_nf4_level(float x) {
  // x = w / absmax in [-1, 1]; the lower level wins a tie (strict '<').
  int best = 0;
  for (int i = 1; i < 16; i++)
    if (std::fabs(x - kNf4Code[i]) < std::fabs(x - kNf4Code[best])) best = i;
  return best;
}

// Per-block absmax scales of w (numel) for int8 (absmax / 127) or nf4 (absmax).
std::vector<float> block_scales(const float* w, size_t numel, int block, BaseDtype dtype) {
  std::vector<float> scales((numel + block - 1) / block);
  for (size_t b = 0; b < scales.size(); b++) {
    float absmax = 0;
    for (size_t i = b * block; i < std::min(numel, (b + 1) * block); i++) absmax = std::max(absmax, std::fabs(w[i]));
    scales[b] = dtype == BaseDtype::int8 ? absmax / 127.0f : absmax;
  }
  return scales;
}

void double_quantize(QuantizedWeight& q, const std::vector<float>& scales) {
  double sum = 0;
  for (float s : scales) sum += s;
  q.scale_offset = scales.empty() ? 0.0f : static_cast<float>(sum / scales.size());
  const size_t groups = (scales.size() + kScaleGroup - 1) / kScaleGroup;
  q.scale_codes.resize(scales.size());
  q.scale_scales.resize(groups);
  for (size_t g = 0; g < groups; g++) {
    const size_t b0 = g * kScaleGroup, b1 = std::min(scales.size(), b0 + kScaleGroup);
    float dev = 0;
    for (size_t b = b0; b < b1; b++) dev = std::max(dev, std::fabs(scales[b] - q.scale_offset));
    const float s2 = dev / 127.0f;
    q.scale_scales[g] = s2;
    for (size_t b = b0; b < b1; b++) {
      float code = s2 > 0 ? std::nearbyint((scales[b] - q.scale_offset) / s2) : 0.0f;
      q.scale_codes[b] = static_cast<int8_t>(std::clamp(code, -127.0f, 127.0f));
    }
  }
}

}  // namespace

QuantizedWeight quantize_weight(const float* w, int OC, int IC, BaseDtype dtype, int block, bool double_quant) {
  HF_CHECK(OC > 0 && IC > 0, "weight shape %d x %d is empty", OC, IC);
  const bool scaled = dtype == BaseDtype::int8 || dtype == BaseDtype::nf4;
  HF_CHECK(!double_quant || scaled, "double quantisation applies to int8 and nf4 scales, not %s", base_dtype_name(dtype));
  HF_CHECK(dtype != BaseDtype::nf4 || block == kNf4Block, "nf4 uses blocks of %d, not %d", kNf4Block, block);
  HF_CHECK(!scaled || block > 0, "%s needs a positive block size, got %d", base_dtype_name(dtype), block);
  QuantizedWeight q;
  q.dtype = dtype;
  q.OC = OC;
  q.IC = IC;
  q.block = scaled ? block : 0;
  const size_t n = static_cast<size_t>(OC) * IC;
  switch (dtype) {
    case BaseDtype::fp32:
      q.data.resize(n * sizeof(float));
      std::memcpy(q.data.data(), w, n * sizeof(float));
      return q;
    case BaseDtype::bf16: {
      q.data.resize(n * sizeof(uint16_t));
      auto* out = reinterpret_cast<uint16_t*>(q.data.data());
      for (size_t i = 0; i < n; i++) out[i] = bf16_bits(w[i]);
      return q;
    }
    case BaseDtype::int8:
    case BaseDtype::nf4:
      break;
  }
  // The codes use the exact scales; double quantisation then stores the scales themselves.
  std::vector<float> scales = block_scales(w, n, block, dtype);
  if (dtype == BaseDtype::int8) {
    q.data.resize(n);
    for (size_t i = 0; i < n; i++) {
      float s = scales[i / block];
      float code = s > 0 ? std::nearbyint(w[i] / s) : 0.0f;
      q.data[i] = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(code, -127.0f, 127.0f)));
    }
  } else {
    q.data.assign((n + 1) / 2, 0);
    for (size_t i = 0; i < n; i++) {
      float s = scales[i / block];
      int level = nearest_nf4_level(s > 0 ? w[i] / s : 0.0f);
      q.data[i / 2] |= static_cast<uint8_t>(i % 2 == 0 ? level << 4 : level);
    }
  }
  if (double_quant)
    double_quantize(q, scales);
  else
    q.scales = std::move(scales);
  return q;
}

FrozenWeight QuantizedWeight::view() const {
  FrozenWeight f;
  f.dtype = dtype;
  f.OC = OC;
  f.IC = IC;
  f.block = block;
  f.data = data.data();
  f.scales = scales.empty() ? nullptr : scales.data();
  f.scale_codes = scale_codes.empty() ? nullptr : scale_codes.data();
  f.scale_scales = scale_scales.empty() ? nullptr : scale_scales.data();
  f.scale_offset = scale_offset;
  return f;
}

void dequantize_reference(float* out, const FrozenWeight& w, size_t begin, size_t end) {
  // out (end - begin); one element's value depends only on its own code and its block's scale.
  auto scale_of = [&](size_t b) {
    return w.double_quant() ? std::fma(static_cast<float>(w.scale_codes[b]), w.scale_scales[b / kScaleGroup],
                                       w.scale_offset)
                            : w.scales[b];
  };
  switch (w.dtype) {
    case BaseDtype::fp32:
      std::memcpy(out, static_cast<const float*>(w.data) + begin, (end - begin) * sizeof(float));
      return;
    case BaseDtype::bf16: {
      const auto* bits = static_cast<const uint16_t*>(w.data);
      for (size_t i = begin; i < end; i++) {
        uint32_t u = static_cast<uint32_t>(bits[i]) << 16;
        std::memcpy(out + (i - begin), &u, sizeof(float));
      }
      return;
    }
    case BaseDtype::int8: {
      const auto* codes = static_cast<const int8_t*>(w.data);
      for (size_t i = begin; i < end; i++) out[i - begin] = static_cast<float>(codes[i]) * scale_of(i / w.block);
      return;
    }
    case BaseDtype::nf4: {
      const auto* packed = static_cast<const uint8_t*>(w.data);
      for (size_t i = begin; i < end; i++) {
        int level = i % 2 == 0 ? packed[i / 2] >> 4 : packed[i / 2] & 15;
        out[i - begin] = kNf4Code[level] * scale_of(i / w.block);
      }
      return;
    }
  }
}

}  // namespace hf
