#pragma once
// The pre-tokenisers of byte-level BPE tokenizer.json files: the text is cut into pieces by
// a regex before BPE runs on each piece. Those regexes need Unicode classes (\p{L}, \p{N})
// that std::regex lacks, so each known pattern is a hand-written matcher over UTF-8 code
// points, with the classes from a generated table (unicode_classes_gen.py). A pattern this
// file does not know is refused by name (split_pattern_of_regex).
#include <string>
#include <string_view>
#include <vector>

namespace hf {

enum class SplitPattern {
  // GPT-2 (ByteLevel with use_regex):
  //   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // Llama-3 (Split): the same contractions case-insensitive, a letter run with one
  // leading non-letter, digits in groups of at most three, newlines kept apart:
  //   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // Qwen2 (Split): Llama-3's pattern with single digits (\p{N} for \p{N}{1,3}).
  kQwen2,
};

// The pattern a tokenizer.json Split regex spells; a usage error naming `file` and the
// regex when it is none of the known ones.
SplitPattern split_pattern_of_regex(const std::string& regex, const std::string& file);

// The pieces of `text` (views into it, in order, covering it exactly: every code point
// matches one of the alternatives of each pattern).
std::vector<std::string_view> split_pieces(std::string_view text, SplitPattern pattern);

}  // namespace hf
