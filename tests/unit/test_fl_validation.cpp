// Validation (src/fl/validation.h, fl/clients.h): the held-out split of each client's rows,
// and the statistics of the server's validation: quantiles and expert load balance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "fl/clients.h"
#include "fl/validation.h"
#include "model/evaluate.h"

namespace hf {
namespace {

TEST(FlValidation, HoldOutSplitsAClientsRowsDisjointlySeededAndSorted) {
  std::vector<int64_t> rows;
  for (int64_t r = 100; r < 120; r++) rows.push_back(r);  // 20 rows
  std::vector<int64_t> out;
  int64_t train = hold_out(rows.data(), 20, 0.2, 7, 3, out);
  EXPECT_EQ(train, 16);  // floor(0.2 * 20) = 4 held out
  ASSERT_EQ(out.size(), 20u);
  EXPECT_TRUE(std::is_sorted(out.begin(), out.begin() + train));
  EXPECT_TRUE(std::is_sorted(out.begin() + train, out.end()));
  std::vector<int64_t> all = out;
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, rows) << "training and held-out rows partition the client's rows";
  std::vector<int64_t> again, other_client, other_seed;
  hold_out(rows.data(), 20, 0.2, 7, 3, again);
  hold_out(rows.data(), 20, 0.2, 7, 4, other_client);
  hold_out(rows.data(), 20, 0.2, 8, 3, other_seed);
  EXPECT_EQ(again, out);
  EXPECT_NE(other_client, out);
  EXPECT_NE(other_seed, out);
  // Small shards: floor(0.2 * 4) = 0 held out; a fraction that would take every row keeps one.
  std::vector<int64_t> small;
  EXPECT_EQ(hold_out(rows.data(), 4, 0.2, 7, 3, small), 4);
  small.clear();
  EXPECT_EQ(hold_out(rows.data(), 2, 0.5, 7, 3, small), 1);
  small.clear();
  EXPECT_EQ(hold_out(rows.data(), 1, 0.5, 7, 3, small), 1);
  small.clear();
  EXPECT_EQ(hold_out(rows.data(), 20, 0.0, 7, 3, small), 20);
  EXPECT_EQ(std::vector<int64_t>(small.begin(), small.end()), rows) << "nothing held out: all rows, sorted";
}

TEST(FlValidation, QuantileInterpolatesBetweenOrderStatistics) {
  std::vector<double> v = {0.9, 0.1, 0.5, 0.3, 0.7};  // sorted 0.1 0.3 0.5 0.7 0.9
  EXPECT_DOUBLE_EQ(quantile(v, 0.0), 0.1);
  EXPECT_DOUBLE_EQ(quantile(v, 1.0), 0.9);
  EXPECT_DOUBLE_EQ(quantile(v, 0.5), 0.5);
  EXPECT_NEAR(quantile(v, 0.1), 0.1 + 0.4 * 0.2, 1e-12);  // position 0.4
  std::vector<double> one = {0.42};
  EXPECT_DOUBLE_EQ(quantile(one, 0.1), 0.42);
  std::vector<double> none;
  EXPECT_TRUE(std::isnan(quantile(none, 0.1)));
}

TEST(FlValidation, LoadCvIsStdOverMeanPerLayerAveraged) {
  // Layer 0 even (cv 0); layer 1 hits 0 0 0 8: mean 2, population std sqrt((3*4 + 36)/4) = sqrt(12).
  const int64_t hits[8] = {5, 5, 5, 5, 0, 0, 0, 8};
  EXPECT_NEAR(load_cv(hits, 2, 4), (0.0 + std::sqrt(12.0) / 2) / 2, 1e-12);
  const int64_t empty[4] = {0, 0, 0, 0};
  EXPECT_EQ(load_cv(empty, 1, 4), 0.0);
}

// fl.eval_rows: a test subset spread over the split, not its first rows (splits are stored
// in class order).
TEST(FlValidation, SpreadRowsCoverTheSplitEvenly) {
  EXPECT_EQ(spread_rows(10, 4), (std::vector<int64_t>{0, 2, 5, 7}));
  EXPECT_EQ(spread_rows(3, 5), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(spread_rows(0, 5).empty());
}

}  // namespace
}  // namespace hf
