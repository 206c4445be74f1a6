#pragma once
// The federated exchange between rank 0 (server) and ranks 1..R (executors). Every call is
// collective over MPI_COMM_WORLD. In a single process (no executors) the same calls run with
// one rank: no data moves and the byte counts are those of one in-process executor.
//
// Per round, in order:
//  1. broadcast_plan    server -> all: the round plan, fixed size (fl/plan.h, plan_words)
//  2. reduce_update     executors -> server, expert-sparse:
//       a. MPI_Allreduce(BOR) of two (L*E) byte masks: touched (some client reported the
//          expert) and kept (u_c(e) >= tau somewhere: the union S of Eq. 18-21)
//       b. each rank packs the int64 sections of RoundUpdate::for_each_section (fl/update.h)
//          with the touched experts only, in chunks of fl.exchange_chunk_mb, and the transport
//          sums the executors' chunks onto rank 0 (a blocking MPI_Reduce per chunk), which
//          applies the sums in each chunk to the model as it arrives
//          (ServerAggregator::apply_part) and unpacks the rest: a rank holds one chunk, not a
//          copy of every sum, and rank 0 holds no expert sums. Open MPI 4.1's non-blocking
//          MPI_Ireduce (libnbc) was measured 6-10x slower than MPI_Reduce for 64 MiB on one
//          node, more than packing the next chunk meanwhile could win back (design section 4).
//       No per-client tensor crosses the wire: executors pre-aggregate their clients.
//     Executors hold sums only for the experts their clients touched (RoundUpdate's pool);
//     an expert touched elsewhere is packed from zeros.
//  3. broadcast_changes server -> all: (L+1) bytes of flags (routers, dense changed) over MPI,
//       then the transport carries fp32 [changed routers | dense if changed | touched experts
//       in (l, e) order] from rank 0 to every executor, in chunks of the same size as the
//       reduce's, packed on rank 0 and unpacked on arrival.
// The transport (fl.exchange = auto | mpi | nccl; mpi/exchange_transport.h, chosen by
// mpi/exchange_path.h) moves typed buffers and knows nothing of what they hold: MPI_Reduce / MPI_Bcast over host buffers, or NCCL among executors on
// distinct GPUs with the server on the CPU: ncclReduce onto the leader (rank 1), leader ->
// server by MPI_Send, server -> leader by MPI_Send, ncclBroadcast from the leader. The int64
// sums are exact, so both transports give the same aggregate, bit for bit.
//
// Bytes (Exchange::Bytes) count each executor's share of the buffers, the same on both paths:
//   up   = R * (masks + packed int64 buffer)
//   down = R * (plan + masks + flags + fp32 payload)
//   dense_equiv = the same exchange if every expert were touched (what FedAvg over the whole
//   model moves through this same protocol).
// On MPI that is what the executors pass to MPI. On NCCL the same R buffers travel once per
// executor, R - 1 of them through NCCL's reduce or broadcast and one over MPI between the
// leader and the server; the traffic NCCL's ring or tree algorithm puts on each link depends
// on the algorithm it picks and is not counted.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fl/aggregate.h"
#include "fl/plan.h"
#include "fl/update.h"
#include "mpi/exchange_transport.h"

namespace hf {

class Exchange {
 public:
  struct Bytes {
    int64_t up = 0, down = 0, dense_equiv = 0;
  };

  // Default of chunk_bytes (fl.exchange_chunk_mb).
  static constexpr size_t kDefaultChunkBytes = size_t{64} << 20;
  // One section of a transfer: count elements at data (8-byte words of RoundUpdate::for_each_section
  // for the reduce, floats of a changed range for the broadcast).
  struct Section {
    void* data;
    size_t count;
    SumTarget target;  // the reduce's sums: what they update on the server
  };

  // Collective: also chooses and opens the transport (mode: fl.exchange; device: this rank's
  // CUDA ordinal or -1 for the CPU) and logs the choice on rank 0. chunk_bytes: the packed
  // buffer travels in chunks of this many bytes (at least one word); any size gives the same bits.
  Exchange(RoundUpdate& shape, int max_slots, const std::string& mode, int device,
           size_t chunk_bytes = kDefaultChunkBytes);

  RoundPlan broadcast_plan(const RoundPlan& plan);  // plan: read on rank 0 only
  // Executors: agg = nullptr. Rank 0: applies every reduced chunk of sums to params through agg
  // as it arrives (and unpacks the rest into u), so it never holds the round's sums; then
  // agg->changes(u) says what changed.
  void reduce_update(RoundUpdate& u, ServerAggregator* agg = nullptr, float* params = nullptr);
  // Rank 0: params hold the new values; others: receive them into params (P floats).
  void broadcast_changes(const RoundUpdate& u, Changes& ch, float* params, const ParamTable& table);
  // The whole arena, rank 0 -> all (start and resume). Not counted in round bytes.
  void broadcast_model(float* params, size_t n);

  Bytes take_bytes();  // this round's counts, then reset

 private:
  int executors_;  // R, or 1 for the in-process executor
  int max_slots_;
  std::vector<int64_t> chunk_;      // (min(chunk, the largest buffer)) one chunk of the reduce
  std::vector<Section> sections_;   // this round's wire (reduce) or changed ranges (broadcast), in order
  std::vector<uint8_t> masks_;
  size_t payload_floats_;        // the broadcast's floats when everything changed
  std::vector<float> payload_;  // (min(chunk, payload_floats_)) one chunk of the broadcast
  std::vector<uint8_t> flags_;  // (L + 1)
  std::vector<Range> ranges_;   // the changed ranges of a broadcast
  std::unique_ptr<ExchangeTransport> transport_;  // the two large transfers: MPI or NCCL
  Bytes bytes_;
};

}  // namespace hf
