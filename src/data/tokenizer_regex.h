#pragma once
// The regexes of tokenizer.json pre-tokenisers (Split patterns, ByteLevel's GPT-2 pattern),
// matched over the code points of UTF-8 text. They need Unicode classes (\p{L}, \p{N}, ...)
// that std::regex lacks, so this is a small backtracking engine for the constructs those
// files use, with the leftmost-first alternation of Oniguruma and fancy-regex (the engines
// of the Hugging Face tokenizers crate):
//   literals, escapes \r \n \t \f \v \uHHHH \xHH and escaped punctuation (\\ \[ \- ...);
//   \s \S (White_Space), \p{X} \P{X} for the general categories X in L M N P S Z C;
//   classes [...] with ranges, negation [^...] and the escapes above inside; `.` (not \n);
//   groups (...) (?:...) and (?i:...) (case folding of ASCII letters only); alternation |;
//   greedy quantifiers * + ? {m} {m,} {m,n}; the negative lookahead (?!...); $ (end of text,
//   as fancy-regex; Oniguruma's also matches before a \n).
// Anything else (backreferences, lazy or possessive quantifiers, other flags or
// lookarounds, \d \w \b, subcategories such as \p{Lu}) is refused with one line naming the
// construct and the regex. The classes come from a table generated from Python's
// unicodedata (unicode_classes_gen.py).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hf {

// The pieces a Split pre-tokeniser keeps: behaviour Isolated keeps the matches and the
// stretches between them (inverted or not); Removed drops the matches, or with `invert`
// the stretches.
enum class SplitKeep { kBoth, kStretches, kMatches };

class TokenizerRegex {
 public:
  // Compiles `pattern`; a usage error naming `file`, the construct and the pattern when it
  // uses something this engine does not implement.
  TokenizerRegex(const std::string& pattern, const std::string& file, SplitKeep keep = SplitKeep::kBoth);

  // The non-overlapping leftmost-first matches in `text` as byte [begin, end) ranges, in
  // order; after an empty match the search resumes one code point later.
  std::vector<std::pair<size_t, size_t>> matches(std::string_view text) const;

  // A Split pre-tokeniser: the matches and the stretches between them that it keeps, in
  // order (views into `text`, none empty); with kBoth they cover `text` exactly.
  std::vector<std::string_view> split(std::string_view text) const;

  // A set of code points: ASCII ones by bitmap, the others by ranges and classes.
  struct CharSet {
    uint64_t ascii[2] = {0, 0};                         // membership of code points 0..127
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive
    uint8_t with = 0;                                   // class bits any of which admit (\p, \s)
    std::vector<uint8_t> without;                       // class bits whose absence admits (\P, \S)
    bool negated = false;
    bool contains(uint32_t cp, uint8_t classes) const;
  };
  // One step of the backtracking program.
  struct Inst {
    enum Op : uint8_t { kSet, kRunSet, kSplit, kJump, kNotAhead, kEnd, kMatch } op;
    int x = 0;  // kSet: the set; kRunSet: the set of a greedy X* (one backtrack entry for the run); kSplit: the preferred branch; kJump: the target; kNotAhead: the body
    int y = 0;  // kSplit: the other branch; kNotAhead: where to go on when the body fails
  };

 private:
  // Where to resume after a failure: at (pc, pos); for a greedy run, also (pc, pos - 1) and
  // so on down to pos == floor, each tried after the one before fails.
  struct Backtrack {
    static constexpr size_t kOnce = ~size_t{0};  // floor of a plain entry
    int pc;
    size_t pos, floor;
  };
  // The end (code point index) of the leftmost-first match starting at `at`, or -1.
  long match_at(const std::vector<uint32_t>& cps, const std::vector<uint8_t>& classes, size_t at, int pc,
                std::vector<Backtrack>& stack) const;

  SplitKeep keep_;
  std::vector<CharSet> sets_;
  std::vector<Inst> program_;  // ends in kMatch; a lookahead's body sits inline after it
};

// A Sequence of Split pre-tokenisers: `text` cut by the first regex, each piece cut again
// by the second, and so on (none empty).
std::vector<std::string_view> split_in_turn(std::string_view text, const std::vector<TokenizerRegex>& regexes);

}  // namespace hf
