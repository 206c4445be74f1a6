#pragma once
// Router specialisation over a set of tokens (an evaluation pass), per layer: how evenly the
// experts are used and how decided the router is. For layer l over its V valid tokens:
//   hits_e     top-k selections of expert e (each token counts K times)
//   u_e        hits_e / (K V), the usage distribution
//   entropy    H(u) = -sum_e u_e ln u_e, in nats; entropy_frac = H(u) / ln E
//              (1 = every expert equally used, 0 = one expert takes all)
//   top1_e     tokens whose argmax expert (largest gate probability, lowest index on ties) is e
//   top_share  max_e top1_e / V: the share of tokens whose argmax expert is the most popular
//              argmax expert (1/E when spread evenly, 1 = collapse onto one expert)
//   max_gate   mean over tokens of max_e G_e (G: softmax over all E router logits); 1/E for
//              a router that cannot tell experts apart, 1 for a certain one
// Pad tokens are not counted. Counts are integers and the gate sum a double added in token
// order, so a pass over the same rows gives the same numbers.
#include <cstdint>
#include <string>
#include <vector>

namespace hf {

class Model;

struct LayerRouting {
  int64_t tokens = 0;       // V
  double entropy = 0;       // nats
  double entropy_frac = 0;  // entropy / ln E
  int top_expert = -1;      // the most popular argmax expert
  double top_share = 0;
  double max_gate = 0;
};

class RoutingStats {
 public:
  RoutingStats(int n_layers, int n_experts);
  // Adds N tokens of one layer: gate (N, E) softmax probabilities, topk (N, K) chosen experts,
  // valid (N) 1 = counted (nullptr: all).
  void add(int layer, const float* gate, const int32_t* topk, const uint8_t* valid, int N, int K);
  // Adds every layer of the model's last forward.
  void add(const Model& model);
  int n_layers() const { return L_; }
  LayerRouting layer(int l) const;
  const int64_t* hits() const { return hits_.data(); }  // (L, E)
  // One line per layer, with a header naming the columns.
  std::string report() const;

 private:
  int L_, E_, K_ = 0;
  std::vector<int64_t> hits_, top1_, tokens_;  // (L, E), (L, E), (L)
  std::vector<double> max_gate_sum_;           // (L)
};

}  // namespace hf
