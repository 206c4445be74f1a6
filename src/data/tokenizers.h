#pragma once
// The tokenizers a dataset can be prepared with, behind one interface:
//   byte260        the built-in byte-level tokenizer (model/tokenizer.h)
//   byte-level BPE a Hugging Face tokenizer.json (GPT-2, Llama-3, Qwen2, OLMoE, DeepSeek
//                  families; data/bpe_tokenizer.h)
//   SentencePiece  a tokenizer.model (Mixtral, LLaMA-2 families; data/sentencepiece_tokenizer.h)
// load_tokenizer picks by the files of a model folder, by the rule tokenizer_file_of_dir
// states (tokenizer.model first), so the identity a dataset records names what encoded it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace hf {

// The ids a dataset frames its rows with. pad is never a training target; cls is the
// position classification reads out (byte260 has its own; other tokenizers use eos).
struct SpecialTokens {
  int32_t pad = -1, bos = -1, eos = -1, cls = -1;
};
inline constexpr SpecialTokens kByte260Specials{kPadToken, kBosToken, kEosToken, kClsToken};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // The ids of `text`, without framing (no BOS/EOS added).
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  // The text back; special tokens are left out.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int vocab_size() const = 0;
  virtual SpecialTokens specials() const = 0;
  // "byte260" or "sha256:<hex>" of the tokenizer file (data/tokenizer_id.h).
  virtual std::string identity() const = 0;
};

// The built-in byte-level tokenizer.
std::unique_ptr<Tokenizer> byte260_tokenizer();

// The tokenizer of a Hugging Face model folder (tokenizer.model first, else tokenizer.json);
// a usage error naming the file and what is unsupported when it cannot be read.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

}  // namespace hf
