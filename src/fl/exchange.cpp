#include "fl/exchange.h"

#include <algorithm>
#include <cstring>

#include "mpi/chunked.h"
#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {

namespace {

// A walk over a list of sections in order, element by element across their boundaries: pack
// copies the next k elements of the sections into a chunk, unpack a chunk into the next k, and
// apply hands the next k to the server's aggregator where a section is a sum (the rest unpacked).
class SectionCursor {
 public:
  SectionCursor(const std::vector<Exchange::Section>& sections, size_t element_bytes)
      : sections_(sections), element_bytes_(element_bytes) {}
  void pack(void* chunk, size_t k) {
    char* out = static_cast<char*>(chunk);
    walk(k, [&out](char* section, size_t bytes) {
      std::memcpy(out, section, bytes);
      out += bytes;
    });
  }
  void unpack(const void* chunk, size_t k) {
    const char* in = static_cast<const char*>(chunk);
    walk(k, [&in](char* section, size_t bytes) {
      std::memcpy(section, in, bytes);
      in += bytes;
    });
  }
  void apply(const int64_t* chunk, size_t k, const RoundUpdate& u, ServerAggregator& agg, float* params) {
    walk(k, [&](char* section, size_t bytes) {
      const size_t words = bytes / sizeof(int64_t);
      if (target_.kind == SumTarget::none)
        std::memcpy(section, chunk, bytes);
      else
        agg.apply_part(u, target_, at_, chunk, words, params);
      chunk += words;
    });
  }

 private:
  template <class Copy>
  void walk(size_t k, Copy copy) {
    while (k > 0) {
      const Exchange::Section& s = sections_[i_];
      const size_t take = std::min(k, s.count - at_);
      target_ = s.target;
      copy(static_cast<char*>(s.data) + at_ * element_bytes_, take * element_bytes_);
      k -= take;
      at_ += take;
      if (at_ == s.count) i_++, at_ = 0;
    }
  }
  const std::vector<Exchange::Section>& sections_;
  size_t element_bytes_;
  size_t i_ = 0, at_ = 0;  // the next element: section i_, element at_
  SumTarget target_;       // section i_'s
};

}  // namespace

Exchange::Exchange(RoundUpdate& u, int max_slots, const std::string& mode, int device, size_t chunk_bytes)
    : executors_(world_size() > 1 ? world_size() - 1 : 1), max_slots_(max_slots) {
  HF_CHECK(chunk_bytes >= sizeof(int64_t), "exchange chunk of %zu bytes holds no word", chunk_bytes);
  chunk_.resize(std::min(chunk_bytes / sizeof(int64_t), u.wire_words(max_slots, nullptr)));
  masks_.resize(2 * static_cast<size_t>(u.L) * u.E);
  payload_floats_ = u.PD + static_cast<size_t>(u.L) * (u.PR + u.E * u.PE);
  payload_.resize(std::min(chunk_bytes / sizeof(float), payload_floats_));
  flags_.resize(u.L + 1);
  ranges_.reserve(u.dense.size() + static_cast<size_t>(u.L) * (1 + u.E));
  transport_ = open_exchange_transport(mode, device, chunk_.size(), payload_.size());
}

RoundPlan Exchange::broadcast_plan(const RoundPlan& plan) {
  std::vector<int64_t> buf = is_server() ? plan.serialize(max_slots_) : std::vector<int64_t>(plan_words(max_slots_));
  bcast_chunked(buf.data(), buf.size(), MPI_INT64_T, 0, MPI_COMM_WORLD, "Bcast(plan)");
  bytes_.down += executors_ * static_cast<int64_t>(buf.size() * sizeof(int64_t));
  bytes_.dense_equiv += executors_ * static_cast<int64_t>(buf.size() * sizeof(int64_t));
  return RoundPlan::deserialize(buf);
}

void Exchange::reduce_update(RoundUpdate& u, ServerAggregator* agg, float* params) {
  HF_CHECK(!is_server() || agg, "the server's reduce_update needs the aggregator that applies the sums");
  const size_t LE = static_cast<size_t>(u.L) * u.E;
  // a. agree on the touched experts and the kept union
  std::memcpy(masks_.data(), u.touched.data(), LE);
  std::memcpy(masks_.data() + LE, u.kept.data(), LE);
  allreduce_bor_chunked(masks_.data(), masks_.size(), MPI_COMM_WORLD, "Allreduce(masks)");
  std::memcpy(u.touched.data(), masks_.data(), LE);
  std::memcpy(u.kept.data(), masks_.data() + LE, LE);

  // b. pack the sections with the touched experts into chunks, reduce each onto rank 0, which
  //    applies it by the same list as it arrives
  sections_.clear();
  u.for_each_section(u.n_slots, u.touched.data(), [this](void* data, size_t k, const SumTarget& t) {
    if (k > 0) sections_.push_back({data, k, t});  // a round of 0 slots: data() may be null
  });
  size_t n = 0;
  for (const Section& s : sections_) n += s.count;
  SectionCursor packer(sections_, sizeof(int64_t)), receiver(sections_, sizeof(int64_t));
  for (size_t at = 0; at < n; at += chunk_.size()) {
    const size_t k = std::min(chunk_.size(), n - at);
    packer.pack(chunk_.data(), k);
    transport_->reduce_to_server(chunk_.data(), k);
    if (is_server()) receiver.apply(chunk_.data(), k, u, *agg, params);
  }
  bytes_.up += executors_ * static_cast<int64_t>(masks_.size() + n * sizeof(int64_t));
  bytes_.down += executors_ * static_cast<int64_t>(masks_.size());
  bytes_.dense_equiv += executors_ * static_cast<int64_t>(2 * masks_.size() + u.wire_words(u.n_slots, nullptr) * sizeof(int64_t));
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
  // the changed ranges, in a fixed order every rank derives from (flags, touched), travel in
  // chunks of payload_: rank 0 packs each, every rank receives it and unpacks it
  std::vector<Range>& ranges = ranges_;
  ranges.clear();
  for (int l = 0; l < u.L; l++)
    if (flags[l]) ranges.push_back(table.router(l));
  if (flags[u.L]) ranges.insert(ranges.end(), u.dense.begin(), u.dense.end());
  for (int l = 0; l < u.L; l++)
    for (int e = 0; e < u.E; e++)
      if (u.touched[l * u.E + e]) ranges.push_back(table.expert_block(l, e));
  size_t n = 0;
  sections_.clear();
  for (const Range& r : ranges) {
    sections_.push_back({params + r.begin, r.size(), SumTarget{}});
    n += r.size();
  }
  SectionCursor cursor(sections_, sizeof(float));
  for (size_t at = 0; at < n; at += payload_.size()) {
    const size_t k = std::min(payload_.size(), n - at);
    if (is_server()) cursor.pack(payload_.data(), k);
    transport_->broadcast_from_server(payload_.data(), k);
    if (!is_server()) cursor.unpack(payload_.data(), k);
  }
  if (!is_server()) {
    ch.router.assign(flags.begin(), flags.begin() + u.L);
    ch.dense = flags[u.L];
  }
  bytes_.down += executors_ * static_cast<int64_t>(flags.size() + n * sizeof(float));
  bytes_.dense_equiv += executors_ * static_cast<int64_t>(flags.size() + payload_floats_ * sizeof(float));
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
