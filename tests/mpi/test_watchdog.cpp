// The hang watchdog's rendezvous (mpi/watchdog.h) at 2, 3 and 5 ranks: rank 0 sees every
// executor's arrival at a step; a rank that does not arrive within the deadline is named, and
// the others are not; the next step works again after a timeout (the abandoned receive was
// cancelled, so nothing lands late); an executor is held until rank 0 has seen every arrival.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "mpi/runtime.h"
#include "mpi/watchdog.h"

namespace hf {
namespace {

TEST(Watchdog, ArrivalsAreSeenAndTheSilentRankIsNamed) {
  const int R = world_size() - 1;
  if (R < 1) GTEST_SKIP() << "needs executors (mpiexec -np 2 or more)";
  // Step 0: everyone arrives.
  if (is_server()) {
    EXPECT_TRUE(await_arrivals(0, 10.0).empty());
  } else {
    report_arrival(0);
  }
  // Step 1: the last rank stays silent; rank 0 names it and no other.
  if (is_server()) {
    EXPECT_EQ(await_arrivals(1, 0.3), std::vector<int>{R});
  } else if (world_rank() != R) {
    report_arrival(1);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  // Step 2: after the timeout, the rendezvous works again for every rank.
  if (is_server()) {
    EXPECT_TRUE(await_arrivals(2, 10.0).empty());
  } else {
    report_arrival(2);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// Step 0's executors wait in report_arrival (asleep, not inside a collective) until rank 0,
// busy for 0.3 s first (as while it evaluates), has seen them all.
TEST(Watchdog, ExecutorsAreHeldUntilRankZeroHasSeenEveryArrival) {
  if (world_size() < 2) GTEST_SKIP() << "needs executors (mpiexec -np 2 or more)";
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = std::chrono::steady_clock::now();
  if (is_server()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(await_arrivals(0, 10.0).empty());
  } else {
    report_arrival(0);
    EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.29);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace hf
