#pragma once
// The frozen base of a LoRA run: every linear layer of the seven adaptable kinds (wq wk wv wo,
// each expert's w1 w3 w2) at its storage precision in backend memory, read only through the
// ops' frozen_* calls. Storage per train.base_dtype: fp32 as is, bf16, int8 with one scale per
// row, nf4 as QLoRA (blocks of 64, double-quantised scales). Buffers are allocated once, here;
// load() quantises on the host and uploads, so a training step allocates nothing.
#include <cstddef>
#include <vector>

#include "model/params.h"
#include "ops/frozen_weight.h"

namespace hf {

class Ops;

class FrozenBase {
 public:
  // full: the table of the model without adapters, which lays out the weights load() reads.
  FrozenBase(Ops& ops, const ParamTable& full, BaseDtype dtype);
  ~FrozenBase();
  FrozenBase(const FrozenBase&) = delete;
  FrozenBase& operator=(const FrozenBase&) = delete;

  // full_host (full.total()) fp32 weights; the linear kinds among them become the base.
  void load(const float* full_host);
  const FrozenWeight& get(ParamKind kind, int layer, int expert = -1) const;
  BaseDtype dtype() const { return dtype_; }
  size_t bytes() const;  // what the stored codes and scales occupy
  // The same without building the base: the seven linear kinds of `full` stored as dtype.
  static size_t bytes_for(const ParamTable& full, BaseDtype dtype);
  // w (OC, IC) as the base stores it, read back in fp32 through the reference dequantisation:
  // the weight the frozen ops compute with (a merged export starts from it).
  static std::vector<float> round_trip(const float* w, int OC, int IC, BaseDtype dtype);

 private:
  Ops& ops_;
  const ParamTable& full_;
  BaseDtype dtype_;
  // The writable side of each weight's buffers (the views hand out const pointers).
  struct Buffers {
    void* data = nullptr;
    float* scales = nullptr;
    int8_t* scale_codes = nullptr;
    float* scale_scales = nullptr;
  };
  std::vector<FrozenWeight> weights_;  // by the index of the tensor in full.tensors(); unused for other kinds
  std::vector<Buffers> buffers_;       // the same indices
  std::vector<void*> owned_;
};

}  // namespace hf
