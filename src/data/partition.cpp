#include "data/partition.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "util/check.h"
#include "util/rng.h"

namespace hf {

namespace {

// Sub-streams of (seed, Purpose::partition); the `round` coordinate tells them apart.
constexpr uint64_t kStreamShuffle = 10, kStreamDirichlet = 11, kStreamQuantity = 12;

std::vector<double> dirichlet(int n, double alpha, Rng& rng) {
  std::vector<double> p(n);
  double sum = 0;
  for (double& x : p) sum += (x = rng.gamma(alpha));
  for (double& x : p) x = sum > 0 ? x / sum : 1.0 / n;
  return p;
}

// Cuts `total` into shares proportional to p: floor, then the remainder to the largest
// fractional parts (ties by client id), so the sizes sum exactly.
std::vector<int64_t> apportion(int64_t total, const std::vector<double>& p) {
  int n = static_cast<int>(p.size());
  std::vector<int64_t> size(n);
  std::vector<std::pair<double, int>> frac(n);
  int64_t given = 0;
  for (int c = 0; c < n; c++) {
    double exact = p[c] * static_cast<double>(total);
    size[c] = static_cast<int64_t>(exact);
    given += size[c];
    frac[c] = {exact - static_cast<double>(size[c]), c};
  }
  std::stable_sort(frac.begin(), frac.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (int64_t k = 0; k < total - given; k++) size[frac[k % n].second]++;
  return size;
}

Partition from_lists(std::vector<std::vector<int64_t>>& lists, std::vector<std::string> names) {
  Partition p;
  p.offsets.push_back(0);
  for (auto& l : lists) {
    p.index.insert(p.index.end(), l.begin(), l.end());
    p.offsets.push_back(static_cast<int64_t>(p.index.size()));
  }
  p.names = std::move(names);
  return p;
}

std::vector<std::string> numbered(int n) {
  std::vector<std::string> names(n);
  for (int c = 0; c < n; c++) names[c] = strf("client_%03d", c);
  return names;
}

Partition iid(int64_t N, int n, uint64_t seed) {
  std::vector<int64_t> rows(N);
  std::iota(rows.begin(), rows.end(), 0);
  Rng rng(seed, Purpose::partition, kStreamShuffle);
  rng.shuffle(rows.data(), rows.size());
  std::vector<std::vector<int64_t>> lists(n);
  for (int c = 0; c < n; c++)
    lists[c].assign(rows.begin() + N * c / n, rows.begin() + N * (c + 1) / n);
  return from_lists(lists, numbered(n));
}

Partition label_dirichlet(const std::vector<int32_t>& labels, int n_classes, int n, double alpha, uint64_t seed) {
  std::vector<std::vector<int64_t>> by_class(n_classes);
  for (size_t i = 0; i < labels.size(); i++) by_class[labels[i]].push_back(static_cast<int64_t>(i));
  // A draw may leave a client with nothing; redraw (deterministically, attempt = step)
  // a bounded number of times, as is usual for Dirichlet partitions, then give up clearly.
  const int kAttempts = 100;
  for (int attempt = 0; attempt < kAttempts; attempt++) {
    Rng rng(seed, Purpose::partition, kStreamDirichlet, 0, attempt);
    std::vector<std::vector<int64_t>> lists(n);
    for (int k = 0; k < n_classes; k++) {
      std::vector<int64_t> rows = by_class[k];
      rng.shuffle(rows.data(), rows.size());
      std::vector<int64_t> size = apportion(static_cast<int64_t>(rows.size()), dirichlet(n, alpha, rng));
      int64_t at = 0;
      for (int c = 0; c < n; c++) {
        lists[c].insert(lists[c].end(), rows.begin() + at, rows.begin() + at + size[c]);
        at += size[c];
      }
    }
    bool all_nonempty = std::all_of(lists.begin(), lists.end(), [](auto& l) { return !l.empty(); });
    if (all_nonempty) {
      for (auto& l : lists) std::sort(l.begin(), l.end());
      return from_lists(lists, numbered(n));
    }
  }
  fail(strf("partition=dirichlet with alpha=%g leaves a client without samples in %d draws (%zu rows, %d clients)",
            alpha, kAttempts, labels.size(), n),
       "raise --prepare.alpha, lower --prepare.clients, or use partition=quantity");
}

Partition quantity(int64_t N, int n, double alpha, uint64_t seed) {
  std::vector<int64_t> rows(N);
  std::iota(rows.begin(), rows.end(), 0);
  Rng rng(seed, Purpose::partition, kStreamQuantity);
  rng.shuffle(rows.data(), rows.size());
  // One row each first, the rest by Dirichlet shares: every client is non-empty by design.
  std::vector<int64_t> size = apportion(N - n, dirichlet(n, alpha, rng));
  std::vector<std::vector<int64_t>> lists(n);
  int64_t at = 0;
  for (int c = 0; c < n; c++) {
    lists[c].assign(rows.begin() + at, rows.begin() + at + size[c] + 1);
    at += size[c] + 1;
  }
  return from_lists(lists, numbered(n));
}

Partition natural(const std::vector<std::string>& groups, int n) {
  // Values in order of first appearance (chronological for speeches, group order for mail).
  std::vector<std::string> values;
  std::map<std::string, int> id;
  std::vector<std::vector<int64_t>> rows;
  for (size_t i = 0; i < groups.size(); i++) {
    auto [it, fresh] = id.emplace(groups[i], static_cast<int>(values.size()));
    if (fresh) {
      values.push_back(groups[i]);
      rows.emplace_back();
    }
    rows[it->second].push_back(static_cast<int64_t>(i));
  }
  int V = static_cast<int>(values.size());
  if (n == 0 || n == V) return from_lists(rows, values);
  if (n > V)
    fail(strf("partition=natural has %d distinct values but %d clients were asked for", V, n),
         strf("use --prepare.clients %d or fewer (0 = one client per value)", V));
  // Fewer clients than values: largest value first onto the currently smallest client.
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return rows[a].size() > rows[b].size(); });
  std::vector<std::vector<int>> members(n);
  std::vector<int64_t> load(n, 0);
  for (int v : order) {
    int c = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    members[c].push_back(v);
    load[c] += static_cast<int64_t>(rows[v].size());
  }
  std::vector<std::vector<int64_t>> lists(n);
  std::vector<std::string> names(n);
  for (int c = 0; c < n; c++) {
    std::sort(members[c].begin(), members[c].end());  // first-appearance order within a client
    for (int v : members[c]) {
      lists[c].insert(lists[c].end(), rows[v].begin(), rows[v].end());
      names[c] += (names[c].empty() ? "" : "+") + values[v];
    }
  }
  return from_lists(lists, names);
}

}  // namespace

