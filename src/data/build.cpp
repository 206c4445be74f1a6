#include "data/build.h"

#include <algorithm>
#include <numeric>

#include "data/tokenizers.h"
#include "util/check.h"
#include "util/rng.h"

namespace hf {

namespace {

// Sub-streams of (seed, Purpose::partition); partition.cpp uses 10 and up.
constexpr uint64_t kStreamSubsample = 1, kStreamSplit = 2;

struct Rows {
  int T;
  int32_t pad;
  std::vector<int32_t> tokens;  // (N, T)
  std::vector<int32_t> lengths, labels;
  std::vector<int64_t> doc;     // (N) the document each row came from
  int64_t n() const { return static_cast<int64_t>(doc.size()); }
  void add(const int32_t* ids, int len, int32_t label, int64_t d) {
    tokens.insert(tokens.end(), ids, ids + len);
    tokens.insert(tokens.end(), T - len, pad);
    lengths.push_back(len);
    labels.push_back(label);
    doc.push_back(d);
  }
};

void add_document(const Corpus& c, const Document& d, int64_t id, const Tokenizer& tok, Rows* rows) {
  const int T = rows->T;
  const SpecialTokens sp = tok.specials();
  std::vector<int32_t> text = tok.encode(d.text);
  if (c.task == Task::lm) {
    std::vector<int32_t> stream;  // BOS text EOS
    stream.reserve(text.size() + 2);
    stream.push_back(sp.bos);
    stream.insert(stream.end(), text.begin(), text.end());
    stream.push_back(sp.eos);
    for (size_t s = 0; s + 1 < stream.size(); s += T - 1) {
      int len = static_cast<int>(std::min<size_t>(T, stream.size() - s));
      rows->add(stream.data() + s, len, 0, id);
    }
    return;
  }
  const size_t piece = T - 2;
  std::vector<int32_t> row(T);
  for (size_t s = 0; s == 0 || s < text.size(); s += piece) {
    size_t n = std::min(piece, text.size() - s);
    row[0] = sp.bos;
    std::copy(text.begin() + static_cast<std::ptrdiff_t>(s), text.begin() + static_cast<std::ptrdiff_t>(s + n), row.begin() + 1);
    row[1 + n] = sp.cls;
    rows->add(row.data(), static_cast<int>(n + 2), d.label, id);
    if (!c.chunk_all) break;
  }
}

Rows subset(const Rows& r, const std::vector<int64_t>& keep) {
  Rows out{r.T, r.pad, {}, {}, {}, {}};
  for (int64_t i : keep) out.add(r.tokens.data() + i * r.T, r.lengths[i], r.labels[i], r.doc[i]);
  return out;
}

Split to_split(const Rows& r, Task task) {
  Split s;
  s.n = r.n();
  s.T = r.T;
  s.tokens = r.tokens;
  s.lengths = r.lengths;
  s.pad = r.pad;
  if (task == Task::classify) s.labels = r.labels;
  return s;
}

}  // namespace

std::vector<uint8_t> test_documents(const std::vector<int32_t>& doc_class, int n_classes, double test_fraction,
                                    uint64_t seed) {
  std::vector<uint8_t> in_test(doc_class.size(), 0);
  Rng rng(seed, Purpose::partition, kStreamSplit);
  for (int k = 0; k < n_classes; k++) {
    std::vector<int64_t> docs;
    for (size_t d = 0; d < doc_class.size(); d++)
      if (doc_class[d] == k) docs.push_back(static_cast<int64_t>(d));
    rng.shuffle(docs.data(), docs.size());
    int64_t n_docs = static_cast<int64_t>(docs.size());
    int64_t n_test = std::llround(test_fraction * static_cast<double>(n_docs));
    if (test_fraction > 0) n_test = std::max<int64_t>(n_test, 1);
    n_test = std::min<int64_t>(n_test, n_docs - 1);
    for (int64_t i = 0; i < n_test; i++) in_test[docs[i]] = 1;
  }
  return in_test;
}

Dataset build_dataset(const Corpus& c, const BuildSpec& spec) {
  if (spec.seq_len < 8 || spec.seq_len > 65536) fail(strf("--prepare.seq_len=%d", spec.seq_len), "use 8 to 65536 tokens");
  if (!(spec.test_fraction >= 0 && spec.test_fraction < 1))
    fail(strf("--prepare.test_fraction=%g", spec.test_fraction), "use a fraction in [0, 1)");
  if (spec.max_samples < 0) fail("--prepare.max_samples is negative", "give 0 (all) or a positive count");
  const uint64_t seed = spec.partition.seed;
  const int n_classes = c.task == Task::classify ? static_cast<int>(c.classes.size()) : 1;

  std::unique_ptr<Tokenizer> tok = spec.tokenizer_dir.empty() ? byte260_tokenizer() : load_tokenizer(spec.tokenizer_dir);
  Rows all{spec.seq_len, tok->specials().pad, {}, {}, {}, {}};
  for (size_t i = 0; i < c.docs.size(); i++) add_document(c, c.docs[i], static_cast<int64_t>(i), *tok, &all);
  if (spec.max_samples > 0 && all.n() > spec.max_samples) {
    std::vector<int64_t> ids(all.n());
    std::iota(ids.begin(), ids.end(), 0);
    Rng rng(seed, Purpose::partition, kStreamSubsample);
    for (int64_t i = 0; i < spec.max_samples; i++) std::swap(ids[i], ids[i + rng.below(all.n() - i)]);
    ids.resize(spec.max_samples);
    std::sort(ids.begin(), ids.end());
    all = subset(all, ids);
  }

  // Test documents, among those that still have rows.
  std::vector<int32_t> doc_class(c.docs.size(), -1);  // (D)
  for (int64_t d : all.doc) doc_class[d] = c.task == Task::lm ? 0 : c.docs[d].label;
  std::vector<uint8_t> in_test = test_documents(doc_class, n_classes, spec.test_fraction, seed);
  std::vector<int64_t> train_ids, test_ids;
  for (int64_t i = 0; i < all.n(); i++) (in_test[all.doc[i]] ? test_ids : train_ids).push_back(i);
  Rows train = subset(all, train_ids), test = subset(all, test_ids);
  if (train.n() == 0) fail("the corpus gave no training rows", "give a larger input or a lower --prepare.test_fraction");

  std::string field = spec.partition_field.empty() ? c.default_field : spec.partition_field;
  std::vector<std::string> groups;
  if (spec.partition.scheme == "natural") {
    for (int64_t d : train.doc) {
      auto it = c.docs[d].meta.find(field);
      if (it == c.docs[d].meta.end()) {
        std::string known;
        for (auto& [k, v] : c.docs[d].meta) known += (known.empty() ? "" : ", ") + k;
        fail("corpus=" + c.kind + " has no field '" + field + "' for a natural partition",
             "set --prepare.partition_field to one of: " + known);
      }
      groups.push_back(it->second);
    }
  }
  Partition p = make_partition(spec.partition, train.labels, n_classes, groups);

  Dataset ds;
  ds.task = c.task;
  ds.n_classes = c.task == Task::classify ? n_classes : 0;
  ds.seq_len = spec.seq_len;
  ds.vocab_size = tok->vocab_size();
  ds.tokenizer = tok->identity();
  ds.specials = tok->specials();
  ds.classes = c.classes;
  ds.train = to_split(train, c.task);
  ds.test = to_split(test, c.task);
  ds.partition_scheme = spec.partition.scheme;
  ds.partition_alpha =
      spec.partition.scheme == "dirichlet" || spec.partition.scheme == "quantity" ? spec.partition.alpha : 0.0;
  ds.partition_seed = seed;
  ds.client_offsets = std::move(p.offsets);
  ds.client_index = std::move(p.index);
  ds.client_names = std::move(p.names);
  ds.source = c.source;
  ds.source_version = c.source_version;
  ds.source_sha256 = c.source_sha256;
  return ds;
}

}  // namespace hf
