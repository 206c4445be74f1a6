#include "fl/exchange.h"

#include <cstring>

#include "mpi/chunked.h"
#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {

Exchange::Exchange(RoundUpdate& u, int max_slots, const std::string& mode, int device)
    : executors_(world_size() > 1 ? world_size() - 1 : 1), max_slots_(max_slots) {
  pack_.resize(u.wire_words(max_slots, nullptr));
  masks_.resize(2 * static_cast<size_t>(u.L) * u.E);
  payload_.resize(u.PD + static_cast<size_t>(u.L) * (u.PR + u.E * u.PE));
  flags_.resize(u.L + 1);
  ranges_.reserve(u.dense.size() + static_cast<size_t>(u.L) * (1 + u.E));
  transport_ = open_exchange_transport(mode, device, pack_.size(), payload_.size());
}

RoundPlan Exchange::broadcast_plan(const RoundPlan& plan) {
  std::vector<int64_t> buf = is_server() ? plan.serialize(max_slots_) : std::vector<int64_t>(plan_words(max_slots_));
  bcast_chunked(buf.data(), buf.size(), MPI_INT64_T, 0, MPI_COMM_WORLD, "Bcast(plan)");
  bytes_.down += executors_ * static_cast<int64_t>(buf.size() * sizeof(int64_t));
  bytes_.dense_equiv += executors_ * static_cast<int64_t>(buf.size() * sizeof(int64_t));
  return RoundPlan::deserialize(buf);
}

void Exchange::reduce_update(RoundUpdate& u) {
  const size_t LE = static_cast<size_t>(u.L) * u.E;
  // a. agree on the touched experts and the kept union
  std::memcpy(masks_.data(), u.touched.data(), LE);
  std::memcpy(masks_.data() + LE, u.kept.data(), LE);
  allreduce_bor_chunked(masks_.data(), masks_.size(), MPI_COMM_WORLD, "Allreduce(masks)");
  std::memcpy(u.touched.data(), masks_.data(), LE);
  std::memcpy(u.kept.data(), masks_.data() + LE, LE);

  // b. pack the sections with the touched experts, reduce, unpack by the same list
  const size_t n = u.wire_words(u.n_slots, u.touched.data());
  int64_t* b = pack_.data();
  u.for_each_section(u.n_slots, u.touched.data(), [&b](const void* src, size_t k) {
    if (k > 0) std::memcpy(b, src, k * sizeof(int64_t));  // a round of 0 slots: data() may be null
    b += k;
  });
  transport_->reduce_to_server(pack_.data(), n);
  bytes_.up += executors_ * static_cast<int64_t>(masks_.size() + n * sizeof(int64_t));
  bytes_.down += executors_ * static_cast<int64_t>(masks_.size());
  bytes_.dense_equiv += executors_ * static_cast<int64_t>(2 * masks_.size() + u.wire_words(u.n_slots, nullptr) * sizeof(int64_t));
  if (!is_server()) return;
  const int64_t* r = pack_.data();
  u.for_each_section(u.n_slots, u.touched.data(), [&r](void* dst, size_t k) {
    if (k > 0) std::memcpy(dst, r, k * sizeof(int64_t));
    r += k;
  });
}

void Exchange::broadcast_changes(const RoundUpdate& u, Changes& ch, float* params, const ParamTable& table) {
  // flags: routers (L) and dense (1)
  std::vector<uint8_t>& flags = flags_;
  std::fill(flags.begin(), flags.end(), 0);
  if (is_server()) {
    std::memcpy(flags.data(), ch.router.data(), u.L);
    flags[u.L] = ch.dense;
  }
  bcast_chunked(flags.data(), flags.size(), MPI_UNSIGNED_CHAR, 0, MPI_COMM_WORLD, "Bcast(flags)");
  // the changed ranges, in a fixed order every rank derives from (flags, touched)
  std::vector<Range>& ranges = ranges_;
  ranges.clear();
  for (int l = 0; l < u.L; l++)
    if (flags[l]) ranges.push_back(table.router(l));
  if (flags[u.L]) ranges.insert(ranges.end(), u.dense.begin(), u.dense.end());
  for (int l = 0; l < u.L; l++)
    for (int e = 0; e < u.E; e++)
      if (u.touched[l * u.E + e]) ranges.push_back(table.expert_block(l, e));
  size_t n = 0;
  for (const Range& r : ranges) n += r.size();
  if (is_server()) {
    float* p = payload_.data();
    for (const Range& r : ranges) p = std::copy(params + r.begin, params + r.end, p);
  }
  transport_->broadcast_from_server(payload_.data(), n);
  if (!is_server()) {
    const float* p = payload_.data();
    for (const Range& r : ranges) {
      std::copy(p, p + r.size(), params + r.begin);
      p += r.size();
    }
    ch.router.assign(flags.begin(), flags.begin() + u.L);
    ch.dense = flags[u.L];
  }
  bytes_.down += executors_ * static_cast<int64_t>(flags.size() + n * sizeof(float));
  bytes_.dense_equiv += executors_ * static_cast<int64_t>(flags.size() + payload_.size() * sizeof(float));
}

void Exchange::broadcast_model(float* params, size_t n) {
  if (world_size() == 1) return;
  bcast_chunked(params, n, MPI_FLOAT, 0, MPI_COMM_WORLD, "Bcast(model)");
}

Exchange::Bytes Exchange::take_bytes() {
  Bytes b = bytes_;
  bytes_ = Bytes{};
  return b;
}

}  // namespace hf
