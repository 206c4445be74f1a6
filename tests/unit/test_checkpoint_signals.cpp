// Stop signals: the first sets the flag the training loops poll, the second exits at once
// with kExitRequeue.
#include <gtest/gtest.h>

#include <csignal>

#include "util/check.h"
#include "util/signals.h"

namespace hf {
namespace {

TEST(Signals, FirstSignalSetsTheFlag) {
  install_stop_handlers();
  clear_stop_request();
  EXPECT_FALSE(stop_requested());
  std::raise(SIGUSR1);
  EXPECT_TRUE(stop_requested());
  EXPECT_TRUE(stop_agreed());  // MPI is not started here: the local flag
  clear_stop_request();
  std::raise(SIGTERM);
  EXPECT_TRUE(stop_requested());
  clear_stop_request();
}

TEST(SignalsDeathTest, SecondSignalExitsWithRequeueCode) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        install_stop_handlers();
        clear_stop_request();
        std::raise(SIGTERM);
        std::raise(SIGUSR1);
        std::exit(0);
      },
      ::testing::ExitedWithCode(kExitRequeue), "second stop signal");
}

}  // namespace
}  // namespace hf
