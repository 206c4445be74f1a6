// Checkpoints: bit-exact round trip, latest/keep, and one clear error (with nothing
// overwritten) for truncated, corrupted, foreign, wrong-shape and half-written files.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "commands/checkpoint_config.h"
#include "io/checkpoint.h"
#include "io/crc32.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/seal.h"
#include "util/check.h"
#include "util/rng.h"
#include "test_util.h"

namespace hf {
namespace {

using test::error_of;
namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  std::string dir = ::testing::TempDir() + "ckpt_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

ModelConfig tiny() { return model_preset("tiny"); }

const char* kTinyIni = "[model]\npreset = tiny\nvocab_size = 260\nd_model = 64\n";

Checkpoint make_checkpoint(const ParamTable& table, int64_t round) {
  Checkpoint ck;
  ck.kind = "train";
  ck.round = round;
  ck.seed = 0xFEDCBA9876543210ull;  // above 2^63: the bits must survive an int64 attribute
  ck.method = "hfedmoe";
  ck.config_ini = kTinyIni;
  ck.model.resize(table.total());
  Rng rng(7, Purpose::init, static_cast<uint64_t>(round));
  for (auto& x : ck.model) x = static_cast<float>(rng.normal());
  ck.model[3] = -0.0f;
  ck.model[5] = 1e-42f;  // a denormal
  ck.server_f32["adam_m"] = {1.5f, -2.5f};
  ck.server_f64["virtual_clock"] = {123.456789012345};
  ck.server_i64["sampler"] = {static_cast<int64_t>(round), -1, INT64_MAX};
  ck.clients_f32["usage"] = std::vector<float>(6 * 8, 0.25f);
  ck.clients_i64["rounds_seen"] = {0, 1, 2, 3, 4, 5};
  for (int64_t r = 1; r <= round; r++)
    ck.metrics.push_back({{"round", r},
                          {"loss", 1.0 / static_cast<double>(r)},
                          {"test_acc", r % 2 ? MetricValue(std::nan("")) : MetricValue(0.5)},
                          {"note", std::string(r == 1 ? "first, \"quoted\"" : "")}});
  return ck;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The zlib/IEEE CRC-32: the standard check value, and chaining over any split of the bytes
// (the 8-byte fast path and the byte tail must agree).
TEST(Crc32, MatchesTheStandardAndChains) {
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(crc32("", 0), 0u);
  std::string text = "The quick brown fox jumps over the lazy dog, twice: the quick brown fox.";
  uint32_t whole = crc32(text.data(), text.size());
  for (size_t cut = 0; cut <= text.size(); cut += 5)
    EXPECT_EQ(crc32(text.data() + cut, text.size() - cut, crc32(text.data(), cut)), whole) << cut;
  EXPECT_EQ(crc32(text.data(), 43), 0x414FA339u);  // "The quick brown fox jumps over the lazy dog"
}

TEST(Checkpoint, RoundTripIsBitExact) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("roundtrip");
  Checkpoint ck = make_checkpoint(table, 3);
  std::string path = save_checkpoint(ck, table, dir, 2);
  EXPECT_EQ(path, dir + "/train_3.h5");
  EXPECT_EQ(latest_checkpoint(dir, "train"), path);

  Checkpoint back = load_checkpoint(path, table);
  EXPECT_EQ(back.kind, "train");
  EXPECT_EQ(back.round, 3);
  EXPECT_EQ(back.seed, ck.seed);
  EXPECT_EQ(back.method, "hfedmoe");
  EXPECT_EQ(back.config_ini, ck.config_ini);
  EXPECT_TRUE(same_bits(back.model, ck.model));
  EXPECT_EQ(back.server_f32, ck.server_f32);
  EXPECT_EQ(back.server_f64, ck.server_f64);
  EXPECT_EQ(back.server_i64, ck.server_i64);
  EXPECT_EQ(back.clients_f32, ck.clients_f32);
  EXPECT_EQ(back.clients_i64, ck.clients_i64);
  ASSERT_EQ(back.metrics.size(), ck.metrics.size());
  for (size_t r = 0; r < ck.metrics.size(); r++) EXPECT_EQ(to_json(back.metrics[r]), to_json(ck.metrics[r]));

  // The table of the stored config reads the same model.
  ParamTable stored = stored_model_table(path);
  Checkpoint own = load_checkpoint(path, stored);
  EXPECT_TRUE(same_bits(own.model, ck.model));

  std::vector<float> weights(table.total());
  load_model_weights(path, table, weights.data());
  EXPECT_TRUE(same_bits(weights, ck.model));
}

TEST(Checkpoint, EmptyMetricsAndServerRoundTrip) {
  ParamTable table(tiny());
  Checkpoint ck;
  ck.kind = "pretrain";
  ck.config_ini = kTinyIni;
  ck.model.assign(table.total(), 0.5f);
  std::string dir = fresh_dir("empty");
  Checkpoint back = load_checkpoint(save_checkpoint(ck, table, dir, 1), table);
  EXPECT_EQ(back.kind, "pretrain");
  EXPECT_TRUE(back.metrics.empty());
  EXPECT_TRUE(back.server_f32.empty() && back.clients_i64.empty());
}

TEST(Checkpoint, LatestAndKeep) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("keep");
  EXPECT_EQ(latest_checkpoint(dir, "train"), "");
  for (int64_t r = 1; r <= 5; r++) save_checkpoint(make_checkpoint(table, r), table, dir, 2);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"latest", "train_4.h5", "train_5.h5"}));
  EXPECT_EQ(read_file(dir + "/latest"), "train_5.h5\n");
  EXPECT_EQ(load_checkpoint(latest_checkpoint(dir, "train"), table).round, 5);

  // latest naming a deleted file is an error, not a silent fresh start.
  fs::remove(dir + "/train_5.h5");
  EXPECT_NE(error_of([&] { latest_checkpoint(dir, "train"); }).find("train_5.h5, which does not exist"), std::string::npos);

  // latest must name a file in its own folder: never another run's checkpoint.
  std::ofstream(dir + "/latest", std::ios::trunc) << "../other/ckpt/train_4.h5\n";
  EXPECT_NE(error_of([&] { latest_checkpoint(dir, "train"); }).find("outside its folder"), std::string::npos);

  // No latest: the newest valid checkpoint (a damaged newer one skipped), never a fresh start.
  fs::remove(dir + "/latest");
  save_checkpoint(make_checkpoint(table, 6), table, dir, 3);
  fs::remove(dir + "/latest");
  EXPECT_EQ(latest_checkpoint(dir, "train"), dir + "/train_6.h5");
  fs::resize_file(dir + "/train_6.h5", 1000);
  EXPECT_EQ(latest_checkpoint(dir, "train"), dir + "/train_4.h5");
  EXPECT_EQ(latest_checkpoint(dir, "pretrain"), "");  // another kind's files are not this run's
  fs::resize_file(dir + "/train_4.h5", 1000);
  EXPECT_NE(error_of([&] { latest_checkpoint(dir, "train"); }).find("has 2 train checkpoints but no latest, and none is valid"),
            std::string::npos);
}

