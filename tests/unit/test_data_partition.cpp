// Partitions: every training row goes to exactly one client, the result is a function of
// the seed, and the Dirichlet knobs skew what they claim to skew.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "data/partition.h"
#include "util/check.h"

namespace hf {
namespace {

// 5000 rows, 10 balanced classes.
std::vector<int32_t> balanced_labels(int n = 5000, int nc = 10) {
  std::vector<int32_t> l(n);
  for (int i = 0; i < n; i++) l[i] = i % nc;
  return l;
}

void expect_covers(const Partition& p, int64_t N, int n_clients) {
  ASSERT_EQ(p.n_clients(), n_clients);
  ASSERT_EQ(p.names.size(), static_cast<size_t>(n_clients));
  EXPECT_EQ(p.offsets.front(), 0);
  EXPECT_EQ(p.offsets.back(), N);
  for (int c = 0; c < n_clients; c++) EXPECT_GT(p.offsets[c + 1], p.offsets[c]) << "client " << c << " is empty";
  std::vector<int64_t> sorted = p.index;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> all(N);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted, all);
}

// Mean over clients of the share of its rows in its largest class.
double dominant_share(const Partition& p, const std::vector<int32_t>& labels, int nc) {
  std::vector<int64_t> h = label_histogram(p.offsets, p.index, labels, nc);
  double sum = 0;
  for (int c = 0; c < p.n_clients(); c++) {
    int64_t top = *std::max_element(h.begin() + c * nc, h.begin() + (c + 1) * nc);
    sum += static_cast<double>(top) / (p.offsets[c + 1] - p.offsets[c]);
  }
  return sum / p.n_clients();
}

double size_ratio(const Partition& p) {
  int64_t lo = INT64_MAX, hi = 0;
  for (int c = 0; c < p.n_clients(); c++) {
    lo = std::min(lo, p.offsets[c + 1] - p.offsets[c]);
    hi = std::max(hi, p.offsets[c + 1] - p.offsets[c]);
  }
  return static_cast<double>(hi) / lo;
}

TEST(DataPartition, EverySchemeCoversEveryRowOnce) {
  auto labels = balanced_labels();
  std::vector<std::string> groups(labels.size());
  for (size_t i = 0; i < groups.size(); i++) groups[i] = "g" + std::to_string(i % 7);
  for (const char* scheme : {"iid", "dirichlet", "quantity"}) {
    Partition p = make_partition({scheme, 20, 0.5, 3}, labels, 10, {});
    SCOPED_TRACE(scheme);
    expect_covers(p, 5000, 20);
  }
  expect_covers(make_partition({"natural", 0, 0, 3}, labels, 10, groups), 5000, 7);
  expect_covers(make_partition({"natural", 3, 0, 3}, labels, 10, groups), 5000, 3);
}

TEST(DataPartition, IidSharesAreEqual) {
  Partition p = make_partition({"iid", 7, 0, 1}, balanced_labels(), 10, {});
  EXPECT_LE(size_ratio(p), 715.0 / 714.0);
  EXPECT_EQ(p.names[3], "client_003");
}

TEST(DataPartition, DeterministicFromSeed) {
  auto labels = balanced_labels();
  for (const char* scheme : {"iid", "dirichlet", "quantity"}) {
    Partition a = make_partition({scheme, 10, 0.3, 42}, labels, 10, {});
    Partition b = make_partition({scheme, 10, 0.3, 42}, labels, 10, {});
    Partition c = make_partition({scheme, 10, 0.3, 43}, labels, 10, {});
    EXPECT_EQ(a.index, b.index) << scheme;
    EXPECT_EQ(a.offsets, b.offsets) << scheme;
    EXPECT_NE(a.index, c.index) << scheme;
  }
}

TEST(DataPartition, DirichletAlphaControlsLabelSkew) {
  auto labels = balanced_labels();
  double skewed = dominant_share(make_partition({"dirichlet", 20, 0.1, 1}, labels, 10, {}), labels, 10);
  double mild = dominant_share(make_partition({"dirichlet", 20, 1.0, 1}, labels, 10, {}), labels, 10);
  double flat = dominant_share(make_partition({"dirichlet", 20, 1000.0, 1}, labels, 10, {}), labels, 10);
  EXPECT_GT(skewed, 0.6);            // most of a client's rows are one class
  EXPECT_GT(skewed, mild);
  EXPECT_LT(flat, 0.2);              // close to the global 10% per class
}

TEST(DataPartition, QuantitySkewsSizesNotLabels) {
  auto labels = balanced_labels();
  Partition skewed = make_partition({"quantity", 20, 0.2, 1}, labels, 10, {});
  Partition flat = make_partition({"quantity", 20, 1000.0, 1}, labels, 10, {});
  EXPECT_GT(size_ratio(skewed), 10.0);
  EXPECT_LT(size_ratio(flat), 1.5);
  EXPECT_LT(dominant_share(flat, labels, 10), 0.2);  // labels stay iid
}

TEST(DataPartition, NaturalByValueAndGrouped) {
  std::vector<int32_t> labels(10, 0);
  std::vector<std::string> groups = {"b", "b", "a", "c", "a", "b", "d", "d", "b", "a"};
  Partition p = make_partition({"natural", 0, 0, 1}, labels, 1, groups);
  EXPECT_EQ(p.names, (std::vector<std::string>{"b", "a", "c", "d"}));  // first appearance
  EXPECT_EQ(p.offsets, (std::vector<int64_t>{0, 4, 7, 8, 10}));
  EXPECT_EQ(std::vector<int64_t>(p.index.begin(), p.index.begin() + 4), (std::vector<int64_t>{0, 1, 5, 8}));
  // Two clients, largest value first onto the smaller client: b | a, d | then c onto b.
  Partition g = make_partition({"natural", 2, 0, 1}, labels, 1, groups);
  EXPECT_EQ(g.names, (std::vector<std::string>{"b+c", "a+d"}));
  EXPECT_EQ(g.offsets, (std::vector<int64_t>{0, 5, 10}));
}

TEST(DataPartition, ImpossibleRequestsAreUsageErrors) {
  auto labels = balanced_labels(20, 2);
  std::vector<std::string> groups(20, "x");
  auto msg = [&](const PartitionSpec& s) -> std::string {
    try {
      make_partition(s, labels, 2, groups);
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code, kExitUsage);
      return e.what();
    }
    return "";
  };
  EXPECT_NE(msg({"iid", 21, 0, 1}).find("cannot give 21 clients"), std::string::npos);
  EXPECT_NE(msg({"natural", 2, 0, 1}).find("1 distinct values"), std::string::npos);
  EXPECT_NE(msg({"dirichlet", 20, 0.01, 1}).find("leaves a client without samples"), std::string::npos);
  EXPECT_NE(msg({"dirichlet", 4, 0, 1}).find("alpha"), std::string::npos);
  EXPECT_NE(msg({"bogus", 4, 1, 1}).find("bogus"), std::string::npos);
}

}  // namespace
}  // namespace hf
