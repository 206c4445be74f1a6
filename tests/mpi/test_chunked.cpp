// MPI transfers of any length (mpi/chunked.h): with the message limit forced down to a few
// thousand elements, buffers of millions of elements cross in many calls, and every rank ends
// with exactly the bits one call would have given: broadcasts, int64 sums, bitwise ors and
// point-to-point messages; lengths that are and are not multiples of the limit.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "mpi/chunked.h"
#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {
namespace {

// Forces the limit for one test, restores it afterwards.
class SmallMessages {
 public:
  explicit SmallMessages(size_t limit) : previous_(set_mpi_message_limit(limit)) {}
  ~SmallMessages() { set_mpi_message_limit(previous_); }

 private:
  size_t previous_;
};

constexpr size_t kLimit = 4093;                 // a prime: chunks straddle every pattern below
constexpr size_t kLarge = 3 * 1000 * 1000 + 7;  // about 733 chunks

// A value no other (rank, i) gives, using the whole int64 range.
int64_t word(int rank, size_t i) { return (static_cast<int64_t>(rank + 1) << 40) - static_cast<int64_t>(i * 2654435761u); }

TEST(MpiChunked, ReduceSumOfManyChunksIsTheExactSum) {
  SmallMessages small(kLimit);
  for (size_t n : {kLarge, 5 * kLimit, size_t{1}, size_t{0}}) {
    std::vector<int64_t> buf(n);
    for (size_t i = 0; i < n; i++) buf[i] = word(world_rank(), i);
    reduce_sum_chunked(buf.data(), n, 0, MPI_COMM_WORLD, "Reduce(test)");
    for (size_t i = 0; i < n; i++) {
      int64_t want = word(world_rank(), i);  // the others' buffers stay as they were
      if (is_server())
        for (int r = 1; r < world_size(); r++) want += word(r, i);
      ASSERT_EQ(buf[i], want) << "n " << n << ", element " << i;
    }
  }
}

TEST(MpiChunked, BroadcastOfManyChunksDeliversTheRootsBits) {
  SmallMessages small(kLimit);
  std::vector<float> buf(kLarge);
  for (size_t i = 0; i < kLarge; i++) buf[i] = is_server() ? 1.0f / static_cast<float>(i + 1) : -1.0f;
  bcast_chunked(buf.data(), buf.size(), MPI_FLOAT, 0, MPI_COMM_WORLD, "Bcast(test)");
  for (size_t i = 0; i < kLarge; i++) ASSERT_EQ(buf[i], 1.0f / static_cast<float>(i + 1)) << "element " << i;
}

TEST(MpiChunked, BitwiseOrOfManyChunks) {
  SmallMessages small(kLimit);
  const size_t n = 3 * kLimit + 1;
  std::vector<uint8_t> buf(n);
  for (size_t i = 0; i < n; i++) buf[i] = static_cast<uint8_t>(i % static_cast<size_t>(world_size()) == static_cast<size_t>(world_rank()));
  allreduce_bor_chunked(buf.data(), n, MPI_COMM_WORLD, "Allreduce(test)");
  for (size_t i = 0; i < n; i++) ASSERT_EQ(buf[i], 1) << "element " << i;
}

TEST(MpiChunked, SendAndReceiveOfManyChunks) {
  SmallMessages small(kLimit);
  std::vector<int64_t> buf(kLarge);
  if (world_rank() == 1) {
    for (size_t i = 0; i < kLarge; i++) buf[i] = word(1, i);
    send_chunked(buf.data(), kLarge, MPI_INT64_T, 0, 77, MPI_COMM_WORLD, "Send(test)");
  }
  if (is_server()) {
    recv_chunked(buf.data(), kLarge, MPI_INT64_T, 1, 77, MPI_COMM_WORLD, "Recv(test)");
    for (size_t i = 0; i < kLarge; i++) ASSERT_EQ(buf[i], word(1, i)) << "element " << i;
  }
}

TEST(MpiChunked, LimitOutsideAnIntIsRefused) {
  EXPECT_THROW(set_mpi_message_limit(0), Error);
  EXPECT_THROW(set_mpi_message_limit(size_t{1} << 31), Error);
  EXPECT_EQ(mpi_message_limit(), size_t{1} << 24);
}

}  // namespace
}  // namespace hf