TEST(Checkpoint, TruncatedFileGivesOneErrorAndOverwritesNothing) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("truncated");
  std::string good = save_checkpoint(make_checkpoint(table, 1), table, dir, 2);
  std::string cut = dir + "/cut.h5";
  fs::copy_file(good, cut);
  fs::resize_file(cut, fs::file_size(good) / 2);
  std::string before = read_file(good);
  std::string msg = error_of([&] { load_checkpoint(cut, table); });
  EXPECT_NE(msg.find("cut.h5"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_NE(msg, "(no error)");
  EXPECT_EQ(read_file(good), before);
  EXPECT_EQ(latest_checkpoint(dir, "train"), good);
}

// Flip bytes inside a tensor's data (HDF5 metadata intact): the seal notices before libhdf5
// reads anything.
TEST(Checkpoint, CorruptedTensorFailsItsCrc) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("corrupt");
  std::string path = save_checkpoint(make_checkpoint(table, 1), table, dir, 2);
  haddr_t offset;
  {
    auto f = h5::File::open_read(path);
    hid_t d = H5Dopen2(f.id(), "model/layer_1/expert_2/w3", H5P_DEFAULT);
    offset = H5Dget_offset(d);
    H5Dclose(d);
  }
  ASSERT_NE(offset, HADDR_UNDEF);
  {
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(offset) + 100);
    io.write("\x5a\xa5\x5a\xa5", 4);
  }
  std::string msg = error_of([&] { load_checkpoint(path, table); });
  EXPECT_NE(msg.find("fails its whole-file crc32 check"), std::string::npos) << msg;
  std::vector<float> w(table.total());
  EXPECT_NE(error_of([&] { load_model_weights(path, table, w.data()); }).find("crc32"), std::string::npos);
  EXPECT_NE(error_of([&] { load_checkpoint_meta(path); }).find("crc32"), std::string::npos);
}

