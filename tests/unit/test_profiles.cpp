// Device profiles (src/fl/profiles.h): the CSV loader's errors and client assignment. The
// budgets that follow from them: test_memory_model.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "fl/profiles.h"
#include "util/check.h"

namespace hf {
namespace {

const char* const kHeader = "name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share\n";

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

// Loads `text` and expects a usage error whose message holds every one of `parts`.
void expect_error(const std::string& text, const std::vector<std::string>& parts) {
  std::string path = write_temp("profiles_bad.csv", text);
  try {
    load_profiles(path);
    ADD_FAILURE() << "loaded a bad file:\n" << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code, kExitUsage);
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(Profiles, LoadsAGoodFileWithCommentsBlanksAndSpaces) {
  std::string path = write_temp("profiles_good.csv",
                                "# a comment\n"
                                "\n" +
                                    std::string(kHeader) +
                                    "  # indented comment\n"
                                    "edge, 0.5 ,0.018,5,20,0.6,0.25\r\n"
                                    "big,20,32,500,1000,1,0.75\n");
  auto ps = load_profiles(path);
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].name, "edge");
  EXPECT_EQ(ps[0].tflops, 0.5);
  EXPECT_EQ(ps[0].memory_gb, 0.018);
  EXPECT_EQ(ps[0].uplink_mbps, 5);
  EXPECT_EQ(ps[0].downlink_mbps, 20);
  EXPECT_EQ(ps[0].availability, 0.6);
  EXPECT_EQ(ps[0].share, 0.25);
  EXPECT_EQ(ps[1].name, "big");
  EXPECT_EQ(ps[1].availability, 1.0);
}

TEST(Profiles, BadRowsNameTheLineAndColumn) {
  const std::string h = kHeader;  // line 1; data rows start at line 2
  expect_error(h + "a,1,8,1,1,1,0.5\nb,1,lots,1,1,1,0.5\n", {"line 3", "column 3 (memory_gb)", "'lots' is not a number"});
  expect_error(h + "a,1,8,1,1,1,0.5\nb,1,8,-10,1,1,0.5\n", {"line 3", "uplink_mbps", "must be positive"});
  expect_error(h + "a,1,8,1,1,1,0.5\nb,0,8,1,1,1,0.5\n", {"line 3", "tflops", "must be positive"});
  expect_error(h + "a,1,8,1,1,1.5,1\n", {"line 2", "availability", "outside (0, 1]"});
  expect_error(h + "a,1,8,1,1,0,1\n", {"line 2", "availability"});
  expect_error(h + "a,1,8,1,1,1,0.5\nb,1,8,1,1,1,0.4\n", {"share column sums to 0.9", "sum to 1"});
  expect_error(h + "a,1,8,1,1,0.5\n", {"line 2", "6 columns, expected 7"});
  expect_error(h + "a,1,8,1,1,0.5,1,\n", {"line 2", "8 columns, expected 7"});
  expect_error(h + "a,1,8,1,1,1,0.5\n# note\na,2,8,1,1,1,0.5\n", {"line 4", "'a' is already used on line 2"});
  expect_error(h + "a,1,8e,1,1,1,1\n", {"line 2", "'8e' is not a number"});
  expect_error(h + "a b,1,8,1,1,1,1\n", {"line 2", "name 'a b'"});
  expect_error(h + ",1,8,1,1,1,1\n", {"line 2", "column 1 (name)"});
  expect_error("name,tflops,memory,uplink_mbps,downlink_mbps,availability,share\na,1,8,1,1,1,1\n",
               {"line 1", "header", "must be exactly name,tflops,memory_gb"});
  expect_error("# only a comment\n" + h, {"no profile rows"});
  EXPECT_THROW(load_profiles(::testing::TempDir() + "no_such_profiles.csv"), Error);
}

TEST(Profiles, ShareSumWithinToleranceIsAccepted) {
  // Thirds written to six places sum to 0.999999 + 1e-6: within the 1e-6 allowed.
  std::string path = write_temp("profiles_thirds.csv", std::string(kHeader) +
                                                           "a,1,8,1,1,1,0.333333\n"
                                                           "b,1,8,1,1,1,0.333333\n"
                                                           "c,1,8,1,1,1,0.333334\n");
  EXPECT_EQ(load_profiles(path).size(), 3u);
}

std::vector<DeviceProfile> classes(std::vector<double> shares) {
  std::vector<DeviceProfile> ps;
  for (size_t j = 0; j < shares.size(); j++) {
    DeviceProfile p;
    p.name = "c" + std::to_string(j);
    p.share = shares[j];
    ps.push_back(p);
  }
  return ps;
}

std::vector<int> counts(const std::vector<int>& of_client, int P) {
  std::vector<int> c(P, 0);
  for (int j : of_client) c[j]++;
  return c;
}

TEST(Profiles, AssignmentCountsAreLargestRemainder) {
  // shares (0.5, 0.3, 0.2):
  //   n = 10: quotas 5, 3, 2 exactly.
  //   n = 7: quotas 3.5, 2.1, 1.4 -> floors 3, 2, 1 (6); the one left goes to the largest
  //          remainder 0.5 (class 0): 4, 2, 1.
  //   n = 1: quotas 0.5, 0.3, 0.2 -> class 0.
  auto ps = classes({0.5, 0.3, 0.2});
  EXPECT_EQ(counts(assign_profiles(ps, 10, 1), 3), (std::vector<int>{5, 3, 2}));
  EXPECT_EQ(counts(assign_profiles(ps, 7, 1), 3), (std::vector<int>{4, 2, 1}));
  EXPECT_EQ(counts(assign_profiles(ps, 1, 1), 3), (std::vector<int>{1, 0, 0}));
  EXPECT_TRUE(assign_profiles(ps, 0, 1).empty());
  // Equal thirds, n = 4: quotas 4/3 each -> 1, 1, 1 and the equal remainders give the
  // last client to the earliest class.
  EXPECT_EQ(counts(assign_profiles(classes({1.0 / 3, 1.0 / 3, 1.0 / 3}), 4, 1), 3), (std::vector<int>{2, 1, 1}));
  EXPECT_THROW(assign_profiles(ps, -1, 1), Error);
  EXPECT_THROW(assign_profiles({}, 3, 1), Error);
}

TEST(Profiles, AssignmentIsASeededShuffle) {
  auto ps = classes({0.5, 0.3, 0.2});
  auto a = assign_profiles(ps, 100, 42);
  EXPECT_EQ(a, assign_profiles(ps, 100, 42));  // same seed, same assignment
  auto b = assign_profiles(ps, 100, 43);
  EXPECT_NE(a, b);  // another seed reorders (probability of equality ~ 1e-40)
  EXPECT_EQ(counts(b, 3), (std::vector<int>{50, 30, 20}));
  EXPECT_FALSE(std::is_sorted(a.begin(), a.end()));  // shuffled, not blocks of classes
}

}  // namespace
}  // namespace hf
