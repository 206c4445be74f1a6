#pragma once
// The MoE transformer: forward, backward and the routing statistics HFedMoE needs.
// Written once against the op interface (ops/ops.h); the CPU backend is the reference.
//
// Lifetime: construct once per process with the largest batch it will see; all
// activations live in a workspace allocated here, so forward/backward never allocate.
//
// Dimension letters: see model/config.h (B, T, C, NH, NKV, HS, E, K, F, V, NC, L).
#include <cstdint>
#include <memory>
#include <vector>

#include "model/config.h"
#include "model/params.h"
#include "model/tokenizer.h"

namespace hf {

class Ops;

enum class Task { lm, classify };

struct Batch {
  const int32_t* tokens = nullptr;   // (B, T); pad positions hold `pad`
  const int32_t* targets = nullptr;  // (B, T) next-token targets for Task::lm; -1 = ignore
  const int32_t* labels = nullptr;   // (B) class ids for Task::classify
  int B = 0, T = 0;
  int32_t pad = kPadToken;           // the padding id of the dataset's tokenizer (Split::pad)
};

// Per-step control of the MoE layers, owned by the caller (HFedMoE selection, baselines).
// Every (L, E) array and every `layer` argument of the routing accessors below counts the
// MoE layers only (L here is model.moe_layers(); MoE layer l is model layer first_k_dense + l).
struct ExpertControl {
  // (L, E): 1 = the expert's weight gradients are computed and it may be updated.
  // nullptr = all experts trainable. Input gradients still flow through frozen experts.
  const uint8_t* trainable = nullptr;
  // (L, E): 1 = tokens may be routed to the expert (budget_mode=strict). Router logits of
  // disallowed experts are excluded from the top-k (the softmax G_e is still over all E).
  // nullptr = route among all experts (budget_mode=mask, the paper's forward).
  const uint8_t* routable = nullptr;
};

struct ForwardResult {
  float loss = 0;        // mean task loss over counted tokens/sequences (+ aux loss if enabled)
  float task_loss = 0;   // without the aux loss
  int64_t counted = 0;   // tokens (lm) or sequences (classify) in the mean
  int64_t correct = 0;   // argmax hits over the counted items (next token, or class)
};

// The weights of the model without adapters, laid out by `full`: normal(0, 0.02) for matrices
// (wo, w2, ws2 and wm2 scaled by 1/sqrt(2L)), ones for norm weights, zeros for biases. One stream per
// tensor, so a tensor's values do not depend on the others' sizes. Model::init_weights uploads it.
std::vector<float> initial_weights(const ParamTable& full, uint64_t seed);

class Model {
 public:
  // ops: the backend (CPU reference or CUDA); max_B, max_T size the workspace.
  Model(const ModelConfig& cfg, Task task, Ops& ops, int max_B, int max_T);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return table_.config(); }
  const ParamTable& table() const { return table_; }
  Task task() const { return task_; }

  // The arenas in backend memory (device pointers on the CUDA backend), for the optimizer and
  // clipping, which run through the ops. Laid out by table().
  float* params();  // (table().total())
  float* grads();   // (table().total())
  // Host side of the arenas. On a host-memory backend (CPU) the views are the arenas
  // themselves; on a device backend they are mirrors downloaded by the call (one
  // synchronising copy of P floats; each mirror is allocated on its first use, then reused).
  const float* params_on_host();  // (P)
  const float* grads_on_host();   // (P)
  // params_on_host() valid on `ranges` only: on a device backend only they are downloaded.
  const float* params_on_host(const std::vector<Range>& ranges);  // (P)
  void load_params(const float* host);  // (P) host -> arena

  // Deterministic initialisation from seed: normal(0, 0.02) for matrices (residual output
  // projections wo, w2, ws2 and wm2 scaled by 1/sqrt(2L)), ones for norm weights, zeros for biases. With
  // LoRA: the base and the tensors trained in full as the model without adapters gets them from
  // the same seed, A as PEFT draws it (model/lora_init.h), B zero.
  void init_weights(uint64_t seed);

  // LoRA only. full_table(): the model without adapters (table() itself otherwise), which lays
  // out the weights load_base() takes: full_host (full_table().total()) fp32; its linear kinds
  // become the frozen base at model.lora.base_dtype, its other tensors are copied into the arena
  // by name, the adapters are left as they are.
  const ParamTable& full_table() const;
  void load_base(const float* full_host);
  size_t frozen_base_bytes() const;  // the frozen base's codes and scales in backend memory (0 without LoRA)

  // Forward pass; keeps what backward needs. Returns the loss and accuracy counts.
  ForwardResult forward(const Batch& batch, const ExpertControl& control = {});
  // Backward of the last forward: zeroes grads, then writes d(loss)/d(param) for every
  // tensor, except expert blocks that control.trainable marks frozen (left zero, not computed).
  void backward();
  // Replaces the trainable mask of the last forward before backward(), for callers that choose
  // the trained experts from that forward's routing (HFedMoE, Eq. 15). (L, E); nullptr = all.
  void set_trainable(const uint8_t* trainable);

  // Routing of the last forward, per layer l: softmax over all E router logits and the
  // chosen experts. Rows of pad tokens are included; token_valid() tells which to count.
  // Host pointers: a device backend downloads all layers' routing on the first call after a
  // forward (L*N*(E+K) values), so a caller that reads no routing (evaluation) pays nothing.
  const float* gate_probs(int layer) const;     // (B*T, E)
  const int32_t* topk_experts(int layer) const; // (B*T, K)
  const uint8_t* token_valid() const;           // (B*T) 1 = not a pad token
  // Expert e of layer l took sorted rows [offsets[e], offsets[e+1]) in the last forward (host).
  const int32_t* expert_offsets(int layer) const;  // (E + 1)
  // Logits of the last forward (host; downloaded on a device backend): (B*T, V) for Task::lm,
  // (B, NC) for Task::classify.
  const float* logits() const;
  int last_B() const;
  int last_T() const;
  // Backend memory the model holds: parameters, gradients and the workspace for max_B x max_T
  // (and the frozen base, with LoRA).
  size_t backend_bytes() const;
  // FLOPs of the last forward+backward actually executed (for the virtual clock).
  double last_step_flops() const;

 private:
  struct Impl;
  ParamTable table_;
  Task task_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hf
