// Dataset files: a save/load round trip is exact, fill_batch builds the targets the model
// expects, and every bad file gives one usage error naming the file and what is wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "io/h5.h"
#include "model/tokenizer.h"
#include "util/check.h"

namespace hf {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  std::string dir = ::testing::TempDir() + "data_dataset/";
  fs::create_directories(dir);
  return dir + name;
}

// A small classification dataset: 6 train rows (T=8) over 2 clients, 2 test rows.
Dataset tiny_dataset() {
  Dataset d;
  d.task = Task::classify;
  d.n_classes = 2;
  d.seq_len = 8;
  d.classes = {"ham", "spam"};
  auto fill = [](Split& s, int n) {
    s.n = n;
    s.T = 8;
    for (int i = 0; i < n; i++) {
      std::vector<int32_t> row = encode("ab" + std::string(i % 4, 'x'), true);
      row.push_back(kClsToken);
      s.lengths.push_back(static_cast<int32_t>(row.size()));
      row.resize(8, kPadToken);
      s.tokens.insert(s.tokens.end(), row.begin(), row.end());
      s.labels.push_back(i % 2);
    }
  };
  fill(d.train, 6);
  fill(d.test, 2);
  d.partition_scheme = "iid";
  d.partition_seed = 7;
  d.client_offsets = {0, 4, 6};
  d.client_index = {5, 0, 2, 3, 1, 4};
  d.client_names = {"client_000", "client_001"};
  d.source = "unit test";
  d.source_version = "1";
  d.source_sha256 = "00";
  d.command = "hfedmoe prepare --prepare.clients 2";
  return d;
}

