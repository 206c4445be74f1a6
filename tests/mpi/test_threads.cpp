// The thread count of a rank (cli/threads.h) at 2, 3 and 5 ranks: run.threads wins, then
// OMP_NUM_THREADS (its first number), then SLURM_CPUS_PER_TASK, then the affinity mask shared
// among the node's ranks; a malformed variable stops every rank with the same one-line error.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "cli/threads.h"
#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {
namespace {

// Sets (or unsets, for nullptr) the two variables for one test and restores them after.
class ThreadEnv {
 public:
  ThreadEnv(const char* omp, const char* slurm) {
    save("OMP_NUM_THREADS", omp_saved_, omp_had_);
    save("SLURM_CPUS_PER_TASK", slurm_saved_, slurm_had_);
    set("OMP_NUM_THREADS", omp);
    set("SLURM_CPUS_PER_TASK", slurm);
  }
  ~ThreadEnv() {
    set("OMP_NUM_THREADS", omp_had_ ? omp_saved_.c_str() : nullptr);
    set("SLURM_CPUS_PER_TASK", slurm_had_ ? slurm_saved_.c_str() : nullptr);
  }

 private:
  static void save(const char* name, std::string& value, bool& had) {
    const char* v = std::getenv(name);
    had = v != nullptr;
    value = v ? v : "";
  }
  static void set(const char* name, const char* value) {
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  std::string omp_saved_, slurm_saved_;
  bool omp_had_ = false, slurm_had_ = false;
};

TEST(Threads, ExplicitSettingsInOrder) {
  {
    ThreadEnv env("4,2", "3");
    EXPECT_EQ(choose_threads(5).threads, 5);
    ThreadChoice omp = choose_threads(0);
    EXPECT_EQ(omp.threads, 4);
    EXPECT_EQ(omp.why, "OMP_NUM_THREADS");
  }
  {
    ThreadEnv env("", "3");  // an empty variable counts as unset
    ThreadChoice slurm = choose_threads(0);
    EXPECT_EQ(slurm.threads, 3);
    EXPECT_EQ(slurm.why, "SLURM_CPUS_PER_TASK");
  }
}

TEST(Threads, AffinityMaskSharedByTheNodesRanks) {
  ThreadEnv env(nullptr, nullptr);
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const int cpus = CPU_COUNT(&set);
  ThreadChoice c = choose_threads(0);
  const std::string head = std::to_string(cpus) + " CPUs in this rank's affinity mask, shared by ";
  ASSERT_EQ(c.why.rfind(head, 0), 0u) << c.why;
  // Every rank of this test runs on one node: the mask is shared by 1 to world_size() ranks.
  const int sharers = std::stoi(c.why.substr(head.size()));
  EXPECT_GE(sharers, 1);
  EXPECT_LE(sharers, world_size());
  EXPECT_EQ(c.threads, std::max(1, cpus / sharers)) << c.why;
}

TEST(Threads, MalformedVariableStopsEveryRank) {
  ThreadEnv env("many", nullptr);
  try {
    choose_threads(0);
    FAIL() << "OMP_NUM_THREADS=many was accepted on rank " << world_rank();
  } catch (const Error& e) {
    EXPECT_TRUE(e.agreed);
    EXPECT_EQ(e.exit_code, kExitUsage);
    EXPECT_NE(std::string(e.what()).find("OMP_NUM_THREADS='many' is not a thread count"), std::string::npos) << e.what();
  }
  ThreadEnv zero(nullptr, "0");
  EXPECT_THROW(choose_threads(0), Error);
  EXPECT_EQ(choose_threads(2).threads, 2);  // run.threads set: the variables are not read
}

}  // namespace
}  // namespace hf
