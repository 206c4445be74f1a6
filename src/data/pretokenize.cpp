#include "data/pretokenize.h"

#include "data/unicode_classes.h"
#include "util/check.h"

namespace hf {

namespace {

const char* const kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The text as code points, each with its byte offset and class; the matchers index these.
struct CodePoints {
  std::vector<uint32_t> cp;
  std::vector<size_t> offset;  // (n + 1): offset[n] is the text's size
  std::vector<uint8_t> cls;  // unicode_classes bits

  explicit CodePoints(std::string_view text) {
    for (size_t pos = 0, len = 0; pos < text.size(); pos += len) {
      uint32_t c = utf8_next(text, pos, &len);
      cp.push_back(c);
      offset.push_back(pos);
      cls.push_back(unicode_classes(c));
    }
    offset.push_back(text.size());
  }
  size_t size() const { return cp.size(); }
  bool letter(size_t i) const { return i < size() && (cls[i] & kLetterBit); }
  bool number(size_t i) const { return i < size() && (cls[i] & kNumberBit); }
  bool space(size_t i) const { return i < size() && (cls[i] & kWhitespaceBit); }
  // [^\s\p{L}\p{N}]
  bool other(size_t i) const { return i < size() && !(cls[i] & (kLetterBit | kNumberBit | kWhitespaceBit)); }
  bool newline(size_t i) const { return i < size() && (cp[i] == '\r' || cp[i] == '\n'); }
  bool is(size_t i, char c) const { return i < size() && cp[i] == static_cast<uint32_t>(c); }
  template <class Pred>
  size_t run(size_t i, Pred pred) const {
    while (pred(i)) i++;
    return i;
  }
};

constexpr size_t kNoMatch = 0;  // a match is never empty, so 0 cannot be its end

// 's|'t|'re|'ve|'m|'ll|'d, optionally ASCII case-insensitive.
size_t contraction(const CodePoints& t, size_t i, bool any_case) {
  if (!t.is(i, '\'')) return kNoMatch;
  auto at = [&](size_t k, char c) {
    if (k >= t.size()) return false;
    uint32_t x = t.cp[k];
    if (any_case && x >= 'A' && x <= 'Z') x += 'a' - 'A';
    return x == static_cast<uint32_t>(c);
  };
  for (char c : {'s', 't', 'm', 'd'})
    if (at(i + 1, c)) return i + 2;
  for (const char* two : {"re", "ve", "ll"})
    if (at(i + 1, two[0]) && at(i + 2, two[1])) return i + 3;
  return kNoMatch;
}

// ` ?X+` for a class test X: an optional leading space, then at least one X.
template <class Pred>
size_t space_then_run(const CodePoints& t, size_t i, Pred pred) {
  size_t j = t.is(i, ' ') && pred(i + 1) ? i + 1 : i;
  return pred(j) ? t.run(j, pred) : kNoMatch;
}

// \s+(?!\S) then \s+: a whitespace run, less its last space when a non-space follows it
// (that space then leads the next piece), but never empty.
size_t whitespace(const CodePoints& t, size_t i) {
  size_t end = t.run(i, [&](size_t k) { return t.space(k); });
  if (end == i) return kNoMatch;
  if (end < t.size() && end - i >= 2) return end - 1;
  return end;
}

size_t match_gpt2(const CodePoints& t, size_t i) {
  size_t end;
  if ((end = contraction(t, i, false))) return end;
  if ((end = space_then_run(t, i, [&](size_t k) { return t.letter(k); }))) return end;
  if ((end = space_then_run(t, i, [&](size_t k) { return t.number(k); }))) return end;
  if ((end = space_then_run(t, i, [&](size_t k) { return t.other(k); }))) return end;
  return whitespace(t, i);
}

size_t match_llama3(const CodePoints& t, size_t i, size_t max_digits) {
  size_t end;
  if ((end = contraction(t, i, true))) return end;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  size_t j = !t.newline(i) && !t.letter(i) && !t.number(i) && i < t.size() && t.letter(i + 1) ? i + 1 : i;
  if (t.letter(j)) return t.run(j, [&](size_t k) { return t.letter(k); });
  // \p{N}{1,max_digits}
  if (t.number(i)) {
    end = i;
    while (end - i < max_digits && t.number(end)) end++;
    return end;
  }
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  if ((end = space_then_run(t, i, [&](size_t k) { return t.other(k); })))
    return t.run(end, [&](size_t k) { return t.newline(k); });
  // \s*[\r\n]+: the whitespace run up to and including its last newline
  size_t run_end = t.run(i, [&](size_t k) { return t.space(k); });
  for (size_t k = run_end; k > i; k--)
    if (t.newline(k - 1)) return k;
  return whitespace(t, i);
}

}  // namespace

SplitPattern split_pattern_of_regex(const std::string& regex, const std::string& file) {
  if (regex == kGpt2Regex) return SplitPattern::kGpt2;
  if (regex == kLlama3Regex) return SplitPattern::kLlama3;
  if (regex == kQwen2Regex) return SplitPattern::kQwen2;
  fail(file + ": pre-tokenizer Split regex " + regex + " is not one this build knows",
       "use a tokenizer with GPT-2's, Llama-3's or Qwen2's pattern (data/pretokenize.h)");
}

std::vector<std::string_view> split_pieces(std::string_view text, SplitPattern pattern) {
  CodePoints t(text);
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < t.size();) {
    size_t end = pattern == SplitPattern::kGpt2     ? match_gpt2(t, i)
                 : pattern == SplitPattern::kLlama3 ? match_llama3(t, i, 3)
                                                    : match_llama3(t, i, 1);
    HF_CHECK(end > i, "pre-tokenizer matched nothing at code point %zu", i);
    pieces.push_back(text.substr(t.offset[i], t.offset[end] - t.offset[i]));
    i = end;
  }
  return pieces;
}

}  // namespace hf
