#pragma once
// A hang watchdog for a job's rounds. Before each blocking step of the protocol, every executor
// tells rank 0 that it has arrived there (a small eager message), and rank 0 waits for all of
// them with a deadline instead of entering a collective with a frozen peer: a rank that stays
// silent past it (stopped, swapping, dead without its launcher noticing) is named, and the job
// stops with one line instead of spinning on its allocation. Both sides number the steps in
// the same order (0, 1, 2, ...), so a report is checked against the step rank 0 waits for.
// A rank that freezes inside a collective, after it arrived, is caught by CollectiveWatch.
// Waiting polls with a short sleep on both sides: rank 0 releases the executors once all have
// arrived, so neither rank 0 nor an executor that arrived early (a fast one waiting for the
// slowest, or every executor while rank 0 evaluates) spins on a core inside a collective.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hf {

// Executors: tells rank 0 that this rank arrived at step `step`, then waits, polling with a
// short sleep, until rank 0 has seen every executor arrive (await_arrivals). Never throws (it
// may run while an exception unwinds).
void report_arrival(int64_t step);

// Rank 0: waits until every rank in 1..world_size()-1 reported `step`, or timeout_s seconds
// (<= 0: no deadline), then releases those that did. Returns the ranks that did not report in
// time (empty: all did).
std::vector<int> await_arrivals(int64_t step, double timeout_s);

// Rank 0, around collectives every rank has arrived at: if they have not completed within
// timeout_s (> 0), a rank froze inside them; a thread then prints one line naming `what` and
// ends the process with exit 1, and the launcher tears the job down. Disarmed on destruction.
class CollectiveWatch {
 public:
  CollectiveWatch(double timeout_s, std::string what);
  ~CollectiveWatch();
  CollectiveWatch(const CollectiveWatch&) = delete;
  CollectiveWatch& operator=(const CollectiveWatch&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace hf
