#include "model/tokenizer.h"

#include "util/check.h"

namespace hf {

std::vector<int32_t> encode(const std::string& text, bool bos, bool eos) {
  std::vector<int32_t> ids;
  ids.reserve(text.size() + 2);
  if (bos) ids.push_back(kBosToken);
  for (unsigned char ch : text) ids.push_back(ch);
  if (eos) ids.push_back(kEosToken);
  return ids;
}

std::string decode(const int32_t* ids, size_t n) {
  std::string text;
  text.reserve(n);
  for (size_t i = 0; i < n; i++) {
    int32_t id = ids[i];
    HF_CHECK(id >= 0 && id < kByteVocab, "token id %d at position %zu is outside the byte260 vocabulary", id, i);
    if (id == kEosToken) break;
    if (id < 256) text.push_back(static_cast<char>(id));
  }
  return text;
}

}  // namespace hf