Partition make_partition(const PartitionSpec& spec, const std::vector<int32_t>& labels, int n_classes,
                         const std::vector<std::string>& groups) {
  int64_t N = static_cast<int64_t>(labels.size());
  HF_CHECK(n_classes >= 1, "n_classes=%d", n_classes);
  if (spec.scheme == "natural") {
    HF_CHECK(groups.size() == labels.size(), "natural partition: %zu groups for %lld rows", groups.size(),
             static_cast<long long>(N));
    if (spec.n_clients < 0) fail("--prepare.clients is negative", "give 0 (one per value) or a positive count");
    return natural(groups, spec.n_clients);
  }
  if (spec.n_clients < 1) fail(strf("--prepare.clients=%d", spec.n_clients), "give at least 1 client");
  if (N < spec.n_clients)
    fail(strf("%lld training rows cannot give %d clients one row each", static_cast<long long>(N), spec.n_clients),
         "lower --prepare.clients or raise --prepare.max_samples / --prepare.test_fraction");
  if ((spec.scheme == "dirichlet" || spec.scheme == "quantity") && !(spec.alpha > 0))
    fail(strf("--prepare.alpha=%g", spec.alpha), "give a Dirichlet concentration > 0 (0.1 skewed ... 100 near-uniform)");
  if (spec.scheme == "iid") return iid(N, spec.n_clients, spec.seed);
  if (spec.scheme == "dirichlet") return label_dirichlet(labels, n_classes, spec.n_clients, spec.alpha, spec.seed);
  if (spec.scheme == "quantity") return quantity(N, spec.n_clients, spec.alpha, spec.seed);
  fail("--prepare.partition=" + spec.scheme + " is unknown", "use iid, dirichlet, natural or quantity");
}

std::vector<int64_t> label_histogram(const std::vector<int64_t>& offsets, const std::vector<int64_t>& index,
                                     const std::vector<int32_t>& labels, int n_classes) {
  int n = static_cast<int>(offsets.size()) - 1;
  std::vector<int64_t> hist(static_cast<size_t>(n) * n_classes, 0);  // (n_clients, NC)
  for (int c = 0; c < n; c++)
    for (int64_t i = offsets[c]; i < offsets[c + 1]; i++) hist[static_cast<size_t>(c) * n_classes + labels[index[i]]]++;
  return hist;
}

}  // namespace hf
