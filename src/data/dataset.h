#pragma once
// An hfedmoe dataset: tokenised samples of one corpus, a train/test split, and the
// partition of the training rows among N federated clients. One HDF5 file, written by
// `hfedmoe prepare`, read by pretrain/train/eval. Layout (docs/user-guide.md, "Dataset file layout"):
//   /                 attrs: format="hfedmoe-dataset", format_version=1, task="lm"|"classify",
//                            n_classes, seq_len, vocab_size, tokenizer ("byte260" or
//                            "sha256:<hex>", data/tokenizer_id.h), source, source_version,
//                            source_sha256, command; for a tokenizer other than byte260 also
//                            pad_token, bos_token, eos_token, cls_token (its ids)
//   /train/tokens     int32 (N, T)  right-padded with the pad token
//   /train/lengths    int32 (N)     tokens before the padding
//   /train/labels     int32 (N)     classify only
//   /test/...         the same for the test split
//   /classes          strings (NC)  classify only
//   /partition/offsets int64 (n_clients + 1); client c owns rows index[offsets[c] : offsets[c+1]]
//   /partition/index   int64 (N)    train row ids grouped by client
//   /partition/names   strings (n_clients)   e.g. the president for natural partitions
//   /partition/label_hist int64 (n_clients, NC)   classify only
//   /partition         attrs: scheme = iid|dirichlet|natural|quantity, alpha, seed
#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizers.h"
#include "model/batch.h"
#include "model/model.h"

namespace hf {

struct Dataset {
  std::string path;
  Task task = Task::lm;
  int n_classes = 0;
  int seq_len = 0;
  int vocab_size = 260;
  std::string tokenizer = kTokenizerName;  // the identity of the tokenizer the rows are in
  SpecialTokens specials = kByte260Specials;
  std::vector<std::string> classes;
  Split train, test;
  std::string partition_scheme;
  double partition_alpha = 0;    // dirichlet/quantity concentration; 0 for the others
  uint64_t partition_seed = 0;
  std::vector<int64_t> client_offsets;  // (n_clients + 1)
  std::vector<int64_t> client_index;    // (train.n)
  std::vector<std::string> client_names;
  std::string source, source_version, source_sha256, command;

  int n_clients() const { return static_cast<int>(client_offsets.size()) - 1; }
  int64_t client_size(int c) const { return client_offsets[c + 1] - client_offsets[c]; }
  const int64_t* client_rows(int c) const { return client_index.data() + client_offsets[c]; }

  // Reads and validates a dataset file; a usage error naming the file and the problem
  // (missing, not HDF5, wrong kind, inconsistent shapes, token ids out of the vocabulary).
  static Dataset load(const std::string& path);
  // A usage error naming both when the rows are in another tokenizer than the model's
  // (model.tokenizer): their ids would mean other text.
  void check_tokenizer(const std::string& model_tokenizer) const;
  // Writes atomically (<path>.tmp, fsync, rename).
  void save(const std::string& path) const;
};

}  // namespace hf
