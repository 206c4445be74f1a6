#pragma once
// How the training rows are split among N federated clients. Every scheme is a pure
// function of its inputs and (seed, Purpose::partition), so a dataset is reproducible.
//   iid        rows shuffled, cut into N near-equal shares
//   dirichlet  label skew: for each class k, the shares of its rows over clients ~ Dir(alpha);
//              small alpha gives clients few classes, large alpha approaches iid
//   natural    by a metadata field (mail group, president): one client per distinct value,
//              or values grouped (largest first onto the smallest client) into N clients
//   quantity   size skew: client sizes ~ Dir(alpha) (each at least 1), labels iid
#include <cstdint>
#include <string>
#include <vector>

namespace hf {

struct Partition {
  std::vector<int64_t> offsets;    // (n_clients + 1); client c owns index[offsets[c] : offsets[c+1]]
  std::vector<int64_t> index;      // (N) row ids grouped by client
  std::vector<std::string> names;  // (n_clients) "client_007", or the natural value(s)
  int n_clients() const { return static_cast<int>(offsets.size()) - 1; }
};

struct PartitionSpec {
  std::string scheme = "iid";  // iid | dirichlet | natural | quantity
  int n_clients = 10;          // natural: 0 = one client per distinct value
  double alpha = 0.5;          // dirichlet and quantity
  uint64_t seed = 1;
};

// labels (N): class of each row, all 0 for language modelling; n_classes >= 1.
// groups (N): the natural field's value of each row (natural only, else may be empty).
// A request that cannot be met (more clients than rows or values, a Dirichlet draw that
// leaves a client empty) is a usage error saying what to change.
Partition make_partition(const PartitionSpec& spec, const std::vector<int32_t>& labels, int n_classes,
                         const std::vector<std::string>& groups);

// (n_clients, n_classes) row counts.
std::vector<int64_t> label_histogram(const std::vector<int64_t>& offsets, const std::vector<int64_t>& index,
                                     const std::vector<int32_t>& labels, int n_classes);

}  // namespace hf
