#include <gtest/gtest.h>

#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {
namespace {

TEST(MpiRuntime, CollectivelyReturnsWhenNoRankFails) {
  int calls = 0;
  EXPECT_NO_THROW(collectively([&] { calls++; }));
  EXPECT_EQ(calls, 1);
}

TEST(MpiRuntime, EveryRankGetsTheLowestFailingRanksError) {
  int size = world_size();
  ASSERT_GE(size, 2) << "run this test with 2 or more ranks";
  // Ranks 1 and the last fail with different messages and codes; all must see rank 1's.
  try {
    collectively([&] {
      if (world_rank() == 1) fail("rank one broke", "fix rank one", kExitUsage);
      if (world_rank() == size - 1 && size > 2) throw Error("last rank broke", kExitRuntime);
    });
    FAIL() << "no error reached rank " << world_rank();
  } catch (const Error& e) {
    EXPECT_TRUE(e.agreed);
    EXPECT_EQ(std::string(e.what()), "rank one broke; fix rank one");
    EXPECT_EQ(e.exit_code, kExitUsage);
  }
}

TEST(MpiRuntime, RanksAgreeOnWorldSize) {
  int size = world_size(), max_size = 0;
  MPI_Allreduce(&size, &max_size, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  EXPECT_EQ(size, max_size);
  EXPECT_EQ(is_server(), world_rank() == 0);
}

}  // namespace
}  // namespace hf
