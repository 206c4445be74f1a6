#pragma once
// Device profiles (jobs/profiles/*.csv) and the per-client budgets that follow from them
// (DESIGN.md sections 3 and 5). CSV columns, header required:
//   name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share
// share: fraction of the client population in this class (the shares sum to 1, within 1e-6).
// availability: probability in (0, 1] that a sampled client of this class is online.
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace hf {

inline constexpr double kBytesPerGB = 1e9;  // memory_gb is decimal gigabytes, as device sheets quote them

struct DeviceProfile {
  std::string name;
  double tflops = 1;        // sustained fp32 TFLOP/s of the emulated device
  double memory_gb = 8;
  double uplink_mbps = 100;
  double downlink_mbps = 100;
  double availability = 1;
  double share = 1;
};

// Parses a profile CSV; a bad row is a usage error naming the file, line and column.
std::vector<DeviceProfile> load_profiles(const std::string& path);

// Client -> profile index, deterministic from (seed, Purpose::profile): exact class counts
// round(share * n_clients) (largest remainders), then a seeded shuffle.
std::vector<int> assign_profiles(const std::vector<DeviceProfile>& profiles, int n_clients, uint64_t seed);

// C_budget: experts per layer whose training state fits in the device memory after the
// frozen/shared weights and the dense training state. Training one expert costs its fp32
// weights + gradient + two AdamW moments (16 bytes/param) plus its activations for the batch
// (tokens routed to it: batch * seq * top_k / E on average, times the SwiGLU activations kept).
// The bytes a client's device holds during a training step, the terms of the budget below:
// shared = fp32 weights of the whole model + training state of the dense tensors and routers
// (gradient, two AdamW moments, the global copy: 16 bytes/param) + activations kept for backward
// except the experts'; per trained expert of one layer = its training state (16 bytes/param) +
// its SwiGLU activations for the tokens routed to it.
class MemoryModel {
 public:
  explicit MemoryModel(const ModelConfig& m);
  double shared_bytes(double tokens, int seq_len) const;  // tokens = rows * seq_len of the batch
  double expert_bytes(double routed_tokens) const;         // one expert of one layer
 private:
  ModelConfig m_;
  double all_params_ = 0, expert_params_ = 0, block_ = 0;
};

struct BudgetDerivation {
  double shared_bytes = 0;       // all weights held for the forward + dense training state + attention activations
  double per_expert_bytes = 0;   // training state of one expert (all layers)
  double free_bytes = 0;         // memory - shared
  int budget = 0;                // clamp(floor(free / per_expert), 0, E)
  std::string explain() const;   // one line for the log
};
BudgetDerivation derive_budget(const DeviceProfile& p, const ModelConfig& m, int batch, int seq_len);

}  // namespace hf
