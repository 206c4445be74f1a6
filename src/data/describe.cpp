#include "data/describe.h"

#include <algorithm>
#include <numeric>

#include "data/partition.h"
#include "util/strf.h"

namespace hf {

namespace {

constexpr int kTableClients = 20;  // a full table up to this many clients, a summary beyond

std::string balance(const Split& s, const Dataset& d) {
  std::vector<int64_t> count(d.n_classes, 0);
  for (int32_t l : s.labels) count[l]++;
  std::string out;
  for (int k = 0; k < d.n_classes; k++)
    out += strf("%s%s %lld (%.1f%%)", k ? ", " : "", d.classes[k].c_str(), static_cast<long long>(count[k]),
                s.n ? 100.0 * count[k] / s.n : 0.0);
  return out;
}

int64_t token_count(const Split& s) { return std::accumulate(s.lengths.begin(), s.lengths.end(), int64_t{0}); }

std::string clip(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n - 3) + "..."; }

}  // namespace

std::string describe_dataset(const Dataset& d) {
  std::string out;
  bool cls = d.task == Task::classify;
  out += strf("dataset %s\n", d.path.empty() ? "(not saved)" : d.path.c_str());
  if (cls) {
    std::string names;
    for (size_t k = 0; k < d.classes.size(); k++) names += (k ? ", " : "") + d.classes[k];
    out += strf("  task       classify, %d classes (%s)\n", d.n_classes, names.c_str());
  } else {
    out += "  task       lm (next-token prediction)\n";
  }
  out += strf("  rows       seq_len %d, tokenizer %s (vocab %d)\n", d.seq_len, d.tokenizer.c_str(), d.vocab_size);
  out += strf("  source     %s %s\n", d.source.c_str(), d.source_version.c_str());
  out += strf("  sha256     %s\n", d.source_sha256.c_str());
  if (!d.command.empty()) out += strf("  command    %s\n", d.command.c_str());
  out += strf("  train      %lld rows, %lld tokens\n", static_cast<long long>(d.train.n),
              static_cast<long long>(token_count(d.train)));
  out += strf("  test       %lld rows, %lld tokens\n", static_cast<long long>(d.test.n),
              static_cast<long long>(token_count(d.test)));
  if (cls) {
    out += "  labels     train: " + balance(d.train, d) + "\n";
    out += "             test:  " + balance(d.test, d) + "\n";
  }

  int n = d.n_clients();
  std::vector<int64_t> size(n);
  for (int c = 0; c < n; c++) size[c] = d.client_size(c);
  std::vector<int64_t> sorted = size;
  std::sort(sorted.begin(), sorted.end());
  std::string params = d.partition_alpha > 0 ? strf("alpha %g, seed %llu", d.partition_alpha,
                                                    static_cast<unsigned long long>(d.partition_seed))
                                             : strf("seed %llu", static_cast<unsigned long long>(d.partition_seed));
  out += strf("  partition  %s (%s): %d clients, rows per client min %lld, median %lld, max %lld\n",
              d.partition_scheme.c_str(), params.c_str(), n, static_cast<long long>(sorted.front()),
              static_cast<long long>(sorted[n / 2]), static_cast<long long>(sorted.back()));
  std::vector<int64_t> hist;  // (n_clients, NC)
  if (cls) hist = label_histogram(d.client_offsets, d.client_index, d.train.labels, d.n_classes);

  if (n <= kTableClients) {
    out += strf("    %-24s %8s", "client", "rows");
    if (cls)
      for (const std::string& name : d.classes) out += strf(" %9s", clip(name, 9).c_str());
    out += "\n";
    for (int c = 0; c < n; c++) {
      out += strf("    %-24s %8lld", clip(d.client_names[c], 24).c_str(), static_cast<long long>(size[c]));
      if (cls)
        for (int k = 0; k < d.n_classes; k++) out += strf(" %9lld", static_cast<long long>(hist[c * d.n_classes + k]));
      out += "\n";
    }
  } else if (cls) {
    // Label skew in two numbers: how much of a client its largest class is, and how many
    // classes it sees at all (iid: about the global share and all classes).
    double dominant = 0, present = 0;
    int single = 0;
    for (int c = 0; c < n; c++) {
      const int64_t* h = hist.data() + static_cast<size_t>(c) * d.n_classes;
      int64_t top = *std::max_element(h, h + d.n_classes);
      int seen = static_cast<int>(std::count_if(h, h + d.n_classes, [](int64_t v) { return v > 0; }));
      dominant += size[c] ? static_cast<double>(top) / size[c] : 0;
      present += seen;
      single += seen == 1;
    }
    out += strf("    label skew: largest class is %.1f%% of a client's rows on average; %.2f of %d classes "
                "present per client; %d clients hold one class only\n",
                100.0 * dominant / n, present / n, d.n_classes, single);
  }
  return out;
}

}  // namespace hf
