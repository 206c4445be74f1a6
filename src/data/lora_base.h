#pragma once
// The frozen base under a LoRA model and the reference to it that a checkpoint keeps (BaseRef,
// io/checkpoint.h). A LoRA checkpoint holds only the arena (adapters and the tensors trained in
// full); the base is the model of train.init or train.init_hf (or, without either, the model
// run.seed initialises), which every reader rebuilds. The checkpoint therefore names the file
// or folder and its sha256, so a resume or an `eval` over another one (retrained, re-imported,
// edited) fails instead of silently mixing models.
#include <cstdint>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "model/params.h"

namespace hf {

class Model;

// The reference for a run over `init` ("" = none; a checkpoint file or a Hugging Face folder)
// stored as dtype: hashes the file, or the folder's config.json and safetensors files.
BaseRef base_ref_of(const std::string& init, const std::string& dtype);

// Fails with one line naming both digests when `now` (the file a resume or eval would load) is
// not the base `stored` (read from checkpoint `ckpt`) was trained over. The dtype is not
// compared: it is part of the stored configuration, which resume and eval already follow.
void check_base_ref(const BaseRef& stored, const BaseRef& now, const std::string& ckpt);

// The model without adapters (laid out by full) that a LoRA run starts from: the weights seed
// gives (initial_weights), then, with init, every tensor of that checkpoint or Hugging Face
// folder (a classification head it lacks stays as the seed gave it).
std::vector<float> base_weights(const ParamTable& full, const std::string& init, uint64_t seed);

// Builds model's frozen base and arena as a LoRA run starts: everything from seed
// (Model::init_weights), then, with init, the base and the tensors trained in full from
// base_weights.
void load_lora_base(Model& model, const std::string& init, uint64_t seed);

// The model without adapters that a LoRA model computes, laid out by full: each adapted linear
// W + (alpha / r) B A, with W the base as stored (FrozenBase::round_trip of base, so an nf4
// base is dequantised) and B A summed in double; the other linears W as stored; every other
// tensor from the arena (table.total() floats, laid out by table, the LoRA model's table).
std::vector<float> merged_weights(const ParamTable& table, const float* arena, const ParamTable& full,
                                  const std::vector<float>& base);

}  // namespace hf
