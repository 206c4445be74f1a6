#include "model/evaluate.h"

#include <algorithm>
#include <cmath>

namespace hf {

void EvalTally::add(const ForwardResult& r) {
  loss_sum += static_cast<double>(r.task_loss) * r.counted;
  counted += r.counted;
  correct += r.correct;
}

void EvalTally::add(const EvalTally& t) {
  loss_sum += t.loss_sum;
  counted += t.counted;
  correct += t.correct;
}

double EvalTally::loss() const { return counted ? loss_sum / counted : NAN; }
double EvalTally::acc() const { return counted ? static_cast<double>(correct) / counted : NAN; }

Evaluator::Evaluator(int max_B, int T)
    : max_B_(max_B),
      tokens_(static_cast<size_t>(max_B) * T),
      targets_(static_cast<size_t>(max_B) * T),
      labels_(max_B),
      batch_rows_(max_B) {}

EvalTally Evaluator::run(Model& model, const Split& split, const int64_t* rows, int64_t n, RoutingStats* routing) {
  EvalTally t;
  for (int64_t r0 = 0; r0 < n; r0 += max_B_) {
    int B = static_cast<int>(std::min<int64_t>(max_B_, n - r0));
    for (int b = 0; b < B; b++) batch_rows_[b] = rows ? rows[r0 + b] : r0 + b;
    fill_batch(split, batch_rows_.data(), B, model.task(), tokens_.data(), targets_.data(), labels_.data());
    t.add(model.forward(Batch{tokens_.data(), targets_.data(), labels_.data(), B, split.T, split.pad}));
    if (routing) routing->add(model);
  }
  return t;
}

std::vector<int64_t> spread_rows(int64_t total, int64_t n) {
  n = std::min(n, total);
  std::vector<int64_t> rows(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; i++) rows[i] = static_cast<int64_t>(static_cast<__int128>(i) * total / n);
  return rows;
}

}  // namespace hf
