#include "data/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "data/sha256.h"
#include "io/fs.h"
#include "util/check.h"

namespace hf {

namespace {

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& file) : file_(file) {
    std::string proto = read_file(file);
    auto status = sp_.LoadFromSerializedProto(proto);
    if (!status.ok())
      fail(file + ": not a SentencePiece model (" + status.ToString() + ")",
           "give the tokenizer.model of a Hugging Face model folder (Mixtral, LLaMA-2)");
    identity_ = "sha256:" + sha256_hex(proto);
    // pad is the model's pad piece when it has one, else EOS (a pad position is masked out
    // whatever its id); classification reads EOS, as with the BPE families.
    specials_.bos = sp_.bos_id();
    specials_.eos = sp_.eos_id();
    specials_.pad = sp_.pad_id() >= 0 ? sp_.pad_id() : specials_.eos;
    specials_.cls = specials_.eos;
    if (specials_.bos < 0 || specials_.eos < 0)
      fail(file + ": a SentencePiece model without BOS/EOS pieces cannot frame dataset rows",
           "give a model trained with bos_id and eos_id set (every Mixtral/LLaMA tokenizer.model has them)");
  }

  std::vector<int32_t> encode(const std::string& text) const override {
    std::vector<int> ids;
    auto status = sp_.Encode(text, &ids);
    check_ok(status, "encode");
    return std::vector<int32_t>(ids.begin(), ids.end());
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::vector<int> kept;
    kept.reserve(ids.size());
    for (int32_t id : ids)
      if (id >= 0 && id < sp_.GetPieceSize() && !sp_.IsControl(id)) kept.push_back(id);
    std::string text;
    check_ok(sp_.Decode(kept, &text), "decode");
    return text;
  }

  int vocab_size() const override { return sp_.GetPieceSize(); }
  SpecialTokens specials() const override { return specials_; }
  std::string identity() const override { return identity_; }

 private:
  void check_ok(const sentencepiece::util::Status& status, const char* what) const {
    if (!status.ok())
      fail(file_ + ": SentencePiece could not " + what + " (" + status.ToString() + ")",
           "check that the file is the model's own tokenizer.model");
  }

  std::string file_;
  sentencepiece::SentencePieceProcessor sp_;
  SpecialTokens specials_;
  std::string identity_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& tokenizer_model) {
  return std::make_unique<SentencePieceTokenizer>(tokenizer_model);
}

}  // namespace hf
