// NcclComm (cuda/nccl_comm.h) on a one-rank communicator, which NCCL allows on a one-GPU
// machine: the reduce and the broadcast hand the input back bit for bit through the device
// staging buffer (every int64 and float bit pattern, NaN payloads included), in one piece or
// in chunks with an odd tail, and a zero-length call is a no-op. Skips without a device.
// Several ranks need one GPU each; tests/mpi/test_fl_exchange.cpp runs the exchange over
// NCCL where the machine allows it (one executor per GPU).
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

constexpr size_t kN = (1 << 20) + 3;  // 8 MiB of int64, an odd length

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

// Through a staging buffer of staging_bytes: int64 sums and floats from the same bits (NaNs
// with payloads, infinities, -0, denormals among them), twice, the second time shorter.
void expect_round_trip(size_t staging_bytes) {
  NcclComm comm(NcclComm::unique_id(), 1, 0, 0, staging_bytes);
  const std::vector<int64_t> sums = int64_patterns();
  std::vector<int64_t> got = sums;
  comm.reduce_sum_i64(got.data(), got.size(), 0);
  EXPECT_EQ(got, sums);

  std::vector<float> params(2 * kN);
  std::memcpy(params.data(), sums.data(), kN * sizeof(int64_t));
  params[0] = -0.0f, params[1] = std::numeric_limits<float>::denorm_min();
  params[2] = std::numeric_limits<float>::infinity();
  std::vector<float> out = params;
  comm.broadcast_f32(out.data(), out.size(), 0);
  EXPECT_EQ(std::memcmp(out.data(), params.data(), params.size() * sizeof(float)), 0);

  got.assign(sums.begin(), sums.begin() + 1001);
  comm.reduce_sum_i64(got.data(), got.size(), 0);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), sums.begin()));
  comm.broadcast_f32(out.data(), 0, 0);  // nothing changed: no collective, no error
}

TEST_F(NcclOneRank, WholeBuffersComeBackBitForBit) { expect_round_trip(2 * kN * sizeof(float)); }

// 1000 int64 / 2000 floats per chunk: about a thousand chunks per call, the last one partial.
TEST_F(NcclOneRank, ChunkedBuffersComeBackBitForBit) { expect_round_trip(8000); }

}  // namespace
}  // namespace hf

#endif  // HFEDMOE_HAVE_NCCL
