// MPI-aware GoogleTest main: every rank runs every test; only rank 0 prints the usual
// report, other ranks print only their failures; the failure count is summed over ranks
// and the exit code of every rank is non-zero if any rank failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include "mpi/runtime.h"

namespace {

// Prints a rank's failed assertions (non-zero ranks are otherwise silent).
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  hf::mpi_start(&argc, &argv);
  int rank = hf::world_rank();
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0, any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    std::printf("%d of %d ranks had failures\n", any_failed, hf::world_size());
  hf::mpi_stop();
  return any_failed ? 1 : 0;
}
