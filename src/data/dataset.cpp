// Dataset files: writing, and reading with every check a training run relies on, so a bad
// file stops at load time with one line naming the file and the dataset at fault.
#include "data/dataset.h"

#include "data/partition.h"
#include "io/fs.h"
#include "io/h5.h"
#include "model/tokenizer.h"
#include "util/check.h"

namespace hf {

namespace {

constexpr const char* kFormat = "hfedmoe-dataset";
constexpr int64_t kFormatVersion = 1;

const char* task_name(Task t) { return t == Task::lm ? "lm" : "classify"; }

// The root attributes that record a non-byte260 tokenizer's ids.
struct SpecialAttr {
  const char* name;
  int32_t SpecialTokens::*id;
};
constexpr SpecialAttr kSpecialAttrs[] = {{"pad_token", &SpecialTokens::pad},
                                         {"bos_token", &SpecialTokens::bos},
                                         {"eos_token", &SpecialTokens::eos},
                                         {"cls_token", &SpecialTokens::cls}};

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  fail(path + ": " + what, "re-create it with `hfedmoe prepare`");
}

void write_split(h5::File& f, const std::string& g, const Split& s, Task task) {
  HF_CHECK(s.tokens.size() == static_cast<size_t>(s.n) * s.T && s.lengths.size() == static_cast<size_t>(s.n),
           "split %s: tokens/lengths do not match n=%lld T=%d", g.c_str(), static_cast<long long>(s.n), s.T);
  f.write(g + "/tokens", s.tokens.data(), {s.n, s.T});
  f.write(g + "/lengths", s.lengths);
  if (task == Task::classify) {
    HF_CHECK(s.labels.size() == static_cast<size_t>(s.n), "split %s: labels do not match n", g.c_str());
    f.write(g + "/labels", s.labels);
  }
}

// Reads /<g>/... and checks shapes, token ids, lengths and labels.
Split read_split(const h5::File& f, const std::string& g, const Dataset& d) {
  const std::string& path = f.path();
  for (const char* name : {"tokens", "lengths"})
    if (!f.exists(g + "/" + name)) bad(path, "dataset /" + g + "/" + name + " is missing");
  Split s;
  std::vector<int64_t> shape = f.shape(g + "/tokens");
  if (shape.size() != 2 || shape[1] != d.seq_len)
    bad(path, strf("/%s/tokens must be (N, seq_len=%d)", g.c_str(), d.seq_len));
  s.n = shape[0];
  s.T = d.seq_len;
  if (f.shape(g + "/lengths") != std::vector<int64_t>{s.n})
    bad(path, strf("/%s/lengths must have %lld entries, one per row of /%s/tokens", g.c_str(),
                   static_cast<long long>(s.n), g.c_str()));
  s.pad = d.specials.pad;
  s.tokens = f.read<int32_t>(g + "/tokens");
  s.lengths = f.read<int32_t>(g + "/lengths");
  for (int64_t i = 0; i < s.n; i++) {
    int32_t len = s.lengths[i];
    if (len < 1 || len > s.T)
      bad(path, strf("/%s/lengths[%lld]=%d is outside [1, %d]", g.c_str(), static_cast<long long>(i), len, s.T));
    const int32_t* row = s.row(i);
    for (int t = 0; t < s.T; t++) {
      int32_t id = row[t];
      if (id < 0 || id >= d.vocab_size)
        bad(path, strf("/%s/tokens[%lld, %d]=%d is outside the vocabulary [0, %d)", g.c_str(),
                       static_cast<long long>(i), t, id, d.vocab_size));
      if (t >= len && id != d.specials.pad)
        bad(path, strf("/%s/tokens[%lld, %d] lies after the row's length %d but is not the pad token %d",
                       g.c_str(), static_cast<long long>(i), t, len, d.specials.pad));
    }
  }
  if (d.task == Task::classify) {
    if (!f.exists(g + "/labels")) bad(path, "dataset /" + g + "/labels is missing (task=classify)");
    if (f.shape(g + "/labels") != std::vector<int64_t>{s.n})
      bad(path, strf("/%s/labels must have %lld entries", g.c_str(), static_cast<long long>(s.n)));
    s.labels = f.read<int32_t>(g + "/labels");
    for (int64_t i = 0; i < s.n; i++)
      if (s.labels[i] < 0 || s.labels[i] >= d.n_classes)
        bad(path, strf("/%s/labels[%lld]=%d is outside [0, n_classes=%d)", g.c_str(), static_cast<long long>(i),
                       s.labels[i], d.n_classes));
  }
  return s;
}

// Offsets start at 0, never decrease and end at train.n; index is a permutation of the rows.
void check_partition(const std::string& path, const Dataset& d) {
  const auto& off = d.client_offsets;
  if (off.size() < 2) bad(path, "/partition/offsets needs at least 2 entries (one client)");
  if (off.front() != 0) bad(path, "/partition/offsets must start at 0");
  for (size_t c = 1; c < off.size(); c++)
    if (off[c] < off[c - 1]) bad(path, strf("/partition/offsets decreases at client %zu", c - 1));
  if (off.back() != d.train.n || static_cast<int64_t>(d.client_index.size()) != d.train.n)
    bad(path, strf("/partition covers %lld index entries ending at offset %lld, but /train has %lld rows",
                   static_cast<long long>(d.client_index.size()), static_cast<long long>(off.back()),
                   static_cast<long long>(d.train.n)));
  std::vector<uint8_t> seen(d.train.n, 0);
  for (int64_t r : d.client_index) {
    if (r < 0 || r >= d.train.n) bad(path, strf("/partition/index holds row %lld outside /train", static_cast<long long>(r)));
    if (seen[r]++) bad(path, strf("/partition/index lists train row %lld twice", static_cast<long long>(r)));
  }
  if (d.client_names.size() != off.size() - 1)
    bad(path, strf("/partition/names has %zu entries for %zu clients", d.client_names.size(), off.size() - 1));
}

}  // namespace

