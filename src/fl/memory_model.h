#pragma once
// The device memory of one client's local training step, the one rule every method is held
// to (fl.memory_check=enforce) and the rule C_budget is derived from. Bytes, fp32 throughout:
//
//   weights        4 * P                   every weight, held for the forward
//   dense state   16 * P_shared            the non-expert tensors (attention, norms, routers,
//                                          embeddings, heads, shared experts, dense layers' MLP) are trained: gradient, two AdamW
//                                          moments, the global copy the delta is measured against
//   trained now   16 * PE per expert        each expert (of one layer) updated by this step: the same four
//   trained before 12 * PE per expert       each expert updated in an earlier step of the round and
//                                          frozen now: its moments and global copy stay
//   activations    4 * (per-token floats * rows * T + per-row floats * rows
//                       + (3F + 2C) * routed rows of every expert, trained or frozen,
//                       + the backward's one-layer workspace)
//
// With LoRA adapters (model.lora) P counts the arena, i.e. what is trained: adapters,
// embeddings, norms, routers, heads, and PE is one expert's adapters; the frozen base adds its
// bytes at storage precision (no gradient, no moments), and each adapter keeps r floats a row.
//
// P = all parameters, PE = expert_block_size() (3FC), P_shared = P - LM*E*PE (LM: the MoE
// layers, model.n_layers - model.first_k_dense). The activation
// terms count exactly the buffers the model keeps for its backward (model/model.cpp): every
// routed row keeps its gathered input, w1 and w3 outputs, SwiGLU product and output, because
// the input gradient needs them even where the expert's weights are frozen.
//
// C_budget = clamp(floor((memory - fixed) / (LM * 16 * PE)), 0, E) at the full batch: the experts
// per layer whose training state fits beside everything else. Routing does not move the
// activation term (every token sends top_k rows per layer, dropless), so a client that trains
// C_budget experts per layer all round fits; one that trains more distinct experts over the
// round (fl.reselect=batch) pays 12 * PE for each earlier one.
#include <string>

#include "fl/profiles.h"
#include "model/model.h"

namespace hf {

class MemoryModel {
 public:
  MemoryModel(const ModelConfig& m, Task task);
  // Everything but the experts' training state: weights, dense state, activations and workspace
  // for a batch of rows x T tokens whose tokens send routed_rows rows to experts over all layers.
  double fixed_bytes(int rows, int T, double routed_rows) const;
  double trained_expert_bytes() const { return 16 * block_; }  // one expert of one layer
  double kept_expert_bytes() const { return 12 * block_; }
  // trained: experts (over all layers) this step updates; kept: experts trained earlier in the round, frozen now.
  double step_bytes(int rows, int T, double routed_rows, int trained, int kept) const {
    return fixed_bytes(rows, T, routed_rows) + trained * trained_expert_bytes() + kept * kept_expert_bytes();
  }
  // Routed rows of a full dropless batch: every token sends top_k rows in each layer.
  double full_routed_rows(int rows, int T) const;

 private:
  ModelConfig m_;
  Task task_;
  double all_params_ = 0, shared_params_ = 0, block_ = 0;
  double base_bytes_ = 0;  // the frozen base at its storage precision (LoRA only)
};

struct BudgetDerivation {
  double fixed_bytes = 0;       // weights, dense training state, activations, workspace (full batch)
  double per_expert_bytes = 0;  // training state of one expert in every MoE layer (LM * 16 * PE)
  double free_bytes = 0;        // memory - fixed
  int budget = 0;               // clamp(floor(free / per_expert), 0, E)
  std::string explain() const;  // one line for the log
};
BudgetDerivation derive_budget(const DeviceProfile& p, const ModelConfig& m, Task task, int batch, int seq_len);

}  // namespace hf
