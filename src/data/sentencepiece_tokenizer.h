#pragma once
// SentencePiece tokenizer.model files (the Mixtral and LLaMA-2 families) through Debian's
// libsentencepiece, so the normaliser, the BPE or unigram search, byte fallback and the
// whitespace escape are the library's own, bit for bit those the model was released with.
// Built when CMake finds libsentencepiece (HFEDMOE_HAVE_SENTENCEPIECE); without it,
// load_tokenizer refuses a tokenizer.model with one line naming the package.
#include <memory>
#include <string>

#include "data/tokenizers.h"

namespace hf {

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& tokenizer_model);

}  // namespace hf