Dataset Dataset::load(const std::string& path) {
  h5::File f = h5::File::open_read(path);
  if (!f.has_attr("/", "format") || f.attr_string("/", "format") != kFormat)
    fail(path + " is not an hfedmoe dataset (no format=\"" + kFormat + "\" attribute; a checkpoint?)",
         "give a file written by `hfedmoe prepare`");
  int64_t version = f.attr_int("/", "format_version");
  if (version != kFormatVersion)
    fail(strf("%s has dataset format version %lld; this build reads version %lld", path.c_str(),
              static_cast<long long>(version), static_cast<long long>(kFormatVersion)),
         "re-create it with this build's `hfedmoe prepare`");
  for (const char* a : {"task", "n_classes", "seq_len", "vocab_size", "tokenizer"})
    if (!f.has_attr("/", a)) bad(path, std::string("root attribute '") + a + "' is missing");

  Dataset d;
  d.path = path;
  std::string task = f.attr_string("/", "task");
  if (task == "lm") d.task = Task::lm;
  else if (task == "classify") d.task = Task::classify;
  else bad(path, "root attribute task=\"" + task + "\" is neither \"lm\" nor \"classify\"");
  d.n_classes = static_cast<int>(f.attr_int("/", "n_classes"));
  d.seq_len = static_cast<int>(f.attr_int("/", "seq_len"));
  d.vocab_size = static_cast<int>(f.attr_int("/", "vocab_size"));
  d.tokenizer = f.attr_string("/", "tokenizer");
  if (d.tokenizer == kTokenizerName) {
    if (d.vocab_size != kByteVocab)
      bad(path, strf("tokenizer %s with vocab_size %d; it has %d", kTokenizerName, d.vocab_size, kByteVocab));
  } else {
    if (d.tokenizer.rfind("sha256:", 0) != 0)
      bad(path, "tokenizer \"" + d.tokenizer + "\" is neither byte260 nor sha256:<hex> of a tokenizer file");
    for (const SpecialAttr& a : kSpecialAttrs) {
      if (!f.has_attr("/", a.name)) bad(path, std::string("root attribute '") + a.name + "' is missing");
      int32_t& id = d.specials.*a.id;
      id = static_cast<int32_t>(f.attr_int("/", a.name));
      if (id < 0 || id >= d.vocab_size) bad(path, strf("%s=%d is outside the vocabulary [0, %d)", a.name, id, d.vocab_size));
    }
  }
  if (d.seq_len < 2) bad(path, strf("seq_len=%d; it must be at least 2", d.seq_len));
  if (d.task == Task::classify && d.n_classes < 2) bad(path, strf("task=classify with n_classes=%d (< 2)", d.n_classes));
  if (d.task == Task::lm && d.n_classes != 0) bad(path, strf("task=lm with n_classes=%d (must be 0)", d.n_classes));
  auto opt_attr = [&](const char* name) { return f.has_attr("/", name) ? f.attr_string("/", name) : std::string(); };
  d.source = opt_attr("source");
  d.source_version = opt_attr("source_version");
  d.source_sha256 = opt_attr("source_sha256");
  d.command = opt_attr("command");

  if (d.task == Task::classify) {
    if (!f.exists("classes")) bad(path, "dataset /classes is missing (task=classify)");
    d.classes = f.read_strings("classes");
    if (static_cast<int>(d.classes.size()) != d.n_classes)
      bad(path, strf("/classes has %zu names but n_classes=%d", d.classes.size(), d.n_classes));
  }
  d.train = read_split(f, "train", d);
  d.test = read_split(f, "test", d);
  if (d.train.n < 1) bad(path, "/train has no rows");

  for (const char* name : {"offsets", "index", "names"})
    if (!f.exists(std::string("partition/") + name)) bad(path, std::string("dataset /partition/") + name + " is missing");
  d.client_offsets = f.read<int64_t>("partition/offsets");
  d.client_index = f.read<int64_t>("partition/index");
  d.client_names = f.read_strings("partition/names");
  d.partition_scheme = f.has_attr("partition", "scheme") ? f.attr_string("partition", "scheme") : std::string();
  if (f.has_attr("partition", "alpha")) d.partition_alpha = f.attr_double("partition", "alpha");
  if (f.has_attr("partition", "seed")) d.partition_seed = static_cast<uint64_t>(f.attr_int("partition", "seed"));
  check_partition(path, d);
  return d;
}

