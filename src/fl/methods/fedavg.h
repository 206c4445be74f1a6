#pragma once
// FedAvg (McMahan et al. 2017) over the whole MoE, the base of FedProx: every expert is trained
// (its state held all round) and every parameter is averaged by |D_c|. bounded (fl.method=fedavg):
// the memory rule binds it like every method, and since it trains the whole model it cannot
// shrink: a client whose device cannot hold the whole model's training state fails the round
// (the paper's motivation). fedavg_unbounded ignores memory: the upper bound.
#include <cstring>

#include "fl/method.h"

namespace hf {

class FedAvg : public Method {
 public:
  FedAvg(const FlOptions& fl, bool bounded) : Method(fl), bounded_(bounded) {}
  const char* name() const override { return bounded_ ? "fedavg" : "fedavg_unbounded"; }
  bool needs_budget() const override { return false; }
  bool memory_bound() const override { return bounded_; }
  bool routes_within_budget() const override { return false; }
  int upload_experts(int, int E) const override { return E; }
  void choose(ClientRun& run, const Model&) const override {
    std::memset(run.trainable, 1, static_cast<size_t>(run.L) * run.E);
  }
  double expert_weight(const ClientRun& run, int, int) const override { return run.data_weight; }

 private:
  bool bounded_;
};

}  // namespace hf
