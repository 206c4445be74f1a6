#pragma once
// Finite-difference helpers shared by the op and model gradient tests.
//
// Every check uses a scalar loss L = sum(out * R) with a fixed random R, so d(loss)/d(out) = R
// is what the backward receives. The forward is fp32, so the central difference
// (L(x + h) - L(x - h)) / 2h carries two errors: truncation O(h^2 f''') and rounding
// ~ sqrt(n) * 6e-8 * |out| / h over n outputs. With h = 1e-2 and O(1) values both are about
// 1e-4 of the gradient's scale; the tolerances below (a few 1e-3 of the largest gradient
// entry) sit an order of magnitude above that and far below any real bug (a wrong sign, a
// missing term or a transposed index changes entries by O(1) of that scale).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "util/rng.h"

namespace hf::test {

inline std::vector<float> randn(size_t n, uint64_t seed, float std = 1.0f) {
  Rng rng(seed, Purpose::eval, 77);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal()) * std;
  return v;
}

inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Compares `analytic` (d loss / d x) with central differences of `loss` over every entry of
// x (or `stride`-spaced entries), restoring x. Fails when |analytic - fd| > rtol * scale + atol
// with scale the largest |fd|. `kink()`, asked after each perturbed evaluation, vetoes an entry
// whose perturbation changed a top-k decision (the loss is not differentiable across it).
inline void expect_fd_match(const std::string& what, std::vector<float>& x, const std::vector<float>& analytic,
                            const std::function<double()>& loss, float h = 1e-2f, double rtol = 3e-3,
                            double atol = 1e-6, size_t stride = 1,
                            const std::function<bool()>& kink = nullptr) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  std::vector<double> fd(x.size(), 0.0);
  std::vector<bool> used(x.size(), false);
  double scale = 0;
  for (size_t i = 0; i < x.size(); i += stride) {
    float x0 = x[i];
    x[i] = x0 + h;
    double lp = loss();
    bool k1 = kink && kink();
    x[i] = x0 - h;
    double lm = loss();
    bool k2 = kink && kink();
    x[i] = x0;
    if (k1 || k2) continue;
    fd[i] = (lp - lm) / (2.0 * h);
    used[i] = true;
    scale = std::max(scale, std::fabs(fd[i]));
  }
  loss();  // leave the op's saved state at x
  int bad = 0, checked = 0;
  for (size_t i = 0; i < x.size(); i++) {
    if (!used[i]) continue;
    checked++;
    double err = std::fabs(analytic[i] - fd[i]);
    if (err > rtol * scale + atol && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: analytic " << analytic[i] << " vs finite difference " << fd[i]
                    << " (scale " << scale << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << checked << " entries differ";
  EXPECT_GT(checked, 0) << what;
}

}  // namespace hf::test