// Rewrite a value through libhdf5 and seal the file again (what a tool that knows the seal
// could do): the manifest still names the change.
void rewrite_round(const std::string& path, int64_t round) {
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t meta = H5Gopen2(id, "meta", H5P_DEFAULT);
  hid_t a = H5Aopen(meta, "round", H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &round);
  H5Aclose(a);
  H5Gclose(meta);
  H5Fclose(id);
  write_seal(path);
}

TEST(Checkpoint, ManifestCatchesAResealedChange) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("manifest");
  std::string path = save_checkpoint(make_checkpoint(table, 3), table, dir, 2);
  Manifest m = open_checkpoint(path).manifest;
  EXPECT_EQ(Manifest::parse(m.text(), path).text(), m.text());
  EXPECT_EQ(m.datasets.size(), table.tensors().size() + 5 + 4);  // model, server/clients, metrics
  EXPECT_EQ(m.datasets.at("model/tok_emb").dtype, "f32");
  EXPECT_EQ(m.datasets.at("model/tok_emb").shape, (std::vector<int64_t>{260, 64}));
  EXPECT_TRUE(m.attrs.count({"meta", "round"}));
  rewrite_round(path, 1);
  std::string msg = error_of([&] { load_checkpoint(path, table); });
  EXPECT_NE(msg.find("attribute round of /meta fails its crc32 check"), std::string::npos) << msg;
  // A damaged manifest text is named as such.
  EXPECT_NE(error_of([&] { Manifest::parse("hfedmoe manifest 1\ndataset x f32 2,x 00000000", path); })
                .find("line 2 of its manifest is not an entry"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Manifest::parse("", path); }).find("no 'hfedmoe manifest 1' header"), std::string::npos);
}

// Every single-byte change of the seal, and truncation at any length, is one error.
TEST(Checkpoint, SealCatchesEveryFlipAndCut) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("seal");
  std::string path = save_checkpoint(make_checkpoint(table, 1), table, dir, 2);
  std::string good = read_file(path), bad = dir + "/bad.h5";
  for (size_t at : {size_t{0}, size_t{5}, size_t{30}, size_t{40}, size_t{60}, size_t{511}, size_t{512}, size_t{600},
                    good.size() / 2, good.size() - 1}) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << flipped;
    std::string msg = error_of([&] { open_checkpoint(bad); });
    EXPECT_NE(msg.find("bad.h5"), std::string::npos) << at << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  for (size_t n : {size_t{0}, size_t{8}, size_t{511}, size_t{512}, size_t{4096}, good.size() - 1}) {
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << good.substr(0, n);
    EXPECT_NE(error_of([&] { open_checkpoint(bad); }), "(no error)") << n;
  }
}

TEST(Checkpoint, ForeignAndWrongKindFiles) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("foreign");
  std::string text = dir + "/notes.h5";
  std::ofstream(text) << "not hdf5 at all";
  EXPECT_NE(error_of([&] { load_checkpoint(text, table); }).find("not an HDF5 file"), std::string::npos);

  std::string dataset = dir + "/data.h5";
  {
    auto f = h5::File::create(dataset);
    f.set_attr("/", "format", std::string("hfedmoe-dataset"));
    f.write("train/tokens", std::vector<int32_t>{1, 2, 3});
  }
  EXPECT_NE(error_of([&] { load_checkpoint(dataset, table); }).find("is an hfedmoe dataset, not a checkpoint"),
            std::string::npos);

  std::string other = dir + "/other.h5";
  h5::File::create(other).write("x", std::vector<float>{1});
  EXPECT_NE(error_of([&] { load_checkpoint(other, table); }).find("not an hfedmoe checkpoint"), std::string::npos);

  std::string future = save_checkpoint(make_checkpoint(table, 1), table, dir, 2);
  {
    // Rewrite the version attribute in place, as a newer hfedmoe would have written it.
    hid_t id = H5Fopen(future.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t meta = H5Gopen2(id, "meta", H5P_DEFAULT);
    hid_t a = H5Aopen(meta, "format_version", H5P_DEFAULT);
    int64_t v = 99;
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Gclose(meta);
    H5Fclose(id);
    write_seal(future);
  }
  EXPECT_NE(error_of([&] { load_checkpoint(future, table); }).find("format version 99"), std::string::npos);
}

