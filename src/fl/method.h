#pragma once
// One interface for every federated method; each file in fl/methods/ is one method and
// differs from the others only in its selection policy (which experts a client trains and
// routes to, and in which order it gives them up when a step does not fit its device) and its
// aggregation policy (the weights with which it reports them). The machinery around it
// (sampling, local training, the memory rule, exact reduction, server update) is shared.
//
// Dimensions: L layers, E experts, K top-k, N tokens of the batch (B*T).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fl/fl_options.h"

namespace hf {

class Model;

// One client's round as the method sees it (executor side). The trainer owns the buffers
// (sized once); the method fills the masks and reads the statistics.
struct ClientRun {
  int64_t round = 0;
  int64_t step = 0;              // the local step being chosen for
  int client = 0;
  int budget = 0;                // C_budget(c), experts per layer
  double data_weight = 0;        // |D_c| scaled into (0, 1] (fl/fixed_point.h)
  uint64_t seed = 0;
  int L = 0, E = 0, K = 0;
  uint8_t* trainable = nullptr;  // (L, E) the experts the step updates (A of Eq. 15)
  uint8_t* routable = nullptr;   // (L, E) experts tokens may route to (strict budgets)
  bool use_routable = false;     // pass routable to the model (else route among all E)
  uint8_t* trained_any = nullptr;  // (L, E) trained in some step of this round (the trainer ORs trainable in)
  float* score = nullptr;          // (L, E) scratch for the method's selection order
  uint8_t* eligible = nullptr;     // (L, E) scratch
  const double* probe_freq = nullptr;  // (L, E) top-k hits per token over the probe batches
  const float* usage = nullptr;        // (L, E) u_c(e), Eq. 16, over the round (after training)
  const float* importance = nullptr;   // (L, E) s_c(e), Eq. 3-5, mean over the round's steps
};

class Method {
 public:
  explicit Method(const FlOptions& fl) : fl_(fl) {}
  virtual ~Method() = default;
  virtual const char* name() const = 0;
  // True when a client needs C_budget >= 1 (else its profile is an impossible budget).
  virtual bool needs_budget() const { return true; }
  // False for the upper bound (fedavg_unbounded): fl.memory_check=enforce does not bind it.
  virtual bool memory_bound() const { return true; }
  // True when tokens route only among the client's experts (needs C_budget >= top_k).
  virtual bool routes_within_budget() const { return fl_.budget_mode_v == BudgetMode::strict; }
  // Experts per layer a client may upload (for the predicted virtual time).
  virtual int upload_experts(int budget, int E) const { return budget < E ? budget : E; }
  // Forward-only batches to run before training, whose routing fills run.probe_freq (FedMoE).
  virtual int probe_batches() const { return 0; }
  // Whether local step `step` chooses its experts anew (else it keeps the previous step's).
  virtual bool chooses_at(int64_t step) const { return step == 0; }
  // Whether the choice reads the step's routing: the trainer runs the forward first (among all
  // experts), and again among the choice under strict routing. Else it chooses before the forward.
  virtual bool chooses_from_routing() const { return false; }
  // Fills run.trainable, and run.routable under strict routing. model: after the step's forward
  // when chooses_from_routing(), else whatever the model last ran.
  virtual void choose(ClientRun& run, const Model& model) const = 0;
  // The memory rule, after choose(), when the step would hold more than the client's device
  // memory (limit bytes; step_bytes() recomputes it from run.trainable): unmark trainable
  // experts in the method's own order until it fits. False when it cannot: the client fails the
  // round, like a device out of memory. Default: cannot (FedAvg trains what it holds).
  virtual bool fit_memory(ClientRun& run, const Model& model, const std::function<double()>& step_bytes,
                          double limit) const {
    return false;
  }
  // Aggregation policy, after the client's last step.
  // Eq. 17 weight w_ce of expert (l, e) (0 = the client does not report it).
  virtual double expert_weight(const ClientRun& run, int l, int e) const = 0;
  // Weight of the client's router of layer l (FedAvg: |D_c|; HFedMoE: alpha(c) of Eq. 18-21 times |S|).
  virtual double router_weight(const ClientRun& run, int l) const { return run.data_weight; }
  // Eq. 21 as printed (gate = sum_c alpha(c) W_c, not normalised): HFedMoE with gate_agg=raw_sum.
  virtual bool raw_gate_sum() const { return false; }
  // FedProx: mu of the proximal term mu/2 |w - w_global|^2 on the trained parameters.
  virtual float prox_mu() const { return 0.0f; }

 protected:
  // Strict routing needs top_k experts per layer; mask routing none.
  int min_per_layer(const ClientRun& run) const { return run.use_routable ? run.K : 0; }
  // Drops trainable experts in `order` (ascending keep-priority: first dropped first) until
  // step_bytes() <= limit; false when none is left to drop. Not under strict routing, where the
  // batch was already routed among the choice.
  static bool drop_until_fits(ClientRun& run, const std::vector<int>& order, const std::function<double()>& step_bytes,
                              double limit);
  const FlOptions& fl_;
};

std::unique_ptr<Method> make_method(const FlOptions& fl);
std::vector<std::string> method_names();

}  // namespace hf
