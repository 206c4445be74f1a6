#pragma once
// One federated method = a name, a few plain traits, a client-side expert selection and the
// aggregation weights with which a client's trained parameters enter the average. Each file
// in fl/methods/ is one method; fl/method.cpp registers them all in one table (method_registry)
// with their options. The machinery around them (sampling, local training, the memory rule,
// exact reduction, server update) is shared.
//
// Letters (docs/design.md section 1): L layers, E experts, K top-k, N token rows of a batch.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fl/fl_options.h"
#include "model/params.h"

namespace hf {

class Model;
class Ops;

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
  // Runs a forward-only batch among all experts (probe i of the round, its own batch key) and
  // counts its FLOPs as the client's; the model then holds its routing.
  std::function<void(int)> probe_forward;
  const float* usage = nullptr;        // (L, E) u_c(e), Eq. 16, over the round (after training)
  const float* importance = nullptr;   // (L, E) s_c(e), Eq. 3-5, mean over the round's steps
};

// A step's gradients as the gradient hook sees them (all in backend memory).
struct GradientStep {
  Ops& ops;
  float* grads;                        // (P)
  const float* params;                 // (P)
  const float* global;                 // (P) the round's global model (when traits.reads_global)
  const std::vector<Range>& trained;   // the ranges this step updates
};

// Client side: which experts a client trains and routes to, when it chooses them, in which
// order it gives them up when a step does not fit its device, and one gradient hook.
// Implementations (and AggregationWeights') keep a copy of the options they read: a Method
// may outlive the FlOptions it was made from.
class ExpertSelection {
 public:
  virtual ~ExpertSelection() = default;
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
  // round, like a device out of memory. Default: cannot (the method trains what it holds).
  virtual bool fit_memory(ClientRun& run, const Model& model, const std::function<double()>& step_bytes,
                          double limit) const {
    return false;
  }
  // After the backward, before clipping: adds a method's own term to the gradients.
  virtual void adjust_gradients(const GradientStep& step) const {}
};

// The weights a client's trained parameters enter the server's average with (Eq. 17-21),
// computed on the executor after the client's last step and summed in fixed point.
// Default (FedAvg's): every expert the client trained, and its routers, by |D_c|.
class AggregationWeights {
 public:
  virtual ~AggregationWeights() = default;
  // Eq. 17 weight w_ce of expert (l, e) (0 = the client does not report it).
  virtual double expert_weight(const ClientRun& run, int l, int e) const;
  // Weight of the client's router of layer l.
  virtual double router_weight(const ClientRun& run, int l) const { return run.data_weight; }
};

struct MethodTraits {
  bool needs_budget = true;      // a client needs C_budget >= 1 (else its profile is an impossible budget)
  bool memory_bound = true;      // fl.memory_check=enforce binds it (false: fedavg_unbounded, the upper bound)
  bool strict_routing = false;   // tokens route only among the client's experts (needs C_budget >= top_k)
  bool trains_all_experts = false;  // uploads every expert (for the predicted virtual time)
  bool raw_gate_sum = false;     // Eq. 21 as printed (gate = sum_c alpha(c) W_c, not normalised)
  bool reads_global = false;     // the gradient hook reads the global model (kept in backend memory)
};

struct Method {
  std::string name;
  MethodTraits traits;
  std::unique_ptr<ExpertSelection> selection;
  std::unique_ptr<AggregationWeights> weights;
  // Experts per layer a client may upload (for the predicted virtual time).
  int upload_experts(int budget, int E) const { return traits.trains_all_experts || budget > E ? E : budget; }
};

// The registry: one row per method, the only place a method is named.
struct MethodInfo {
  const char* name;
  Method (*make)(const FlOptions& fl);
  // The method's own options ([fl] keys): declared and checked by its file (may be null).
  void (*add_options)(Options& o, FlOptions& fl);
  void (*check_options)(FlOptions& fl);
};
const std::vector<MethodInfo>& method_registry();
std::vector<std::string> method_names();
Method make_method(const FlOptions& fl);

// The shared select step: the budget placed by run.score among `eligible` (nullptr: all) into
// run.trainable (fl/selection.h), mirrored into run.routable under strict routing, where each
// layer keeps at least top_k.
void place_by_score(ClientRun& run, const uint8_t* eligible, BudgetScope scope);
// The shared shrink: drops trainable experts in `order` (first dropped first) until
// step_bytes() <= limit; false when none is left to drop. Not under strict routing, where the
// batch was already routed among the choice.
bool drop_until_fits(ClientRun& run, const std::vector<int>& order, const std::function<double()>& step_bytes,
                     double limit);

}  // namespace hf
