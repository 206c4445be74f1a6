#include "model/frozen_base.h"

#include "ops/ops.h"
#include "ops/quantize.h"
#include "util/check.h"

namespace hf {

namespace {
// int8: one scale per row (absmax / 127 of the row); nf4: QLoRA's blocks and double quantisation.
int block_of(BaseDtype d, int IC) { return d == BaseDtype::int8 ? IC : d == BaseDtype::nf4 ? kNf4Block : 0; }
bool double_quantised(BaseDtype d) { return d == BaseDtype::nf4; }
}  // namespace

FrozenBase::FrozenBase(Ops& ops, const ParamTable& full, BaseDtype dtype)
    : ops_(ops), full_(full), dtype_(dtype), weights_(full.tensors().size()), buffers_(full.tensors().size()) {
  HF_CHECK(!full.config().lora.enabled(), "the frozen base is laid out by the table without adapters");
  auto alloc = [&](size_t bytes) {
    void* p = ops_.alloc(bytes);
    owned_.push_back(p);
    return p;
  };
  for (size_t i = 0; i < weights_.size(); i++) {
    const ParamInfo& p = full.tensors()[i];
    if (!is_adaptable(p.kind)) continue;
    FrozenWeight& w = weights_[i];
    Buffers& b = buffers_[i];
    w.dtype = dtype;
    w.OC = static_cast<int>(p.shape[0]);
    w.IC = static_cast<int>(p.shape[1]);
    w.block = block_of(dtype, w.IC);
    const size_t n = w.numel();
    b.data = alloc(dtype == BaseDtype::fp32 ? n * 4 : dtype == BaseDtype::bf16 ? n * 2
                   : dtype == BaseDtype::int8 ? n : (n + 1) / 2);
    if (w.has_scales() && double_quantised(dtype)) {
      b.scale_codes = static_cast<int8_t*>(alloc(w.n_blocks()));
      b.scale_scales = static_cast<float*>(alloc(w.n_groups() * sizeof(float)));
    } else if (w.has_scales()) {
      b.scales = static_cast<float*>(alloc(w.n_blocks() * sizeof(float)));
    }
    w.data = b.data;
    w.scales = b.scales;
    w.scale_codes = b.scale_codes;
    w.scale_scales = b.scale_scales;
  }
}

FrozenBase::~FrozenBase() {
  for (void* p : owned_) ops_.free(p);
}

void FrozenBase::load(const float* full_host) {
  for (size_t i = 0; i < weights_.size(); i++) {
    const ParamInfo& p = full_.tensors()[i];
    if (!is_adaptable(p.kind)) continue;
    FrozenWeight& w = weights_[i];
    const Buffers& b = buffers_[i];
    QuantizedWeight q = quantize_weight(full_host + p.offset, w.OC, w.IC, dtype_, w.block, double_quantised(dtype_));
    ops_.upload(b.data, q.data.data(), q.data.size());
    if (b.scales) ops_.upload(b.scales, q.scales.data(), q.scales.size() * sizeof(float));
    if (b.scale_codes) {
      ops_.upload(b.scale_codes, q.scale_codes.data(), q.scale_codes.size());
      ops_.upload(b.scale_scales, q.scale_scales.data(), q.scale_scales.size() * sizeof(float));
      w.scale_offset = q.scale_offset;
    }
  }
}

const FrozenWeight& FrozenBase::get(ParamKind kind, int layer, int expert) const {
  const ParamInfo& p = full_.get(kind, layer, expert);
  return weights_[static_cast<size_t>(&p - full_.tensors().data())];
}

size_t FrozenBase::bytes_for(const ParamTable& full, BaseDtype dtype) {
  size_t total = 0;
  for (const ParamInfo& p : full.tensors())
    if (is_adaptable(p.kind))
      total += frozen_bytes(dtype, p.numel(), block_of(dtype, static_cast<int>(p.shape[1])), double_quantised(dtype));
  return total;
}

std::vector<float> FrozenBase::round_trip(const float* w, int OC, int IC, BaseDtype dtype) {
  std::vector<float> out(static_cast<size_t>(OC) * IC);  // (OC, IC)
  QuantizedWeight q = quantize_weight(w, OC, IC, dtype, block_of(dtype, IC), double_quantised(dtype));
  dequantize_reference(out.data(), q.view(), 0, out.size());
  return out;
}

size_t FrozenBase::bytes() const {
  size_t total = 0;
  for (const FrozenWeight& w : weights_)
    if (w.data) total += w.bytes();
  return total;
}

}  // namespace hf
