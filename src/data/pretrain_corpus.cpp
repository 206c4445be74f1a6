#include "data/pretrain_corpus.h"

#include <algorithm>

#include "data/dataset.h"
#include "io/fs.h"
#include "io/h5.h"
#include "model/tokenizer.h"
#include "util/check.h"

namespace hf {
namespace {

// A text file as rows of T byte tokens, its last rows the test split (as the header says).
PretrainCorpus text_corpus(const std::string& path, int T, double test_fraction) {
  std::vector<int32_t> ids = encode(read_file(path));
  int64_t rows = (static_cast<int64_t>(ids.size()) + T - 1) / T;
  if (ids.size() < 2 * static_cast<size_t>(T))
    fail(strf("%s has %zu bytes, fewer than two rows of model.seq_len=%d", path.c_str(), ids.size(), T),
         "give a longer text or a smaller --model.seq_len");
  int64_t n_test = test_fraction > 0 ? std::max<int64_t>(1, static_cast<int64_t>(rows * test_fraction)) : 0;
  PretrainCorpus c;
  auto fill = [&](Split& s, int64_t first, int64_t n) {
    s.n = n;
    s.T = T;
    s.tokens.assign(static_cast<size_t>(n) * T, kPadToken);
    s.lengths.resize(n);
    for (int64_t r = 0; r < n; r++) {
      size_t begin = static_cast<size_t>(first + r) * T, end = std::min(ids.size(), begin + T);
      std::copy(ids.begin() + begin, ids.begin() + end, s.tokens.begin() + r * T);
      s.lengths[r] = static_cast<int32_t>(end - begin);
    }
  };
  fill(c.train, 0, rows - n_test);
  fill(c.test, rows - n_test, n_test);
  c.what = strf("text %s: %zu tokens, %lld train and %lld test rows of %d", path.c_str(), ids.size(),
                static_cast<long long>(c.train.n), static_cast<long long>(c.test.n), T);
  return c;
}

}  // namespace

PretrainCorpus load_pretrain_corpus(const std::string& path, const ModelConfig& m, double test_fraction) {
  if (!path_exists(path)) fail("data.path=" + path + " does not exist", "check the path");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    if (m.tokenizer != kTokenizerName)
      fail("data.path=" + path + " is a text file, read as bytes (byte260), but model.tokenizer=" + m.tokenizer,
           "prepare it as a dataset with --prepare.corpus text_dir --prepare.tokenizer MODEL_DIR");
    return text_corpus(path, m.seq_len, test_fraction);
  }
  Dataset d = Dataset::load(path);
  d.check_tokenizer(m.tokenizer);
  if (d.seq_len > m.seq_len)
    fail(strf("dataset %s has rows of %d tokens, longer than model.seq_len=%d", path.c_str(), d.seq_len, m.seq_len),
         "raise --model.seq_len or prepare the dataset with a shorter seq_len");
  if (d.vocab_size > m.vocab_size)
    fail(strf("dataset %s uses %d token ids but model.vocab_size=%d", path.c_str(), d.vocab_size, m.vocab_size),
         "set --model.vocab_size to the dataset's vocabulary");
  PretrainCorpus c;
  c.train = std::move(d.train);
  c.test = std::move(d.test);
  c.what = strf("dataset %s: %lld train and %lld test rows of %d", path.c_str(), static_cast<long long>(c.train.n),
                static_cast<long long>(c.test.n), d.seq_len);
  return c;
}

}  // namespace hf
