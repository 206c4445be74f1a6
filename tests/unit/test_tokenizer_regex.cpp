// The pre-tokeniser regex engine (data/tokenizer_regex.h), construct by construct; what
// Oniguruma and fancy-regex (the Hugging Face tokenizers crate's engines) find is the
// expectation. Whole tokenizers over real text are in test_tokenizers_reference.cpp.
#include <gtest/gtest.h>

#include "data/tokenizer_regex.h"
#include "test_util.h"

namespace hf {
namespace {

using V = std::vector<std::string>;

// The matched substrings of `text`, in order.
V found(const std::string& regex, const std::string& text) {
  V out;
  for (auto [begin, end] : TokenizerRegex(regex, "test").matches(text)) out.push_back(text.substr(begin, end - begin));
  return out;
}

TEST(TokenizerRegex, LiteralsAndEscapes) {
  EXPECT_EQ(found(R"(a\.b)", "axb a.b"), (V{"a.b"}));
  EXPECT_EQ(found(R"(\\\[\-)", R"(x\[-)"), (V{R"(\[-)"}));
  EXPECT_EQ(found(R"(\r\n|\t)", "a\r\nb\tc\n"), (V{"\r\n", "\t"}));
  EXPECT_EQ(found(R"(\u00e9|\x41)", "e\xC3\xA9" "aA"), (V{"\xC3\xA9", "A"}));
  EXPECT_EQ(found("\xE4\xB8\x80+", "a\xE4\xB8\x80\xE4\xB8\x80"), (V{"\xE4\xB8\x80\xE4\xB8\x80"}));  // U+4E00 as itself
}

TEST(TokenizerRegex, UnicodeClasses) {
  EXPECT_EQ(found(R"(\p{L}+)", "ab1\xC3\xA9\xD0\xB6"), (V{"ab", "\xC3\xA9\xD0\xB6"}));
  EXPECT_EQ(found(R"(\p{N}+)", "x12\xC2\xBD"), (V{"12\xC2\xBD"}));       // ½ is No
  EXPECT_EQ(found(R"(\p{M})", "e\xCC\x81"), (V{"\xCC\x81"}));            // U+0301 combining acute
  EXPECT_EQ(found(R"(\p{P}+)", "a,.!b\xE3\x80\x82"), (V{",.!", "\xE3\x80\x82"}));  // 。
  EXPECT_EQ(found(R"(\p{S}+)", "a$+<b\xE2\x82\xAC"), (V{"$+<", "\xE2\x82\xAC"}));  // €
  EXPECT_EQ(found(R"(\p{Z})", "a b\xE3\x80\x80"), (V{" ", "\xE3\x80\x80"}));      // ideographic space
  EXPECT_EQ(found(R"(\p{C})", "a\x01" "b"), (V{"\x01"}));
  EXPECT_EQ(found(R"(\P{L}+)", "ab12cd"), (V{"12"}));
  EXPECT_EQ(found(R"(\s+)", "a \t\n\xC2\xA0" "b"), (V{" \t\n\xC2\xA0"}));  // NBSP is White_Space
  EXPECT_EQ(found(R"(\S+)", "ab  c"), (V{"ab", "c"}));
}

TEST(TokenizerRegex, ClassesWithRangesNegationAndEscapes) {
  EXPECT_EQ(found("[a-c]+", "abcdab"), (V{"abc", "ab"}));
  EXPECT_EQ(found("[^a-c]+", "abcdeab"), (V{"de"}));
  EXPECT_EQ(found(R"([\p{N}x]+)", "12x3y"), (V{"12x3"}));
  EXPECT_EQ(found(R"([^\s\p{L}]+)", "ab !?12 c"), (V{"!?12"}));
  EXPECT_EQ(found(R"([\-\]\\]+)", R"(a-]\b)"), (V{R"(-]\)"}));
  EXPECT_EQ(found("[\xE3\x81\x80-\xE3\x82\x9F]+", "a\xE3\x81\x82\xE3\x81\x84z"), (V{"\xE3\x81\x82\xE3\x81\x84"}));  // hiragana
  EXPECT_EQ(found(".+", "ab\ncd"), (V{"ab", "cd"}));  // `.` stops at \n
}

TEST(TokenizerRegex, GroupsAndCaseFolding) {
  EXPECT_EQ(found("(ab)+", "ababa"), (V{"abab"}));
  EXPECT_EQ(found("(?:a|b)c", "acbcc"), (V{"ac", "bc"}));
  EXPECT_EQ(found("(?i:'re)|x", "'RE 're 'Re x X"), (V{"'RE", "'re", "'Re", "x"}));
  EXPECT_EQ(found("(?i:[a-b]+)", "ABba"), (V{"ABba"}));
  EXPECT_EQ(found("(?i:\xC3\xA9)", "\xC3\x89\xC3\xA9"), (V{"\xC3\xA9"}));  // ASCII folding only: É stays
}

// Leftmost-first, not leftmost-longest: the first alternative that matches wins.
TEST(TokenizerRegex, AlternationIsLeftmostFirst) {
  EXPECT_EQ(found("a|ab", "ab"), (V{"a"}));
  EXPECT_EQ(found("ab|a", "ab"), (V{"ab"}));
  EXPECT_EQ(found("x|a+b", "aaab"), (V{"aaab"}));
}

TEST(TokenizerRegex, GreedyQuantifiersBacktrack) {
  EXPECT_EQ(found("a{2}", "aaaaa"), (V{"aa", "aa"}));
  EXPECT_EQ(found("a{2,}", "a aaaaa"), (V{"aaaaa"}));
  EXPECT_EQ(found("a{1,3}", "aaaaa"), (V{"aaa", "aa"}));
  EXPECT_EQ(found("a?b", "abb"), (V{"ab", "b"}));
  EXPECT_EQ(found("a+ab", "aaab"), (V{"aaab"}));    // the run gives one back
  EXPECT_EQ(found("(ab)*abc", "abababc"), (V{"abababc"}));
  EXPECT_EQ(found(R"(\s*[\r\n]+)", "x  \n\n y"), (V{"  \n\n"}));
  EXPECT_EQ(found("a{,2}", "a{,2}"), (V{"a{,2}"}));  // not a quantifier: literal braces
}

TEST(TokenizerRegex, EmptyMatchesAdvanceOneCodePoint) {
  TokenizerRegex star("a*", "test");
  std::string text = "b\xC3\xA9" "a";
  EXPECT_EQ(star.matches(text), (std::vector<std::pair<size_t, size_t>>{{0, 0}, {1, 1}, {3, 4}, {4, 4}}));
  // As in the tokenizers crate, an empty match cuts the stretch it falls in.
  EXPECT_EQ(star.split(text), (std::vector<std::string_view>{"b", "\xC3\xA9", "a"}));
}

TEST(TokenizerRegex, NegativeLookaheadAndEnd) {
  EXPECT_EQ(found(R"(\s+(?!\S))", "a   b"), (V{"  "}));  // leaves the space before b
  EXPECT_EQ(found(R"(\s+(?!\S)|\s+)", "a   b  "), (V{"  ", " ", "  "}));
  EXPECT_EQ(found("a(?!b)", "ab ac"), (V{"a"}));
  EXPECT_EQ(found("a(?!b|c)", "ab ac ad"), (V{"a"}));
  EXPECT_EQ(found("a$", "aa a"), (V{"a"}));
  EXPECT_EQ(TokenizerRegex("a$", "test").matches("aa a"), (std::vector<std::pair<size_t, size_t>>{{3, 4}}));
}

TEST(TokenizerRegex, SplitKeepsMatchesAndTheStretchesBetween) {
  TokenizerRegex digits(R"(\p{N}{1,3})", "test");
  EXPECT_EQ(digits.split("ab12345c"), (std::vector<std::string_view>{"ab", "123", "45", "c"}));
  EXPECT_EQ(digits.split(""), (std::vector<std::string_view>{}));
  EXPECT_EQ(TokenizerRegex(R"(\p{N}{1,3})", "test", SplitKeep::kStretches).split("ab12345c"),
            (std::vector<std::string_view>{"ab", "c"}));
  EXPECT_EQ(TokenizerRegex(R"(\p{N}{1,3})", "test", SplitKeep::kMatches).split("ab12345c"),
            (std::vector<std::string_view>{"123", "45"}));
  // A byte that is not UTF-8 is a code point of its own (U+FFFD, class S) and is kept.
  EXPECT_EQ(digits.split("\xFF" "1"), (std::vector<std::string_view>{"\xFF", "1"}));
}

// The shape of DeepSeek-LLM's (DeepSeekMoE's) six Splits, its long letter class shortened to
// a few ranges (one of them astral): newlines, letter runs, ASCII and full-width punctuation,
// trailing whitespace (`$`), CJK and Hangul runs, digit runs, each cutting the pieces before.
TEST(TokenizerRegex, SplitsInTurnAsDeepSeekLlm) {
  std::vector<TokenizerRegex> splits;
  for (const char* regex : {R"([\r\n])", "\\s?[A-Za-z\\u00b5\\u00c0-\\u00d6\\u00d8-\\u00f6\xF0\x90\x90\x80-\xF0\x90\x91\x8F]+",
                            R"(\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+)", R"(\s+$)",
                            R"([\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+)", R"(\p{N}+)"})
    splits.emplace_back(regex, "test");
  std::string text = "Hi, \xE4\xB8\x96\xE7\x95\x8C 42!\n  ";  // 世界
  EXPECT_EQ(split_in_turn(text, splits), (std::vector<std::string_view>{"Hi", ",", " ", "\xE4\xB8\x96\xE7\x95\x8C", " ",
                                                                       "42", "!", "\n", "  "}));
}

TEST(TokenizerRegex, RefusesWhatItDoesNotImplementByName) {
  auto refusal = [](const std::string& regex) { return test::error_of([&] { TokenizerRegex(regex, "tok.json"); }); };
  const std::pair<const char*, const char*> cases[] = {
      {R"(\d+)", "uses \\d"},
      {"a*?", "uses a lazy quantifier"},
      {"a++", "uses a possessive quantifier"},
      {"(?=a)", "uses a group (?="},
      {"(?<!a)b", "uses a group (?<"},
      {R"(\p{Lu})", "uses \\p{ other than"},
      {"[[a]]", "uses a nested class ["},
      {R"((a)\1)", "uses \\1"},
      {"^a", "uses ^"},
      {"(a", "uses an unclosed ("},
      {"a)", "uses an unmatched )"},
      {"(?:a*)*", "uses an unbounded repeat of something that can match nothing"},
      {"*a", "uses a quantifier with nothing to repeat"},
      {"a{1001}", "uses a repeat count above 1000"},
  };
  for (auto [regex, want] : cases) {
    std::string msg = refusal(regex);
    EXPECT_NE(msg.find(std::string("tok.json: pre-tokenizer regex ") + regex + " " + want), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace hf
