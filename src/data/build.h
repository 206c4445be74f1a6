#pragma once
// From a corpus to a dataset: tokenise into fixed-length rows, split train/test by
// document, partition the training rows among clients.
//
// Rows (T = seq_len, tokens of the chosen tokenizer, right-padded with its PAD):
//   lm        each document is BOS text EOS, cut into windows of T tokens that start T-1
//             apart, so consecutive windows share one token and every next-token pair of
//             the document is a target exactly once.
//   classify  BOS, up to T-2 tokens of text, CLS: the model reads the class at the CLS
//             position (lengths[i]-1). Mail keeps its first T-2 tokens (subject first);
//             corpora with chunk_all (sotu_era) give one row per T-2 tokens of a speech.
//             byte260 has a CLS token of its own; other tokenizers read out at EOS.
// The test split takes whole documents (so no speech is in both splits), stratified by
// class: round(test_fraction * documents of the class), at least one when test_fraction > 0
// (so every class is evaluated, even in the small samples) and at most all but one. max_samples (> 0) keeps a random subset of the rows, in corpus order.
#include <cstdint>
#include <string>
#include <vector>

#include "data/corpora.h"
#include "data/dataset.h"
#include "data/partition.h"

namespace hf {

struct BuildSpec {
  int seq_len = 256;
  double test_fraction = 0.1;
  int64_t max_samples = 0;
  std::string partition_field;  // natural partition; "" = the corpus's default field
  std::string tokenizer_dir;    // a model folder whose tokenizer the rows use; "" = byte260
  PartitionSpec partition;
};

Dataset build_dataset(const Corpus& corpus, const BuildSpec& spec);

// The documents of the test split (1 = test): per class k, a seeded shuffle of the documents
// of class k, the first of which are test as described above. doc_class: (D) each document's
// class, 0 for every document of an LM corpus, -1 for a document without rows.
std::vector<uint8_t> test_documents(const std::vector<int32_t>& doc_class, int n_classes, double test_fraction,
                                    uint64_t seed);

}  // namespace hf
