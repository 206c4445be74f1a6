#include "data/tokenizers.h"

#include "data/bpe_tokenizer.h"
#include "data/sentencepiece_tokenizer.h"
#include "data/tokenizer_id.h"
#include "model/tokenizer.h"
#include "util/check.h"

namespace hf {

namespace {

class Byte260Tokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(const std::string& text) const override { return hf::encode(text); }
  std::string decode(const std::vector<int32_t>& ids) const override { return hf::decode(ids); }
  int vocab_size() const override { return kByteVocab; }
  SpecialTokens specials() const override { return kByte260Specials; }
  std::string identity() const override { return kTokenizerName; }
};

}  // namespace

std::unique_ptr<Tokenizer> byte260_tokenizer() { return std::make_unique<Byte260Tokenizer>(); }

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  std::string file = tokenizer_file_of_dir(dir);
  if (file.size() >= 5 && file.compare(file.size() - 5, 5, ".json") == 0) return load_bpe_tokenizer(file);
#ifdef HFEDMOE_HAVE_SENTENCEPIECE
  return load_sentencepiece_tokenizer(file);
#else
  fail(file + ": this build has no SentencePiece, which tokenizer.model files need",
       "install libsentencepiece-dev (scripts/setup.sh does) and rebuild");
#endif
}

}  // namespace hf
