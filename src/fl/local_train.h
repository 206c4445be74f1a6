#pragma once
// One client's local training on an executor (docs/design.md section 3): start from the global
// model, run its local steps under its method's selection, and add its weighted, expert-sparse
// update to the round's fixed-point aggregate (fl/update.h). Buffers are sized once at
// construction; train_client() allocates nothing.
//
// Everything a client does is a function of (seed, round, client, step) and the global model:
// its batches come from Rng(seed, Purpose::client_data, round, client, step) and its optimizer
// starts fresh, so it gives the same bits on whichever executor runs it (for a fixed
// OpenMP/BLAS thread count: see docs/design.md section 9).
#include <cstdint>
#include <vector>

#include "fl/clients.h"
#include "fl/memory_model.h"
#include "fl/method.h"
#include "fl/plan.h"
#include "fl/profiles.h"
#include "fl/update.h"
#include "model/adamw.h"
#include "model/model.h"

namespace hf {

struct Dataset;
class Ops;

class LocalTrainer {
 public:
  LocalTrainer(Model& model, Ops& ops, const Method& method, const FlOptions& fl, const TrainOptions& train,
               const Dataset& data, const ClientTable& clients, uint64_t seed);
  ~LocalTrainer();
  LocalTrainer(const LocalTrainer&) = delete;
  LocalTrainer& operator=(const LocalTrainer&) = delete;
  // Once per round, before its clients: global (P) is the executor's copy of the global arena.
  // On a device backend it is uploaded here, once, and every client starts from it by a device
  // copy: many clients per GPU cost one host-to-device transfer of the model per round.
  void begin_round(const float* global);
  // Trains the client of plan slot p; global: the same (P) as begin_round's.
  void train_client(int64_t round, int p, const PlanSlot& slot, const float* global, RoundUpdate& update);

 private:
  void draw_rows(int64_t round, int client, uint64_t step, int B);  // fills rows_
  void forward_batch(int64_t round, int client, uint64_t step, const ExpertControl& control);
  void report(const ClientRun& run, int p, const float* global, RoundUpdate& update);
  // Device memory of the step about to run backward (fl/memory_model.h): the batch and its
  // routed rows, the experts trained now and those trained earlier in the round.
  double step_bytes() const;

  Model& model_;
  Ops& ops_;
  const Method& method_;
  const FlOptions& fl_;
  const TrainOptions& train_;
  const Dataset& data_;
  const ClientTable& clients_;
  uint64_t seed_;
  AdamW opt_;
  MemoryModel memory_;
  int L_, E_, K_, T_;
  std::vector<Range> expert_ranges_;         // (L*E) expert_block(l, e)
  std::vector<Range> router_ranges_;         // (L)
  std::vector<Range> dense_ranges_;
  std::vector<Range> trained_;               // this step's ranges: dense, routers, A's experts
  std::vector<int32_t> tokens_, targets_, labels_;  // (B, T), (B, T), (B)
  std::vector<int64_t> rows_;                // (B)
  std::vector<int64_t> shuffle_;             // (max shard) scratch for drawing rows
  int batch_rows_ = 0;                       // rows in the current batch (min(B, |D_c|))
  ForwardResult last_;                       // of the step's final forward
  double fwd_flops_ = 0, bwd_flops_ = 0;     // of the last forward and the last backward (exact integers)
  double flops_ = 0;                         // the current client's, probes included
  std::vector<uint8_t> trainable_, routable_, trained_any_;  // (L, E)
  std::vector<double> usage_sum_, importance_sum_;               // (L, E)
  std::vector<float> usage_, importance_, gate_s_;               // (L, E), (L, E), (E)
  std::vector<float> score_;                                     // (L, E) the method's scratch
  std::vector<uint8_t> eligible_;                                // (L, E) the method's scratch
  float* global_dev_ = nullptr;  // (P) the round's global model in device memory (device backends only):
                                 // each client's starting point, and what FedProx's hook reads
  std::vector<double> expert_weight_;  // (L*E) the client's aggregation weights, report()'s scratch
  std::vector<Range> reported_;        // the ranges report() reads back: dense, routers, weighted experts
};

}  // namespace hf
