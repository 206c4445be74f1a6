#pragma once
// The built-in byte-level tokenizer ("byte260"): every byte is its own token, plus four
// specials. No merges and no vocabulary file, so any text round-trips exactly and a
// dataset needs nothing beyond its own tokens to be decoded.
//   ids 0..255  the bytes
//   256 PAD     right-padding of a sequence (never a training target)
//   257 BOS     start of a document
//   258 EOS     end of a document
//   259 CLS     the classification read-out position
#include <cstdint>
#include <string>
#include <vector>

namespace hf {

constexpr int32_t kPadToken = 256;
constexpr int32_t kBosToken = 257;
constexpr int32_t kEosToken = 258;
constexpr int32_t kClsToken = 259;
constexpr int32_t kByteVocab = 260;
constexpr const char* kTokenizerName = "byte260";

// Bytes of `text` as ids, optionally framed by BOS ... EOS.
std::vector<int32_t> encode(const std::string& text, bool bos = false, bool eos = false);
// The bytes back; special tokens are dropped (PAD, BOS, CLS) or end the text (EOS).
// An id outside [0, kByteVocab) is a bug in the caller (HF_CHECK).
std::string decode(const int32_t* ids, size_t n);
inline std::string decode(const std::vector<int32_t>& ids) { return decode(ids.data(), ids.size()); }

}  // namespace hf