// Runs load and returns its one-line usage error ("" if it loaded).
std::string load_error(const std::string& path) {
  try {
    Dataset::load(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code, kExitUsage) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
  return "";
}

TEST(DataDataset, SaveLoadRoundTrip) {
  Dataset d = tiny_dataset();
  std::string path = temp_path("roundtrip.h5");
  d.save(path);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  Dataset r = Dataset::load(path);
  EXPECT_EQ(r.path, path);
  EXPECT_EQ(r.task, Task::classify);
  EXPECT_EQ(r.n_classes, 2);
  EXPECT_EQ(r.seq_len, 8);
  EXPECT_EQ(r.vocab_size, kByteVocab);
  EXPECT_EQ(r.classes, d.classes);
  EXPECT_EQ(r.train.tokens, d.train.tokens);
  EXPECT_EQ(r.train.lengths, d.train.lengths);
  EXPECT_EQ(r.train.labels, d.train.labels);
  EXPECT_EQ(r.test.tokens, d.test.tokens);
  EXPECT_EQ(r.client_offsets, d.client_offsets);
  EXPECT_EQ(r.client_index, d.client_index);
  EXPECT_EQ(r.client_names, d.client_names);
  EXPECT_EQ(r.partition_scheme, "iid");
  EXPECT_EQ(r.partition_seed, 7u);
  EXPECT_EQ(r.source, d.source);
  EXPECT_EQ(r.command, d.command);
  EXPECT_EQ(r.n_clients(), 2);
  EXPECT_EQ(r.client_size(0), 4);
  EXPECT_EQ(r.client_rows(1)[0], 1);
  // The stored per-client label histogram matches the rows.
  h5::File f = h5::File::open_read(path);
  EXPECT_EQ(f.shape("partition/label_hist"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(f.read<int64_t>("partition/label_hist"), (std::vector<int64_t>{2, 2, 1, 1}));
}

TEST(DataDataset, LmRoundTripHasNoLabels) {
  Dataset d = tiny_dataset();
  d.task = Task::lm;
  d.n_classes = 0;
  d.classes.clear();
  d.train.labels.clear();
  d.test.labels.clear();
  std::string path = temp_path("lm.h5");
  d.save(path);
  Dataset r = Dataset::load(path);
  EXPECT_EQ(r.task, Task::lm);
  EXPECT_TRUE(r.train.labels.empty());
  EXPECT_EQ(r.train.tokens, d.train.tokens);
}

TEST(DataDataset, FillBatchTargets) {
  Dataset d = tiny_dataset();
  int64_t rows[2] = {3, 0};
  std::vector<int32_t> tok(16), tgt(16, 99), lab(2);
  fill_batch(d.train, rows, 2, Task::lm, tok.data(), tgt.data(), lab.data());
  // row 3: BOS a b x x x CLS PAD (length 7): targets are the next token, -1 from position 6.
  EXPECT_EQ(std::vector<int32_t>(tok.begin(), tok.begin() + 8), std::vector<int32_t>(d.train.row(3), d.train.row(3) + 8));
  EXPECT_EQ(std::vector<int32_t>(tgt.begin(), tgt.begin() + 8),
            (std::vector<int32_t>{'a', 'b', 'x', 'x', 'x', kClsToken, -1, -1}));
  // row 0: BOS a b CLS (length 4).
  EXPECT_EQ(std::vector<int32_t>(tgt.begin() + 8, tgt.end()), (std::vector<int32_t>{'a', 'b', kClsToken, -1, -1, -1, -1, -1}));
  fill_batch(d.train, rows, 2, Task::classify, tok.data(), nullptr, lab.data());
  EXPECT_EQ(lab, (std::vector<int32_t>{1, 0}));
}

TEST(DataDataset, MissingFile) {
  std::string e = load_error(temp_path("no_such.h5"));
  EXPECT_NE(e.find("no_such.h5"), std::string::npos) << e;
}

TEST(DataDataset, TextFile) {
  std::string path = temp_path("text.h5");
  std::ofstream(path) << "this is not HDF5\n";
  std::string e = load_error(path);
  EXPECT_NE(e.find("text.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("not an HDF5"), std::string::npos) << e;
}

TEST(DataDataset, TruncatedFile) {
  std::string path = temp_path("truncated.h5");
  tiny_dataset().save(path);
  fs::resize_file(path, fs::file_size(path) / 2);
  std::string e = load_error(path);
  EXPECT_NE(e.find("truncated.h5"), std::string::npos) << e;
}

TEST(DataDataset, CheckpointIsNotADataset) {
  std::string path = temp_path("checkpoint.h5");
  {
    h5::File f = h5::File::create(path);
    f.set_attr("meta", "format", std::string("hfedmoe-checkpoint"));
    std::vector<float> w(4, 1.0f);
    f.write("model/tok_emb", w);
  }
  std::string e = load_error(path);
  EXPECT_NE(e.find("checkpoint.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("not an hfedmoe dataset"), std::string::npos) << e;
}

TEST(DataDataset, TokenOutOfVocabulary) {
  Dataset d = tiny_dataset();
  d.train.tokens[2 * 8 + 1] = 300;
  std::string path = temp_path("oov.h5");
  d.save(path);
  std::string e = load_error(path);
  EXPECT_NE(e.find("oov.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("/train/tokens[2, 1]=300"), std::string::npos) << e;
}

TEST(DataDataset, PartitionNotCoveringRows) {
  Dataset d = tiny_dataset();
  d.client_offsets = {0, 4, 5};
  d.client_index.pop_back();
  std::string path = temp_path("short_partition.h5");
  d.save(path);
  std::string e = load_error(path);
  EXPECT_NE(e.find("short_partition.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("/partition"), std::string::npos) << e;

  d = tiny_dataset();
  d.client_index = {5, 0, 2, 3, 1, 1};  // row 4 missing, row 1 twice
  d.save(path);
  e = load_error(path);
  EXPECT_NE(e.find("lists train row 1 twice"), std::string::npos) << e;

  d = tiny_dataset();
  d.client_offsets = {0, 5, 4};  // ends short of the rows and decreases
  d.save(path);
  e = load_error(path);
  EXPECT_NE(e.find("/partition/offsets decreases"), std::string::npos) << e;
}

TEST(DataDataset, LabelOutOfRange) {
  Dataset d = tiny_dataset();
  d.test.labels[1] = 2;
  std::string path = temp_path("label.h5");
  d.save(path);
  std::string e = load_error(path);
  EXPECT_NE(e.find("/test/labels[1]=2"), std::string::npos) << e;
}

TEST(DataDataset, InconsistentShapes) {
  std::string path = temp_path("shapes.h5");
  tiny_dataset().save(path);
  {
    // Rewrite /train/lengths with one entry too few.
    Dataset d = tiny_dataset();
    d.train.lengths.pop_back();
    h5::File f = h5::File::create(path);
    f.set_attr("/", "format", std::string("hfedmoe-dataset"));
    f.set_attr("/", "format_version", int64_t{1});
    f.set_attr("/", "task", std::string("classify"));
    f.set_attr("/", "n_classes", int64_t{2});
    f.set_attr("/", "seq_len", int64_t{8});
    f.set_attr("/", "vocab_size", int64_t{260});
    f.set_attr("/", "tokenizer", std::string("byte260"));
    f.write_strings("classes", d.classes);
    f.write("train/tokens", d.train.tokens.data(), {6, 8});
    f.write("train/lengths", d.train.lengths);
  }
  std::string e = load_error(path);
  EXPECT_NE(e.find("/train/lengths must have 6 entries"), std::string::npos) << e;
}

// A dataset in another tokenizer: its identity and special ids round-trip, its splits pad
// with its own pad id, and train/eval's check names both tokenizers.
TEST(DataDataset, OtherTokenizerRoundTripsItsIds) {
  Dataset d = tiny_dataset();
  d.tokenizer = "sha256:0123abcd";
  d.vocab_size = 300;
  d.specials = {299, 297, 298, 298};
  for (Split* s : {&d.train, &d.test})
    for (int64_t i = 0; i < s->n; i++)
      for (int t = s->lengths[i]; t < s->T; t++) s->tokens[i * s->T + t] = 299;
  std::string path = temp_path("other_tokenizer.h5");
  d.save(path);
  Dataset back = Dataset::load(path);
  EXPECT_EQ(back.tokenizer, "sha256:0123abcd");
  EXPECT_EQ(back.vocab_size, 300);
  EXPECT_EQ(back.specials.pad, 299);
  EXPECT_EQ(back.specials.bos, 297);
  EXPECT_EQ(back.specials.eos, 298);
  EXPECT_EQ(back.specials.cls, 298);
  EXPECT_EQ(back.train.pad, 299);
  EXPECT_EQ(back.test.pad, 299);
  EXPECT_EQ(back.train.tokens, d.train.tokens);
  back.check_tokenizer("sha256:0123abcd");
  std::string e;
  try {
    back.check_tokenizer("byte260");
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("is tokenised with sha256:0123abcd but model.tokenizer=byte260"), std::string::npos) << e;

  d.train.tokens[7] = kPadToken;  // byte260's pad where this tokenizer pads with 299
  d.save(path);
  e = load_error(path);
  EXPECT_NE(e.find("/train/tokens[0, 7] lies after the row's length 4 but is not the pad token 299"), std::string::npos)
      << e;
}

TEST(DataDataset, WrongVersion) {
  std::string path = temp_path("version.h5");
  tiny_dataset().save(path);
  {
    h5::File f = h5::File::create(path);
    f.set_attr("/", "format", std::string("hfedmoe-dataset"));
    f.set_attr("/", "format_version", int64_t{99});
  }
  std::string e = load_error(path);
  EXPECT_NE(e.find("format version 99"), std::string::npos) << e;
}

}  // namespace
}  // namespace hf
