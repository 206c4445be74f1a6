// LoRA's initial A (model/lora_init.h): PEFT's kaiming_uniform_(a = sqrt(5)) bound, moments of
// the uniform distribution, and one deterministic stream per (seed, tensor).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/lora_init.h"

namespace hf {
namespace {

TEST(LoraInit, AIsUniformWithinPeftsKaimingBound) {
  const int r = 8, IC = 1024;
  std::vector<float> a(r * IC);
  init_lora_a(a.data(), r, IC, 7, 3);
  const double bound = 1.0 / std::sqrt(IC);
  double sum = 0, sq = 0;
  for (float v : a) {
    ASSERT_LE(std::fabs(v), bound);
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  // U(-b, b): mean 0, variance b^2 / 3. Over 8192 draws the standard error of the mean is
  // b / sqrt(3 * 8192) = 0.0064 b, and of the mean square sqrt(4/45) b^2 / sqrt(8192) =
  // 0.0033 b^2; the bounds are five of them (a normal or a wrong bound misses by far more).
  const double n = a.size(), mean = sum / n, var = sq / n - mean * mean;
  EXPECT_LE(std::fabs(mean), 0.032 * bound);
  EXPECT_NEAR(var, bound * bound / 3, 0.0165 * bound * bound);
}

TEST(LoraInit, OneStreamPerSeedAndTensor) {
  std::vector<float> a(2 * 16), b(2 * 16), c(2 * 16), d(2 * 16);
  init_lora_a(a.data(), 2, 16, 7, 3);
  init_lora_a(b.data(), 2, 16, 7, 3);
  init_lora_a(c.data(), 2, 16, 7, 4);
  init_lora_a(d.data(), 2, 16, 8, 3);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
}

}  // namespace
}  // namespace hf
