#include "model/batch.h"

#include <algorithm>

#include "util/check.h"

namespace hf {

void fill_batch(const Split& split, const int64_t* rows, int B, Task task, int32_t* tokens, int32_t* targets,
                int32_t* labels) {
  const int T = split.T;
  for (int b = 0; b < B; b++) {
    int64_t r = rows[b];
    HF_CHECK(r >= 0 && r < split.n, "batch row %lld outside the split (%lld rows)", static_cast<long long>(r),
             static_cast<long long>(split.n));
    const int32_t* src = split.row(r);
    int32_t* tok = tokens + static_cast<size_t>(b) * T;  // (T)
    std::copy(src, src + T, tok);
    if (task == Task::lm) {
      int32_t* tgt = targets + static_cast<size_t>(b) * T;  // (T)
      int len = split.lengths[r];
      for (int t = 0; t < T; t++) tgt[t] = t + 1 < len ? src[t + 1] : -1;
    } else {
      labels[b] = split.labels[r];
    }
  }
}

}  // namespace hf