TEST(Checkpoint, ShapeMismatchNamesTheTensor) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("shape");
  std::string path = save_checkpoint(make_checkpoint(table, 1), table, dir, 2);

  ModelConfig wider = tiny();
  wider.d_ff = 96;
  ParamTable other(wider);
  std::string msg = error_of([&] { load_checkpoint(path, other); });
  EXPECT_NE(msg.find("tensor layer_0/expert_0/w1 has shape [128, 64] in the checkpoint, the model expects [96, 64]"),
            std::string::npos)
      << msg;

  ModelConfig vocab = tiny();
  vocab.vocab_size = 300;
  ParamTable v300(vocab);
  msg = error_of([&] { load_checkpoint(path, v300); });
  EXPECT_NE(msg.find("vocabulary size 260; the model has 300"), std::string::npos) << msg;

  ModelConfig tied = tiny();
  tied.tie_embeddings = true;
  ParamTable no_head(tied);
  msg = error_of([&] { load_checkpoint(path, no_head); });
  EXPECT_NE(msg.find("tensor lm_head is in the checkpoint but not in the model"), std::string::npos) << msg;

  ModelConfig cls = tiny();
  cls.n_classes = 4;
  ParamTable with_cls(cls);
  msg = error_of([&] { load_checkpoint(path, with_cls); });
  EXPECT_NE(msg.find("tensor cls_head/w [4, 64] is missing"), std::string::npos) << msg;
}

// A writer killed mid-file leaves <name>.h5.tmp behind; latest still names the last complete
// checkpoint, and the next save clears the leftover.
TEST(Checkpoint, InterruptedWriteLeavesLatestIntact) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("interrupted");
  std::string good = save_checkpoint(make_checkpoint(table, 1), table, dir, 2);
  std::string bytes = read_file(good);
  std::ofstream(dir + "/train_2.h5.tmp", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  std::ofstream(dir + "/latest.tmp") << "train_2.h5";  // a half-done replacement of latest
  EXPECT_EQ(latest_checkpoint(dir, "train"), good);
  EXPECT_EQ(load_checkpoint(latest_checkpoint(dir, "train"), table).round, 1);
  save_checkpoint(make_checkpoint(table, 2), table, dir, 2);
  EXPECT_FALSE(fs::exists(dir + "/train_2.h5.tmp"));
  EXPECT_EQ(load_checkpoint(latest_checkpoint(dir, "train"), table).round, 2);
}

// The real thing: a child process saving checkpoint after checkpoint is SIGKILLed at
// arbitrary moments; whatever latest names must always load and be complete.
TEST(Checkpoint, SigkillDuringWritesNeverDamagesLatest) {
  ParamTable table(tiny());
  std::string dir = fresh_dir("sigkill");
  save_checkpoint(make_checkpoint(table, 1), table, dir, 2);
  for (int trial = 0; trial < 6; trial++) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        for (int64_t r = 0;; r++) save_checkpoint(make_checkpoint(table, 2 + r % 5), table, dir, 2);
      } catch (...) {
        _exit(1);
      }
    }
    usleep(static_cast<useconds_t>(20000 + 37000 * trial));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    std::string latest = latest_checkpoint(dir, "train");
    Checkpoint ck = load_checkpoint(latest, table);
    EXPECT_TRUE(same_bits(ck.model, make_checkpoint(table, ck.round).model)) << latest;
  }
}

}  // namespace
}  // namespace hf