void Dataset::check_tokenizer(const std::string& model_tokenizer) const {
  if (tokenizer != model_tokenizer)
    fail("dataset " + path + " is tokenised with " + tokenizer + " but model.tokenizer=" + model_tokenizer,
         "prepare the dataset with the model's tokenizer (--prepare.tokenizer MODEL_DIR), or set model.tokenizer to " +
             tokenizer);
}

void Dataset::save(const std::string& path) const {
  HF_CHECK(client_offsets.size() >= 2 && client_names.size() == client_offsets.size() - 1,
           "dataset has %zu offsets and %zu client names", client_offsets.size(), client_names.size());
  std::string tmp = path + ".tmp";
  {
    h5::File f = h5::File::create(tmp);
    f.set_attr("/", "format", std::string(kFormat));
    f.set_attr("/", "format_version", kFormatVersion);
    f.set_attr("/", "task", std::string(task_name(task)));
    f.set_attr("/", "n_classes", static_cast<int64_t>(n_classes));
    f.set_attr("/", "seq_len", static_cast<int64_t>(seq_len));
    f.set_attr("/", "vocab_size", static_cast<int64_t>(vocab_size));
    f.set_attr("/", "tokenizer", tokenizer);
    // byte260 files stay as they were: its ids are fixed (model/tokenizer.h).
    if (tokenizer != kTokenizerName) {
      for (const SpecialAttr& a : kSpecialAttrs) f.set_attr("/", a.name, static_cast<int64_t>(specials.*a.id));
    }
    f.set_attr("/", "source", source);
    f.set_attr("/", "source_version", source_version);
    f.set_attr("/", "source_sha256", source_sha256);
    f.set_attr("/", "command", command);
    if (task == Task::classify) f.write_strings("classes", classes);
    write_split(f, "train", train, task);
    write_split(f, "test", test, task);
    f.write("partition/offsets", client_offsets);
    f.write("partition/index", client_index);
    f.write_strings("partition/names", client_names);
    if (task == Task::classify) {
      // (n_clients, NC): redundant with labels + index, stored so tools need not recount.
      std::vector<int64_t> hist = label_histogram(client_offsets, client_index, train.labels, n_classes);
      f.write("partition/label_hist", hist.data(), {n_clients(), n_classes});
    }
    f.set_attr("partition", "scheme", partition_scheme);
    f.set_attr("partition", "alpha", partition_alpha);
    f.set_attr("partition", "seed", static_cast<int64_t>(partition_seed));
    f.close();
  }
  commit_file(tmp, path);
}

}  // namespace hf
