#include "data/lora_base.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "data/hf_folder.h"
#include "data/sha256.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "model/frozen_base.h"
#include "model/model.h"
#include "util/check.h"

namespace hf {

BaseRef base_ref_of(const std::string& init, const std::string& dtype) {
  if (init.empty()) return {init, "", dtype};
  return {init, std::filesystem::is_directory(init) ? hf_folder_sha256(init) : sha256_hex(read_file(init)), dtype};
}

void check_base_ref(const BaseRef& stored, const BaseRef& now, const std::string& ckpt) {
  auto digest = [](const BaseRef& r) { return r.sha256.empty() ? std::string("none (the base from run.seed)") : r.sha256; };
  if (stored.sha256 != now.sha256)
    fail(strf("%s was trained over the base %s (sha256 %s) but the base given is %s (sha256 %s)", ckpt.c_str(),
              stored.path.empty() ? "from run.seed" : stored.path.c_str(), digest(stored).c_str(),
              now.path.empty() ? "from run.seed" : now.path.c_str(), digest(now).c_str()),
         "give the base checkpoint the adapters were trained over (train.init, or eval.base)");
}

std::vector<float> base_weights(const ParamTable& full, const std::string& init, uint64_t seed) {
  std::vector<float> w = initial_weights(full, seed);  // (full.total())
  if (init.empty()) return w;
  if (std::filesystem::is_directory(init))
    load_hf_folder_initial(init, full, w.data());
  else
    load_model_weights(init, full, w.data(), /*keep_absent_head=*/true);
  return w;
}

void load_lora_base(Model& model, const std::string& init, uint64_t seed) {
  model.init_weights(seed);
  if (!init.empty()) model.load_base(base_weights(model.full_table(), init, seed).data());
}

std::vector<float> merged_weights(const ParamTable& table, const float* arena, const ParamTable& full,
                                  const std::vector<float>& base) {
  const LoraConfig& lora = table.config().lora;
  std::vector<float> merged(full.total());  // (full.total())
  for (const ParamInfo& f : full.tensors()) {
    float* w = merged.data() + f.offset;
    if (!is_adaptable(f.kind)) {
      const ParamInfo* a = table.find(f.name);
      HF_CHECK(a, "tensor %s of the model without adapters is not in the arena", f.name.c_str());
      std::copy(arena + a->offset, arena + a->offset + a->numel(), w);
      continue;
    }
    const int OC = static_cast<int>(f.shape[0]), IC = static_cast<int>(f.shape[1]), r = lora.rank;
    std::vector<float> stored = FrozenBase::round_trip(base.data() + f.offset, OC, IC, lora.base_dtype);  // (OC, IC)
    std::copy(stored.begin(), stored.end(), w);
    if (!(lora.targets & lora_target_bit(f.kind))) continue;
    const float* A = arena + table.get(lora_a_kind(f.kind), f.layer, f.expert).offset;  // (r, IC)
    const float* B = arena + table.get(lora_b_kind(f.kind), f.layer, f.expert).offset;  // (OC, r)
    for (int o = 0; o < OC; o++)
      for (int i = 0; i < IC; i++) {
        double ba = 0;
        for (int k = 0; k < r; k++) ba += static_cast<double>(B[o * r + k]) * A[k * IC + i];
        w[o * IC + i] += static_cast<float>(lora.scale() * ba);
      }
  }
  return merged;
}

}  // namespace hf
