#pragma once
// Shared by the CUDA backend tests (test_cuda_*.cpp): a fixture that skips without a device,
// device copies of host vectors, and the comparisons with their tolerance classes. Without a
// GPU the same tests run against a CPU emulation of the kernels: cuda/emu/run_tests.sh.
//
// Tolerance classes (u = 2^-24, the fp32 unit roundoff):
//  - exact: the kernel does the CPU twin's float operations in the CPU's order with no
//    multiply-add pair (copies, index outputs, plain sums): bitwise equal.
//  - elementwise: a few float operations per output, but GCC (-march=x86-64-v3) and nvcc each
//    contract a*b+c into FMA where they choose, and device expf is within 2 ulp of the CPU's
//    exp: |diff| <= 2e-6 * max|ref| (about 30 ulp of the largest entry).
//  - GEMM: two fp32 dot products of length K in any order (blocked, split, FMA) are each within
//    gamma_K = K u / (1 - K u) of the exact value times sum_k |a_k b_k| (Higham, Thm 3.5), so
//    they differ by at most 2 gamma_K |A||B| elementwise: gemm_bound() computes that bound
//    from |A| and |B| with the CPU backend.
//  - reductions (norms, softmax, dot products over C or T): the same sums in another order;
//    for the lengths here (<= 300) the observed difference is ~sqrt(L) u ~ 1e-6 of the scale;
//    3e-5 * max|ref| leaves a 10x margin, and chains of GEMM + softmax + GEMM (attention) get
//    1e-4. A wrong index, sign or missing term moves entries by O(1) of max|ref|.
#ifdef HFEDMOE_HAVE_CUDA
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cuda/cuda_ops.h"
#include "cuda/device.h"
#include "ops/cpu_ops.h"
#include "test_ops_fd.h"

namespace hf::test {

constexpr double kElementwise = 2e-6;
constexpr double kReduction = 3e-5;
constexpr double kChain = 1e-4;

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static const cuda::DeviceScan scan = cuda::scan_devices();
    if (scan.devices.empty())
      GTEST_SKIP() << "no CUDA device: " << (scan.error.empty() ? "the runtime reports 0 devices" : scan.error);
  }
  void TearDown() override {
    for (void* p : owned_) gpu().free(p);
    owned_.clear();
  }
  // One backend per process: a CUDA context costs ~100 ms to create. Never destroyed: a
  // static destructor would run after the CUDA runtime has begun shutting down.
  static CudaOps& gpu() {
    static CudaOps* ops = new CudaOps(0);
    return *ops;
  }
  // The same device with the reference attention kernels (CudaAttention::reference; gpu()
  // runs the fused ones). Its own stream: synchronize() it before reading its results through gpu().
  static CudaOps& gpu_reference() {
    static CudaOps* ops = new CudaOps(0, false, CudaAttention::reference);
    return *ops;
  }
  static CpuOps& cpu() {
    static CpuOps ops;
    return ops;
  }
  // A device copy of h, freed after the test.
  template <typename T>
  T* up(const std::vector<T>& h) {
    T* d = static_cast<T*>(gpu().alloc(std::max<size_t>(1, h.size()) * sizeof(T)));
    owned_.push_back(d);
    gpu().upload(d, h.data(), h.size() * sizeof(T));
    return d;
  }
  template <typename T>
  std::vector<T> down(const T* d, size_t n) {
    std::vector<T> h(n);
    gpu().download(h.data(), d, n * sizeof(T));
    return h;
  }

 private:
  std::vector<void*> owned_;
};

inline double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// |got - want| <= rtol * max|want| + atol everywhere; reports the worst entry.
inline void expect_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                         double rtol, double atol = 1e-30) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const double tol = rtol * max_abs(want) + atol;
  size_t worst = 0;
  double err = -1;
  for (size_t i = 0; i < got.size(); i++) {
    double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(d <= err)) {  // also catches NaN
      err = d;
      worst = i;
    }
  }
  if (got.empty()) return;
  EXPECT_TRUE(err <= tol) << what << ": max |cuda - cpu| = " << err << " at " << worst << " (cuda " << got[worst]
                          << ", cpu " << want[worst] << "), tolerance " << tol;
}

// Elementwise |got - want| <= bound[i] (+ a denormal floor).
inline void expect_within(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                          const std::vector<float>& bound) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); i++) {
    double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(d <= bound[i] + 1e-30) && bad++ < 3)
      ADD_FAILURE() << what << "[" << i << "]: cuda " << got[i] << ", cpu " << want[i] << ", bound " << bound[i];
  }
  EXPECT_EQ(bad, 0) << what << ": entries outside the GEMM error bound";
}

template <typename T>
void expect_equal(const std::string& what, const std::vector<T>& got, const std::vector<T>& want) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); i++)
    if (!(got[i] == want[i])) {
      ADD_FAILURE() << what << "[" << i << "]: cuda " << +got[i] << ", cpu " << +want[i];
      return;
    }
}

inline std::vector<float> abs_of(const std::vector<float>& v) {
  std::vector<float> a(v.size());
  for (size_t i = 0; i < v.size(); i++) a[i] = std::fabs(v[i]);
  return a;
}

// 2 gamma_{K+2} * sum: the GEMM class above, for products of inner length K plus up to two
// added terms (bias, the accumulated old value).
inline std::vector<float> gemm_bound(std::vector<float> abs_sum, int K) {
  const double u = std::ldexp(1.0, -24), g = (K + 2) * u / (1 - (K + 2) * u);
  for (float& x : abs_sum) x = static_cast<float>(2 * g * x * 1.0001);
  return abs_sum;
}

}  // namespace hf::test

#endif  // HFEDMOE_HAVE_CUDA
