#include "mpi/watchdog.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {
namespace {
// Apart from every other message of the job (the NCCL transport's leader uses 7101 and 7102).
constexpr int kArrivalTag = 7201, kReleaseTag = 7202;
constexpr auto kPoll = std::chrono::milliseconds(1);
}  // namespace

void report_arrival(int64_t step) {
  MPI_Send(&step, 1, MPI_INT64_T, 0, kArrivalTag, MPI_COMM_WORLD);
  int64_t released = -1;
  MPI_Request req;
  MPI_Irecv(&released, 1, MPI_INT64_T, 0, kReleaseTag, MPI_COMM_WORLD, &req);
  for (int done = 0; MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done;)
    std::this_thread::sleep_for(kPoll);
}

std::vector<int> await_arrivals(int64_t step, double timeout_s) {
  const int R = world_size() - 1;
  std::vector<int64_t> got(R, -1);
  std::vector<MPI_Request> req(R);
  for (int r = 0; r < R; r++)
    mpi_ok(MPI_Irecv(&got[r], 1, MPI_INT64_T, r + 1, kArrivalTag, MPI_COMM_WORLD, &req[r]), "Irecv(arrival)");
  const auto start = std::chrono::steady_clock::now();
  std::vector<int> silent;
  for (;;) {
    int all = 0;
    mpi_ok(MPI_Testall(R, req.data(), &all, MPI_STATUSES_IGNORE), "Testall(arrival)");
    if (all) break;
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (timeout_s > 0 && waited > timeout_s) {
      for (int r = 0; r < R; r++) {
        int done = 0;
        mpi_ok(MPI_Test(&req[r], &done, MPI_STATUS_IGNORE), "Test(arrival)");
        if (done) continue;
        silent.push_back(r + 1);
        MPI_Cancel(&req[r]);  // `got` goes out of scope: no receive may land in it later
        MPI_Wait(&req[r], MPI_STATUS_IGNORE);
      }
      break;
    }
    std::this_thread::sleep_for(kPoll);
  }
  for (int r = 0; r < R; r++) {
    if (std::find(silent.begin(), silent.end(), r + 1) != silent.end()) continue;
    HF_CHECK(got[r] == step, "rank %d reported step %lld while rank 0 waits for %lld", r + 1,
             static_cast<long long>(got[r]), static_cast<long long>(step));
    mpi_ok(MPI_Send(&step, 1, MPI_INT64_T, r + 1, kReleaseTag, MPI_COMM_WORLD), "Send(release)");
  }
  return silent;
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
