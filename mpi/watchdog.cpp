#include "mpi/watchdog.h"

#include <mpi.h>

#include <chrono>
#include <cstdlib>

#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {
namespace {
constexpr int kArrivalTag = 7101;  // apart from every other message of the job
}  // namespace

void report_arrival(int64_t step) { MPI_Send(&step, 1, MPI_INT64_T, 0, kArrivalTag, MPI_COMM_WORLD); }

std::vector<int> await_arrivals(int64_t step, double timeout_s) {
  const int R = world_size() - 1;
  std::vector<int64_t> got(R, -1);
  std::vector<MPI_Request> req(R);
  for (int r = 0; r < R; r++)
    mpi_ok(MPI_Irecv(&got[r], 1, MPI_INT64_T, r + 1, kArrivalTag, MPI_COMM_WORLD, &req[r]), "Irecv(arrival)");
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    int all = 0;
    mpi_ok(MPI_Testall(R, req.data(), &all, MPI_STATUSES_IGNORE), "Testall(arrival)");
    if (all) break;
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (timeout_s > 0 && waited > timeout_s) {
      std::vector<int> silent;
      for (int r = 0; r < R; r++) {
        int done = 0;
        mpi_ok(MPI_Test(&req[r], &done, MPI_STATUS_IGNORE), "Test(arrival)");
        if (done) continue;
        silent.push_back(r + 1);
        MPI_Cancel(&req[r]);  // `got` goes out of scope: no receive may land in it later
        MPI_Wait(&req[r], MPI_STATUS_IGNORE);
      }
      return silent;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (int r = 0; r < R; r++)
    HF_CHECK(got[r] == step, "rank %d reported step %lld while rank 0 waits for %lld", r + 1,
             static_cast<long long>(got[r]), static_cast<long long>(step));
  return {};
}

CollectiveWatch::CollectiveWatch(double timeout_s, std::string what) {
  if (timeout_s <= 0) return;
  thread_ = std::thread([this, timeout_s, what = std::move(what)] {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, std::chrono::duration<double>(timeout_s), [this] { return done_; })) return;
    // The main thread is blocked inside MPI: no MPI call from here. Exiting without
    // MPI_Finalize makes the launcher stop every rank.
    print_failed_alone(strf("%s did not complete within %.0f s (fl.round_timeout_s) although every rank had arrived: "
                            "a rank froze inside it; check the nodes, or raise fl.round_timeout_s (0 = no watchdog)",
                            what.c_str(), timeout_s),
                       kExitRuntime);
    std::_Exit(kExitRuntime);
  });
}

CollectiveWatch::~CollectiveWatch() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

}  // namespace hf
