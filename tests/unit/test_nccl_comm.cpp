// NcclComm (cuda/nccl_comm.h) on a one-rank communicator, which NCCL allows on a one-GPU
// machine: the reduce and the broadcast hand the input back bit for bit through the device
// staging buffer (every int64 and float bit pattern, NaN payloads included), a zero-length
// call is a no-op and an oversized one is refused. Skips without a device. Several ranks
// need one GPU each; tests/mpi/test_fl_exchange.cpp runs the exchange over NCCL where the
// machine allows it (one executor per GPU).
#ifdef HFEDMOE_HAVE_NCCL
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "cuda/device.h"
#include "cuda/nccl_comm.h"
#include "util/check.h"
#include "util/rng.h"

namespace hf {
namespace {

constexpr size_t kN = (1 << 20) + 3;  // 8 MiB of int64: several NCCL chunks and an odd tail

class NcclOneRank : public ::testing::Test {
 protected:
  void SetUp() override {
    static const cuda::DeviceScan scan = cuda::scan_devices();
    if (scan.devices.empty())
      GTEST_SKIP() << "no CUDA device: " << (scan.error.empty() ? "the runtime reports 0 devices" : scan.error);
  }
};

// kN int64 covering the extremes, then random bit patterns.
std::vector<int64_t> int64_patterns() {
  std::vector<int64_t> v = {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), -1, 0, 1};
  Rng rng(5, Purpose::eval, 91);
  while (v.size() < kN) v.push_back(static_cast<int64_t>(rng.next_u64()));
  return v;
}

TEST_F(NcclOneRank, ReduceAndBroadcastReturnTheInputBitForBit) {
  NcclComm comm(NcclComm::unique_id(), 1, 0, 0, kN * sizeof(int64_t));
  const std::vector<int64_t> sums = int64_patterns();
  std::vector<int64_t> got = sums;
  comm.reduce_sum_i64(got.data(), got.size(), 0);
  EXPECT_EQ(got, sums);

  // Floats from the same bits (NaNs with payloads, infinities, -0, denormals among them), twice
  // as many as the int64s: the staging buffer is shared by both calls.
  std::vector<float> params(2 * kN);
  std::memcpy(params.data(), sums.data(), kN * sizeof(int64_t));
  params[0] = -0.0f, params[1] = std::numeric_limits<float>::denorm_min();
  params[2] = std::numeric_limits<float>::infinity();
  std::vector<float> out = params;
  comm.broadcast_f32(out.data(), out.size(), 0);
  EXPECT_EQ(std::memcmp(out.data(), params.data(), params.size() * sizeof(float)), 0);

  // A second, shorter round through the same staging buffer.
  got.assign(sums.begin(), sums.begin() + 1000);
  comm.reduce_sum_i64(got.data(), got.size(), 0);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), sums.begin()));
  comm.broadcast_f32(out.data(), 0, 0);  // nothing changed: no collective, no error
}

TEST_F(NcclOneRank, BufferLargerThanTheStagingIsRefused) {
  NcclComm comm(NcclComm::unique_id(), 1, 0, 0, 64 * sizeof(int64_t));
  std::vector<int64_t> big(65);
  try {
    comm.reduce_sum_i64(big.data(), big.size(), 0);
    ADD_FAILURE() << "a buffer past the staging capacity was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceed the NCCL staging buffer"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hf

#endif  // HFEDMOE_HAVE_NCCL
