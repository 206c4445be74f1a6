// The exchange's path choice (mpi/exchange_path.h), a pure function of the mode, the build and
// the executors' GPUs: every branch and its log line, without MPI or a GPU.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fl/fl_options.h"
#include "mpi/exchange_path.h"
#include "util/check.h"

namespace hf {
namespace {

// Executors 1..n on one node "x", executor r on GPU r - 1 unless devices says otherwise.
std::vector<ExecutorGpu> on_node(std::vector<int> devices, const std::string& host = "x") {
  std::vector<ExecutorGpu> ex;
  for (size_t i = 0; i < devices.size(); i++) ex.push_back({static_cast<int>(i) + 1, host, devices[i], ""});
  return ex;
}

// The usage error mode=nccl gives, or "" when it is accepted.
std::string refusal(bool have_nccl, const std::vector<ExecutorGpu>& ex) {
  try {
    choose_exchange("nccl", have_nccl, ex);
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code, kExitUsage);
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(ExchangePath, OneProcessIsInProcessWhateverTheModeOrBuild) {
  for (const char* mode : {"auto", "mpi", "nccl"})
    for (bool nccl : {false, true}) {
      ExchangeChoice c = choose_exchange(mode, nccl, {});
      EXPECT_EQ(c.path, ExchangePath::in_process) << mode;
      EXPECT_EQ(c.why, "exchange: in-process (one process, no executor ranks)");
    }
}

TEST(ExchangePath, AutoTakesNcclWhenEveryExecutorHoldsItsOwnGpu) {
  ExchangeChoice c = choose_exchange("auto", true, on_node({0, 1, 2, 3}));
  EXPECT_EQ(c.path, ExchangePath::nccl);
  EXPECT_EQ(c.why, "exchange: NCCL among 4 executors on 4 GPUs; executor 1 relays to and from the server over MPI");
  EXPECT_EQ(choose_exchange("nccl", true, on_node({0, 1, 2, 3})).path, ExchangePath::nccl);
}

TEST(ExchangePath, MpiModeIsAlwaysMpi) {
  ExchangeChoice c = choose_exchange("mpi", true, on_node({0, 1}));
  EXPECT_EQ(c.path, ExchangePath::mpi);
  EXPECT_EQ(c.why, "exchange: MPI (fl.exchange=mpi)");
  EXPECT_EQ(choose_exchange("mpi", false, on_node({-1, -1})).path, ExchangePath::mpi);
}

TEST(ExchangePath, TwoNodesGpuZeroAreTwoGpus) {
  std::vector<ExecutorGpu> ex = on_node({0, 1}, "a");
  for (ExecutorGpu x : on_node({0, 1}, "b")) ex.push_back({x.rank + 2, x.host, x.device, ""});
  ExchangeChoice c = choose_exchange("auto", true, ex);
  EXPECT_EQ(c.path, ExchangePath::nccl);
  EXPECT_TRUE(has(c.why, "NCCL among 4 executors on 4 GPUs of 2 nodes")) << c.why;
}

TEST(ExchangePath, SharedGpuFallsBackToMpiAndRefusesNccl) {
  ExchangeChoice c = choose_exchange("auto", true, on_node({0, 0}));
  EXPECT_EQ(c.path, ExchangePath::mpi);
  EXPECT_EQ(c.why, "exchange: MPI (executors 1 and 2 share GPU 0 on node x; NCCL allows one rank per GPU)");
  // the first pair that shares is named, wherever it sits
  EXPECT_TRUE(has(choose_exchange("auto", true, on_node({0, 1, 2, 1})).why, "executors 2 and 4 share GPU 1"));
  std::string e = refusal(true, on_node({0, 0}));
  EXPECT_EQ(e, "fl.exchange=nccl but executors 1 and 2 share GPU 0 on node x; NCCL allows one rank per GPU; "
               "use fl.exchange=auto or mpi, or give each executor its own GPU");
}

TEST(ExchangePath, UuidIdentifiesTheGpuWhateverTheNumbering) {
  // CUDA_VISIBLE_DEVICES gave each rank one GPU, numbered 0 in both: different UUIDs, no sharing.
  std::vector<ExecutorGpu> isolated = on_node({0, 0});
  isolated[0].uuid = "aa", isolated[1].uuid = "bb";
  EXPECT_EQ(choose_exchange("auto", true, isolated).path, ExchangePath::nccl);
  // The same physical GPU seen as 0 by one rank and 1 by the other: shared.
  std::vector<ExecutorGpu> same = on_node({0, 1});
  same[0].uuid = same[1].uuid = "aa";
  ExchangeChoice c = choose_exchange("auto", true, same);
  EXPECT_EQ(c.path, ExchangePath::mpi);
  EXPECT_TRUE(has(c.why, "executors 1 and 2 share GPU 1 on node x")) << c.why;
}

TEST(ExchangePath, CpuExecutorsUseMpi) {
  ExchangeChoice c = choose_exchange("auto", true, on_node({-1, -1, -1}));
  EXPECT_EQ(c.path, ExchangePath::mpi);
  EXPECT_EQ(c.why, "exchange: MPI (executors compute on the CPU)");
  c = choose_exchange("auto", true, on_node({0, 1, -1}));
  EXPECT_EQ(c.path, ExchangePath::mpi);
  EXPECT_EQ(c.why, "exchange: MPI (executor 3 computes on the CPU; NCCL needs a GPU on every executor)");
  EXPECT_TRUE(has(refusal(true, on_node({-1, -1})), "fl.exchange=nccl but executors compute on the CPU; "
                                                     "use fl.exchange=auto or mpi, or give each executor its own GPU"));
}

TEST(ExchangePath, BuildWithoutNcclUsesMpi) {
  ExchangeChoice c = choose_exchange("auto", false, on_node({0, 1}));
  EXPECT_EQ(c.path, ExchangePath::mpi);
  EXPECT_EQ(c.why, "exchange: MPI (this build has no NCCL)");
  std::string e = refusal(false, on_node({0, 1}));
  EXPECT_TRUE(has(e, "fl.exchange=nccl but this build has no NCCL; use fl.exchange=auto or mpi")) << e;
}

TEST(ExchangePath, OneExecutorTakesNcclOnlyWhenAsked) {
  ExchangeChoice c = choose_exchange("auto", true, on_node({0}));
  EXPECT_EQ(c.path, ExchangePath::mpi);
  EXPECT_TRUE(has(c.why, "exchange: MPI (one executor")) << c.why;
  c = choose_exchange("nccl", true, on_node({0}));
  EXPECT_EQ(c.path, ExchangePath::nccl);
  EXPECT_TRUE(has(c.why, "NCCL among 1 executor on 1 GPU;")) << c.why;
}

TEST(ExchangePath, OptionAcceptsOnlyTheThreeModes) {
  FlOptions fl;
  DataOptions data;
  data.path = "data.h5";
  TrainOptions train;
  EXPECT_EQ(fl.exchange, "auto");
  for (const char* mode : {"auto", "mpi", "nccl"}) {
    fl.exchange = mode;
    EXPECT_NO_THROW(validate_fl_options(fl, data, train)) << mode;
  }
  fl.exchange = "gloo";
  try {
    validate_fl_options(fl, data, train);
    ADD_FAILURE() << "fl.exchange=gloo was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code, kExitUsage);
    EXPECT_TRUE(has(e.what(), "fl.exchange")) << e.what();
  }
}

}  // namespace
}  // namespace hf
