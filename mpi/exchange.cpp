#include "mpi/exchange.h"

#include <cstring>

#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {

Exchange::Exchange(const RoundUpdate& u, int max_slots, const std::string& mode, int device)
    : executors_(world_size() > 1 ? world_size() - 1 : 1), max_slots_(max_slots) {
  pack_.resize(packed_size(u, max_slots, u.L * u.E));
  masks_.resize(2 * static_cast<size_t>(u.L) * u.E);
  size_t arena = u.D + static_cast<size_t>(u.L) * (u.RC + u.E * u.S);
  payload_.resize(arena);
  flags_.resize(u.L + 1);
  ranges_.reserve(u.dense.size() + static_cast<size_t>(u.L) * (1 + u.E));
  transport_ = open_exchange_transport(mode, device, pack_.size(), payload_.size());
}

size_t Exchange::packed_size(const RoundUpdate& u, int slots, int experts) const {
  return static_cast<size_t>(slots) * (kSlotFields + 2 * u.L * u.E) + static_cast<size_t>(u.K) * u.L * u.E + u.L +
         static_cast<size_t>(u.L) * u.RC + 1 + u.D + static_cast<size_t>(experts) * (1 + u.S);
}

RoundPlan Exchange::broadcast_plan(const RoundPlan& plan) {
  std::vector<int64_t> buf = is_server() ? plan.serialize(max_slots_) : std::vector<int64_t>(6 + 5 * max_slots_);
  mpi_ok(MPI_Bcast(buf.data(), mpi_count(buf.size(), "Bcast(plan)"), MPI_INT64_T, 0, MPI_COMM_WORLD), "Bcast(plan)");
  bytes_.down += executors_ * static_cast<int64_t>(buf.size() * sizeof(int64_t));
  bytes_.dense_equiv += executors_ * static_cast<int64_t>(buf.size() * sizeof(int64_t));
  return RoundPlan::deserialize(buf);
}

void Exchange::reduce_update(RoundUpdate& u) {
  const size_t LE = static_cast<size_t>(u.L) * u.E;
  // a. agree on the touched experts and the kept union
  std::memcpy(masks_.data(), u.touched.data(), LE);
  std::memcpy(masks_.data() + LE, u.kept.data(), LE);
  mpi_ok(MPI_Allreduce(MPI_IN_PLACE, masks_.data(), static_cast<int>(masks_.size()), MPI_UNSIGNED_CHAR, MPI_BOR,
                       MPI_COMM_WORLD), "Allreduce(masks)");
  std::memcpy(u.touched.data(), masks_.data(), LE);
  std::memcpy(u.kept.data(), masks_.data() + LE, LE);
  int experts = 0;
  for (size_t i = 0; i < LE; i++) experts += u.touched[i];

  // b. pack, reduce, unpack
  size_t n = packed_size(u, u.P, experts);
  int64_t* b = pack_.data();
  auto put = [&b](const int64_t* src, size_t k) {
    std::memcpy(b, src, k * sizeof(int64_t));
    b += k;
  };
  put(u.slots.data(), static_cast<size_t>(u.P) * kSlotFields);
  put(u.slot_state.data(), static_cast<size_t>(u.P) * 2 * LE);
  put(u.class_trained.data(), u.K * LE);
  put(u.router_w.data(), u.L);
  put(u.router_sum.data(), static_cast<size_t>(u.L) * u.RC);
  put(&u.dense_w, 1);
  put(u.dense_sum.data(), u.D);
  for (size_t i = 0; i < LE; i++)
    if (u.touched[i]) {
      put(&u.expert_w[i], 1);
      put(u.expert_sum.data() + i * u.S, u.S);
    }
  HF_CHECK(static_cast<size_t>(b - pack_.data()) == n, "packed %zu of %zu", static_cast<size_t>(b - pack_.data()), n);
  transport_->reduce_to_server(pack_.data(), n);
  int64_t up = executors_ * static_cast<int64_t>(masks_.size() + n * sizeof(int64_t));
  bytes_.up += up;
  bytes_.down += executors_ * static_cast<int64_t>(masks_.size());
  bytes_.dense_equiv += executors_ * static_cast<int64_t>(2 * masks_.size() + packed_size(u, u.P, static_cast<int>(LE)) * sizeof(int64_t));
  if (!is_server()) return;
  const int64_t* r = pack_.data();
  auto get = [&r](int64_t* dst, size_t k) {
    std::memcpy(dst, r, k * sizeof(int64_t));
    r += k;
  };
  get(u.slots.data(), static_cast<size_t>(u.P) * kSlotFields);
  get(u.slot_state.data(), static_cast<size_t>(u.P) * 2 * LE);
  get(u.class_trained.data(), u.K * LE);
  get(u.router_w.data(), u.L);
  get(u.router_sum.data(), static_cast<size_t>(u.L) * u.RC);
  get(&u.dense_w, 1);
  get(u.dense_sum.data(), u.D);
  for (size_t i = 0; i < LE; i++)
    if (u.touched[i]) {
      get(&u.expert_w[i], 1);
      get(u.expert_sum.data() + i * u.S, u.S);
    }
}

void Exchange::broadcast_changes(const RoundUpdate& u, Changes& ch, float* params, const ParamTable& table) {
  // flags: routers (L) and dense (1)
  std::vector<uint8_t>& flags = flags_;
  std::fill(flags.begin(), flags.end(), 0);
  if (is_server()) {
    std::memcpy(flags.data(), ch.router.data(), u.L);
    flags[u.L] = ch.dense;
  }
  mpi_ok(MPI_Bcast(flags.data(), u.L + 1, MPI_UNSIGNED_CHAR, 0, MPI_COMM_WORLD), "Bcast(flags)");
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
  mpi_ok(MPI_Bcast(params, mpi_count(n, "model"), MPI_FLOAT, 0, MPI_COMM_WORLD), "Bcast(model)");
}

Exchange::Bytes Exchange::take_bytes() {
  Bytes b = bytes_;
  bytes_ = Bytes{};
  return b;
}

}  // namespace hf
