#include "data/bpe_tokenizer.h"

#include <climits>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/json_fields.h"
#include "data/sha256.h"
#include "data/tokenizer_regex.h"
#include "data/unicode_classes.h"
#include "data/unicode_nfc.h"
#include "io/fs.h"
#include "util/check.h"

namespace hf {

namespace {

// The split ByteLevel's use_regex applies: GPT-2's pattern.
const char* const kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, the other
// 68 bytes take U+0100.. in byte order, so every byte is one visible vocabulary character.
struct ByteMap {
  std::string of_byte[256];                       // UTF-8 of the code point for each byte
  std::unordered_map<uint32_t, uint8_t> to_byte;  // code point -> byte

  ByteMap() {
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(of_byte[b], cp);
      to_byte[cp] = static_cast<uint8_t>(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

struct AddedToken {
  std::string content;
  int32_t id;
  bool special;
};

class BpeTokenizer : public Tokenizer {
 public:
  explicit BpeTokenizer(const std::string& file);
  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int vocab_size() const override { return static_cast<int>(token_.size()); }
  SpecialTokens specials() const override { return specials_; }
  std::string identity() const override { return identity_; }

 private:
  [[noreturn]] void unsupported(const std::string& what) const {
    fail(file_ + ": " + what + " is not supported",
         "use a model whose tokenizer.json is byte-level BPE of the GPT-2, Llama-3, Qwen2, OLMoE or DeepSeek kind (user guide, Tokenizers)");
  }
  const std::vector<JsonValue>& steps_of(const JsonValue& sequence, const char* key, const char* part) const;
  void read_normalizer(const JsonValue& normalizer);
  void read_model(const JsonValue& model);
  void read_pre_tokenizer(const JsonValue& pre);
  void read_specials();
  void encode_piece(std::string_view piece, std::vector<int32_t>& ids) const;
  void encode_stretch(std::string_view text, std::vector<int32_t>& ids) const;

  std::string file_, identity_;
  std::unordered_map<std::string, int32_t> vocab_;   // token text (byte-mapped) -> id
  std::vector<std::string> token_;                   // id -> token text
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (left, right) ids -> (rank, merged id)
  bool ignore_merges_ = false;
  std::vector<AddedToken> added_;
  std::vector<int> added_by_first_byte_[256];  // indices into added_, by the content's first byte
  std::vector<int8_t> added_special_;  // id -> -1 not added, 0 added, 1 added special
  std::vector<TokenizerRegex> splits_;  // applied in order, each piece cut again by the next
  bool add_prefix_space_ = false;
  bool nfc_ = false;  // the text between added tokens is put in Unicode NFC first (Qwen2)
  SpecialTokens specials_;
};

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

const std::string& string_member(const JsonValue& v, const char* key) {
  static const std::string none;
  const JsonValue* m = v.find(key);
  return m && m->kind == JsonValue::kString ? m->text : none;
}

bool true_member(const JsonValue& v, const char* key) {
  const JsonValue* m = v.find(key);
  return m && m->kind == JsonValue::kScalar && m->text == "true";
}

BpeTokenizer::BpeTokenizer(const std::string& file) : file_(file) {
  std::string text = read_file(file);
  identity_ = "sha256:" + sha256_hex(text);
  JsonValue root = json_parse(text, file);
  const JsonValue* normalizer = root.find("normalizer");
  if (normalizer && !normalizer->is_null()) read_normalizer(*normalizer);
  const JsonValue* model = root.find("model");
  if (!model) unsupported("a tokenizer.json without a model");
  read_model(*model);
  const JsonValue* pre = root.find("pre_tokenizer");
  if (!pre || pre->is_null()) unsupported("a missing pre_tokenizer");
  read_pre_tokenizer(*pre);
  const JsonValue* decoder = root.find("decoder");
  if (decoder && !decoder->is_null() && string_member(*decoder, "type") != "ByteLevel")
    unsupported("decoder " + string_member(*decoder, "type"));

  added_special_.assign(token_.size(), -1);
  if (const JsonValue* added = root.find("added_tokens")) {
    for (const JsonValue& a : added->items) {
      const JsonValue* id = a.find("id");
      if (!id || id->kind != JsonValue::kScalar) unsupported("an added token without an id");
      AddedToken t{string_member(a, "content"), static_cast<int32_t>(std::stoll(id->text)), true_member(a, "special")};
      if (true_member(a, "lstrip") || true_member(a, "rstrip") || true_member(a, "single_word"))
        unsupported("added token " + t.content + " with lstrip, rstrip or single_word");
      if (t.id < 0 || t.content.empty()) unsupported("an added token without content or id");
      if (static_cast<size_t>(t.id) >= token_.size()) {
        token_.resize(t.id + 1);
        added_special_.resize(t.id + 1, -1);
      }
      token_[t.id] = t.content;
      added_special_[t.id] = t.special ? 1 : 0;
      added_by_first_byte_[static_cast<unsigned char>(t.content[0])].push_back(static_cast<int>(added_.size()));
      added_.push_back(t);
    }
  }
  read_specials();
}

// The list of a Sequence normalizer or pre_tokenizer (`part`), under `key`.
const std::vector<JsonValue>& BpeTokenizer::steps_of(const JsonValue& sequence, const char* key, const char* part) const {
  const JsonValue* steps = sequence.find(key);
  if (!steps) unsupported(std::string("a Sequence ") + part + " without " + key);
  return steps->items;
}

// NFC (Qwen2), or a Sequence of normalisers that are each NFC (DeepSeek's is empty).
void BpeTokenizer::read_normalizer(const JsonValue& normalizer) {
  const std::string& type = string_member(normalizer, "type");
  if (type == "Sequence") {
    for (const JsonValue& step : steps_of(normalizer, "normalizers", "normalizer")) read_normalizer(step);
  } else if (type == "NFC") {
    nfc_ = true;
  } else {
    unsupported("normalizer " + type);
  }
}

void BpeTokenizer::read_model(const JsonValue& model) {
  const std::string& type = string_member(model, "type");
  if (type != "BPE") unsupported("model type " + type);
  if (true_member(model, "byte_fallback")) unsupported("BPE with byte_fallback (a SentencePiece-style BPE)");
  if (!string_member(model, "continuing_subword_prefix").empty() || !string_member(model, "end_of_word_suffix").empty())
    unsupported("BPE with a continuing_subword_prefix or end_of_word_suffix");
  ignore_merges_ = true_member(model, "ignore_merges");
  const JsonValue* vocab = model.find("vocab");
  const JsonValue* merges = model.find("merges");
  if (!vocab || !merges) unsupported("a BPE model without vocab or merges");
  for (const auto& [tok, id_value] : vocab->members) {
    int32_t id = static_cast<int32_t>(std::stoll(id_value.text));
    if (id < 0) unsupported("a negative vocabulary id");
    if (static_cast<size_t>(id) >= token_.size()) token_.resize(id + 1);
    token_[id] = tok;
    vocab_[tok] = id;
  }
  int32_t rank = 0;
  for (const JsonValue& m : merges->items) {
    // "left right" (older files) or ["left", "right"]
    std::string left, right;
    if (m.kind == JsonValue::kString) {
      size_t space = m.text.find(' ');
      if (space == std::string::npos) unsupported("merge \"" + m.text + "\" without a space");
      left = m.text.substr(0, space);
      right = m.text.substr(space + 1);
    } else if (m.items.size() == 2) {
      left = m.items[0].text;
      right = m.items[1].text;
    } else {
      unsupported("a merge that is neither \"a b\" nor [a, b]");
    }
    auto l = vocab_.find(left), r = vocab_.find(right), both = vocab_.find(left + right);
    if (l == vocab_.end() || r == vocab_.end() || both == vocab_.end())
      unsupported("merge " + left + " " + right + " of tokens outside the vocabulary");
    merges_.emplace(pair_key(l->second, r->second), std::make_pair(rank++, both->second));
  }
}

void BpeTokenizer::read_pre_tokenizer(const JsonValue& pre) {
  const std::string& type = string_member(pre, "type");
  if (type == "Sequence") {
    for (const JsonValue& step : steps_of(pre, "pretokenizers", "pre_tokenizer")) read_pre_tokenizer(step);
  } else if (type == "ByteLevel") {
    // The byte mapping itself always happens (this is a byte-level BPE); use_regex adds
    // GPT-2's split, add_prefix_space a leading space.
    if (true_member(pre, "use_regex")) splits_.emplace_back(kGpt2Regex, file_);
    add_prefix_space_ = add_prefix_space_ || true_member(pre, "add_prefix_space");
  } else if (type == "Split") {
    const JsonValue* pattern = pre.find("pattern");
    const JsonValue* regex = pattern ? pattern->find("Regex") : nullptr;
    if (!regex) unsupported("a Split pre_tokenizer without a Regex pattern");
    const std::string& behavior = string_member(pre, "behavior");
    bool invert = true_member(pre, "invert");
    if (behavior == "Isolated") splits_.emplace_back(regex->text, file_);
    else if (behavior == "Removed") splits_.emplace_back(regex->text, file_, invert ? SplitKeep::kMatches : SplitKeep::kStretches);
    else unsupported("Split behavior " + behavior + " (only Isolated and Removed)");
  } else {
    unsupported("pre_tokenizer " + type);
  }
}

// BOS and EOS by the names the supported families give them; pad is the family's pad token
// when it has one, else EOS (a pad position is masked out whatever its id).
void BpeTokenizer::read_specials() {
  auto first_of = [&](std::initializer_list<const char*> names) {
    for (const char* name : names)
      for (const AddedToken& t : added_)
        if (t.content == name) return t.id;
    return -1;
  };
  specials_.bos = first_of({"<|begin_of_text|>", "<s>", "<｜begin▁of▁sentence｜>", "<|endoftext|>"});
  specials_.eos = first_of({"<|end_of_text|>", "</s>", "<｜end▁of▁sentence｜>", "<|endoftext|>"});
  specials_.pad = first_of({"<|finetune_right_pad_id|>", "<pad>", "<|pad|>", "<｜▁pad▁｜>"});
  if (specials_.pad < 0) specials_.pad = specials_.eos;
  specials_.cls = specials_.eos;
  if (specials_.bos < 0 || specials_.eos < 0)
    unsupported("a vocabulary without a known BOS/EOS token (<|begin_of_text|>, <s>, <｜begin▁of▁sentence｜>, <|endoftext|>)");
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& ids) const {
  const ByteMap& map = byte_map();
  std::string mapped;
  for (unsigned char b : piece) mapped += map.of_byte[b];
  if (ignore_merges_) {
    auto whole = vocab_.find(mapped);
    if (whole != vocab_.end()) {
      ids.push_back(whole->second);
      return;
    }
  }
  std::vector<int32_t> symbols;  // (n) ids, merged in place
  for (unsigned char b : piece) {
    auto it = vocab_.find(map.of_byte[b]);
    if (it == vocab_.end()) unsupported(strf("a vocabulary without byte 0x%02X", b));
    symbols.push_back(it->second);
  }
  for (;;) {
    int32_t best_rank = INT32_MAX, merged = -1;
    size_t at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); i++) {
      auto m = merges_.find(pair_key(symbols[i], symbols[i + 1]));
      if (m != merges_.end() && m->second.first < best_rank) {
        best_rank = m->second.first;
        merged = m->second.second;
        at = i;
      }
    }
    if (merged < 0) break;
    symbols[at] = merged;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  ids.insert(ids.end(), symbols.begin(), symbols.end());
}

void BpeTokenizer::encode_stretch(std::string_view text, std::vector<int32_t>& ids) const {
  std::string normalized;  // owns what `text` views when the stretch is rewritten
  if (nfc_) {
    normalized = nfc(text);
    text = normalized;
  }
  if (add_prefix_space_ && !text.empty() && text[0] != ' ') {
    normalized = " " + std::string(text);
    text = normalized;
  }
  for (std::string_view p : split_in_turn(text, splits_)) encode_piece(p, ids);
}

std::vector<int32_t> BpeTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  size_t start = 0;  // the stretch not yet encoded
  for (size_t pos = 0; pos < text.size();) {
    const AddedToken* hit = nullptr;
    for (int k : added_by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      const AddedToken& t = added_[k];
      if (text.compare(pos, t.content.size(), t.content) == 0 && (!hit || t.content.size() > hit->content.size()))
        hit = &t;
    }
    if (!hit) {
      pos++;
      continue;
    }
    encode_stretch(std::string_view(text).substr(start, pos - start), ids);
    ids.push_back(hit->id);
    pos += hit->content.size();
    start = pos;
  }
  encode_stretch(std::string_view(text).substr(start), ids);
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  const ByteMap& map = byte_map();
  std::string text;
  for (size_t i = 0; i < ids.size(); i++) {
    int32_t id = ids[i];
    HF_CHECK(id >= 0 && static_cast<size_t>(id) < token_.size(), "token id %d at position %zu is outside the vocabulary", id, i);
    if (added_special_[id] == 1) continue;
    const std::string& tok = token_[id];
    if (added_special_[id] == 0) {
      text += tok;
      continue;
    }
    for (size_t pos = 0, len = 0; pos < tok.size(); pos += len) {
      auto b = map.to_byte.find(utf8_next(tok, pos, &len));
      HF_CHECK(b != map.to_byte.end(), "token %d holds a character outside the byte map", id);
      text += static_cast<char>(b->second);
    }
  }
  return text;
}

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& tokenizer_json) {
  return std::make_unique<BpeTokenizer>(tokenizer_json);
}

}  // namespace hf
