// Device profiles (src/fl/profiles.h): the CSV loader's errors, client assignment, and the
// memory budget against a hand computation.
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

// Preset tiny: V=260, C=64, L=2, NH=NKV=4, HS=16, E=8, K=2, F=128; batch 8, seq 128.
//   parameters: tok_emb 260*64 = 16640; per layer 2 norms 128 + wq,wk,wv,wo 4*4096 = 16384
//     + router 8*64 = 512 -> 17024 dense; experts 8 * 3*128*64 = 8 * 24576 = 196608;
//     final_norm 64 + lm_head 16640. Total 16640 + 2*(17024 + 196608) + 16704 = 460608,
//     of which experts 2*196608 = 393216 and non-expert 67392.
//   weights 4 * 460608 = 1842432; dense state 16 * 67392 = 1078272.
//   activations per token: per layer 4*64 + (2*4 + 2*4)*16 + 4*128 + 2*8 = 1040, times 2
//     layers = 2080, plus 2*64 + 2*260 = 648: 2728 floats; * 4 bytes * 1024 tokens = 11173888.
//   shared = 1842432 + 1078272 + 11173888 = 14094592 bytes.
//   per expert, per layer: 16 * 24576 = 393216 + 4 * (1024*2/8 = 256 tokens) * (3*128 + 64)
//     = 458752 -> 851968; two layers: 1703936 bytes.
//   memory 0.018 GB = 18000000: free 3905408, / 1703936 = 2.29 -> budget 2.
TEST(Profiles, BudgetMatchesTheHandComputation) {
  DeviceProfile p;
  p.memory_gb = 0.018;
  BudgetDerivation d = derive_budget(p, model_preset("tiny"), 8, 128);
  EXPECT_EQ(d.shared_bytes, 14094592.0);
  EXPECT_EQ(d.per_expert_bytes, 1703936.0);
  EXPECT_NEAR(d.free_bytes, 3905408.0, 1e-3);
  EXPECT_EQ(d.budget, 2);
  std::string line = d.explain();
  EXPECT_NE(line.find("C_budget=2"), std::string::npos) << line;
  EXPECT_NE(line.find("0.018 GB"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(Profiles, BudgetGrowsWithMemoryAndIsZeroWhenNothingFits) {
  ModelConfig m = model_preset("tiny");
  DeviceProfile p;
  p.memory_gb = 0.01;  // below the 0.0141 GB shared part: free is negative
  BudgetDerivation d = derive_budget(p, m, 8, 128);
  EXPECT_LT(d.free_bytes, 0);
  EXPECT_EQ(d.budget, 0);
  p.memory_gb = 0.0150;  // shared fits, one expert (0.0017 GB) does not
  EXPECT_EQ(derive_budget(p, m, 8, 128).budget, 0);
  int last = 0;
  for (double gb = 0.0; gb <= 0.05; gb += 0.0005) {
    p.memory_gb = gb;
    int b = derive_budget(p, m, 8, 128).budget;
    EXPECT_GE(b, last) << gb << " GB";
    last = b;
  }
  EXPECT_EQ(last, m.n_experts);  // clamped at E, not 19
  EXPECT_THROW(derive_budget(p, m, 0, 128), Error);
}

// The budgets promised in the comment lines of the shipped files.
void expect_budgets(const std::string& file, const std::string& preset, int seq, const std::vector<int>& want) {
  auto ps = load_profiles(std::string(HFEDMOE_SOURCE_DIR) + "/jobs/profiles/" + file);
  ASSERT_EQ(ps.size(), want.size()) << file;
  for (size_t j = 0; j < ps.size(); j++)
    EXPECT_EQ(derive_budget(ps[j], model_preset(preset), 8, seq).budget, want[j]) << file << " " << ps[j].name;
}

TEST(Profiles, ShippedFilesGiveTheirDocumentedBudgets) {
  expect_budgets("default.csv", "tiny", 128, {2, 4, 8});
  expect_budgets("small.csv", "small", 256, {2, 4, 16});
  expect_budgets("paper.csv", "base", 512, {2, 6, 14, 32});
}

}  // namespace
}  // namespace hf
