#pragma once
// Byte-level BPE from a Hugging Face tokenizer.json (GPT-2, Llama-3, Qwen2, OLMoE and DeepSeek
// families), with no dependency beyond this repository:
//   0. with an NFC normaliser (Qwen2), the text between added tokens is put in NFC;
//   1. added tokens (<|endoftext|>, <|begin_of_text|>, ...) are cut out of the text first,
//      longest match at the leftmost position, and map to their ids directly;
//   2. each stretch between them is cut into pieces by the file's pre-tokeniser
//      (ByteLevel with GPT-2's regex, or Split regexes in turn; data/tokenizer_regex.h);
//   3. each piece's bytes become printable code points by GPT-2's byte-to-unicode table,
//      and BPE merges adjacent symbols, lowest merge rank first, until none applies
//      (with ignore_merges, a piece that is itself in the vocabulary is taken whole).
// Decoding maps the code points back to bytes, so any UTF-8 text round-trips exactly.
// A normaliser, model type, pre-tokeniser or decoder this file does not implement is
// refused with one line naming it.
#include <memory>
#include <string>

#include "data/tokenizers.h"

namespace hf {

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& tokenizer_json);

}  // namespace hf
