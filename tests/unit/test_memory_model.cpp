// The memory rule (src/fl/memory_model.h): every term against a hand count, against the bytes
// the CPU backend really allocates for one client step, and the budgets the shipped profile
// files promise.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fl/memory_model.h"
#include "model/model.h"
#include "ops/cpu_ops.h"
#include "util/check.h"

namespace hf {
namespace {

// The demo and study model: tiny with 16 experts of d_ff 64, 2 classes.
ModelConfig demo_model(int n_classes = 2) {
  ModelConfig m = model_preset("tiny");
  m.n_experts = 16, m.d_ff = 64, m.n_classes = n_classes;
  return m;
}

// V=260, C=64, L=2, NH=NKV=4, HS=16, E=16, K=2, F=64, NC=2; batch 8 x 128 = 1024 tokens.
//   parameters: tok_emb 16640; per layer 2 norms 128 + wq,wk,wv,wo 4*4096 + router 16*64 = 17536,
//     experts 16 * 3*64*64 = 16 * 12288 = 196608; final_norm 64, lm_head 16640, cls head 128 + 2.
//     P = 16640 + 2*(17536 + 196608) + 64 + 16640 + 130 = 461762; experts 393216, shared 68546.
//   weights 4 * 461762 = 1847048; dense state 16 * 68546 = 1096736.
//   floats per token: per layer 4C 256 + 2*NH*HS 128 + 2*NKV*HS 128 + NH*T 512 + E 16 + 2 + 4K 8 = 1050,
//     times 2 layers = 2100; once: 2C 128 + 5.25 + E 16 + backward (2C 128 + 128 + 128 + 512 + 16 + K 2
//     = 914) = 1063.25. (2100 + 1063.25) * 1024 = 3239168.
//   per row (classification): 2C + 2NC = 132, * 8 = 1056.
//   routed rows 2 layers * 1024 * 2 = 4096, * (3F + 2C = 320) = 1310720; one layer's workspace 655360.
//   activations 4 * (3239168 + 1056 + 1310720 + 655360) = 20825216.
//   fixed = 1847048 + 1096736 + 20825216 = 23769000 bytes.
//   an expert of one layer: trained 16 * 12288 = 196608, kept 12 * 12288 = 147456.
TEST(MemoryModel, EveryTermMatchesTheHandCount) {
  MemoryModel mem(demo_model(), Task::classify);
  EXPECT_EQ(mem.full_routed_rows(8, 128), 4096.0);
  EXPECT_EQ(mem.fixed_bytes(8, 128, 4096), 23769000.0);
  EXPECT_EQ(mem.trained_expert_bytes(), 196608.0);
  EXPECT_EQ(mem.kept_expert_bytes(), 147456.0);
  EXPECT_EQ(mem.step_bytes(8, 128, 4096, 4, 2), 23769000.0 + 4 * 196608.0 + 2 * 147456.0);
  // Fewer routed rows (a padded batch routes fewer rows): 320 floats less per row.
  EXPECT_EQ(mem.fixed_bytes(8, 128, 4096) - mem.fixed_bytes(8, 128, 4094), 4.0 * 320 * (2 + 2.0 / 2));
  // The LM task keeps no class head rows but the logits and their gradient, 2V per token.
  ModelConfig lm = demo_model(0);
  MemoryModel lm_mem(lm, Task::lm);
  const double lm_params = 461762 - 130;
  EXPECT_EQ(lm_mem.fixed_bytes(8, 128, 4096),
            4 * lm_params + 16 * (68546 - 130) + 4 * (3239168 + 2.0 * 260 * 1024 + 1310720 + 655360));
}

// Budgets: edge memory 0.0247 GB leaves 931000 bytes, 2.37 experts in both layers (393216 each).
TEST(MemoryModel, BudgetIsTheExpertsWhoseStateFitsBesideTheFixedPart) {
  DeviceProfile p;
  p.memory_gb = 0.0247;
  BudgetDerivation d = derive_budget(p, demo_model(), Task::classify, 8, 128);
  EXPECT_EQ(d.fixed_bytes, 23769000.0);
  EXPECT_EQ(d.per_expert_bytes, 393216.0);
  EXPECT_NEAR(d.free_bytes, 931000.0, 1e-3);
  EXPECT_EQ(d.budget, 2);
  std::string line = d.explain();
  EXPECT_NE(line.find("C_budget=2"), std::string::npos) << line;
  EXPECT_NE(line.find("0.0247 GB"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  // A client trained with its budget for the whole round fits; one more expert does not.
  MemoryModel mem(demo_model(), Task::classify);
  EXPECT_LE(mem.step_bytes(8, 128, 4096, 2 * 2, 0), p.memory_gb * kBytesPerGB);
  EXPECT_GT(mem.step_bytes(8, 128, 4096, 2 * 2 + 3, 0), p.memory_gb * kBytesPerGB);
  // FedAvg holds every expert's state: it fits only where the budget is all 16.
  EXPECT_EQ(mem.step_bytes(8, 128, 4096, 2 * 16, 0), 23769000.0 + 32 * 196608.0);
}

TEST(MemoryModel, BudgetGrowsWithMemoryAndIsZeroWhenNothingFits) {
  ModelConfig m = demo_model();
  DeviceProfile p;
  p.memory_gb = 0.02;  // below the fixed part: free is negative
  BudgetDerivation d = derive_budget(p, m, Task::classify, 8, 128);
  EXPECT_LT(d.free_bytes, 0);
  EXPECT_EQ(d.budget, 0);
  p.memory_gb = 0.0238;  // the fixed part fits, one expert in both layers does not
  EXPECT_EQ(derive_budget(p, m, Task::classify, 8, 128).budget, 0);
  int last = 0;
  for (double gb = 0.0; gb <= 0.04; gb += 0.0002) {
    p.memory_gb = gb;
    int b = derive_budget(p, m, Task::classify, 8, 128).budget;
    EXPECT_GE(b, last) << gb << " GB";
    last = b;
  }
  EXPECT_EQ(last, m.n_experts);  // clamped at E
  EXPECT_THROW(derive_budget(p, m, Task::classify, 0, 128), Error);
}

// The rule against what the CPU backend really allocates for a client that trains every
// expert at full routing: the model's arenas (weights, gradients, activations, workspace) +
// AdamW's two moments (model/adamw.h: m and v over the arena) + the global copy the delta is
// measured against.
TEST(MemoryModel, MatchesTheBytesTheCpuBackendHoldsForOneStep) {
  CpuOps ops(1);
  for (Task task : {Task::classify, Task::lm}) {
    ModelConfig cfg = demo_model(task == Task::classify ? 2 : 0);
    Model model(cfg, task, ops, 8, 128);
    const double P = static_cast<double>(model.table().total());
    const double real = static_cast<double>(model.backend_bytes()) + 2 * 4 * P + 4 * P;
    MemoryModel mem(cfg, task);
    const double modeled = mem.step_bytes(8, 128, mem.full_routed_rows(8, 128), cfg.n_layers * cfg.n_experts, 0);
    EXPECT_NEAR(modeled / real, 1.0, 0.10) << "modeled " << modeled << " vs real " << real;
  }
}

// The rule for an LM client of cfg training every expert at full routing, against the CPU
// backend's arenas + AdamW's two moments + the global copy, as above.
void expect_modeled_within_10_percent(const ModelConfig& cfg, const std::string& what) {
  CpuOps ops(1);
  Model model(cfg, Task::lm, ops, 8, 128);
  const double P = static_cast<double>(model.table().total());
  const double real = static_cast<double>(model.backend_bytes()) + 2 * 4 * P + 4 * P;
  MemoryModel mem(cfg, Task::lm);
  const double modeled = mem.step_bytes(8, 128, mem.full_routed_rows(8, 128), cfg.moe_layers() * cfg.n_experts, 0);
  EXPECT_NEAR(modeled / real, 1.0, 0.10) << what << ": modeled " << modeled << " vs real " << real;
  EXPECT_EQ(model.frozen_base_bytes() > 0, cfg.lora.enabled()) << what;
}

// The same with LoRA adapters over an nf4 base: the arena (adapters and the tensors trained in
// full) with its gradients and moments, the base at 4.1 bits a weight, the adapters' A x.
TEST(MemoryModel, WithAdaptersMatchesTheBytesTheCpuBackendHolds) {
  ModelConfig cfg = demo_model(0);
  cfg.lora.rank = 8;
  cfg.lora.targets = kLoraAttention | kLoraExperts;
  cfg.lora.base_dtype = BaseDtype::nf4;
  expect_modeled_within_10_percent(cfg, "nf4 base");
  MemoryModel mem(cfg, Task::lm);
  // An expert's training state is its adapters': 16 bytes for each of r (C + F) * 3 floats.
  EXPECT_EQ(mem.trained_expert_bytes(), 16.0 * 8 * (64 + 64) * 3);
  // against the full expert's 3 F C floats: 4x smaller at r = 8, C = F = 64
  MemoryModel full(demo_model(0), Task::lm);
  EXPECT_EQ(mem.trained_expert_bytes() * 4, full.trained_expert_bytes());
}

// The families' features (q/k norms, q/k/v biases, gated shared experts as wide as all routed
// experts together, so that their terms carry weight), trained in full and under adapters.
TEST(MemoryModel, WithFamilyFeaturesMatchesTheBytesTheCpuBackendHolds) {
  for (bool lora : {false, true}) {
    ModelConfig cfg = demo_model(0);
    cfg.qk_norm = cfg.qkv_bias = cfg.shared_gate = true;
    cfg.norm_topk_prob = false;
    cfg.n_shared_experts = 2;
    cfg.shared_d_ff = cfg.d_ff * cfg.n_experts / 2;
    if (lora) {
      cfg.lora.rank = 8;
      cfg.lora.targets = kLoraAttention | kLoraExperts;
      cfg.lora.base_dtype = BaseDtype::nf4;
    }
    expect_modeled_within_10_percent(cfg, lora ? "features under LoRA" : "features");
  }
}

// Dense first layers (model.first_k_dense) whose MLP is as wide as four layers of routed experts,
// so that leaving out its weights, state or activations (or counting the dense layers' missing
// experts) would move the total past 10%; beside gated shared experts, in full and under adapters.
TEST(MemoryModel, WithDenseFirstLayersMatchesTheBytesTheCpuBackendHolds) {
  for (bool lora : {false, true}) {
    ModelConfig cfg = demo_model(0);
    cfg.n_layers += 2;
    cfg.first_k_dense = 2;
    cfg.dense_d_ff = 4 * cfg.d_ff * cfg.n_experts;
    cfg.n_shared_experts = 1;
    cfg.shared_gate = true;
    if (lora) {
      cfg.lora.rank = 8;
      cfg.lora.targets = kLoraAttention | kLoraExperts;
      cfg.lora.base_dtype = BaseDtype::nf4;
    }
    expect_modeled_within_10_percent(cfg, lora ? "dense layers under LoRA" : "dense layers");
    // C_budget divides by the MoE layers' experts only.
    const BudgetDerivation d = derive_budget(DeviceProfile{}, cfg, Task::lm, 8, 128);
    EXPECT_EQ(d.per_expert_bytes, cfg.moe_layers() * MemoryModel(cfg, Task::lm).trained_expert_bytes());
  }
}

// The budgets promised in the comment lines of the shipped files.
void expect_budgets(const std::string& file, const ModelConfig& m, Task task, int seq, const std::vector<int>& want) {
  auto ps = load_profiles(std::string(HFEDMOE_SOURCE_DIR) + "/" + file);
  ASSERT_EQ(ps.size(), want.size()) << file;
  for (size_t j = 0; j < ps.size(); j++)
    EXPECT_EQ(derive_budget(ps[j], m, task, 8, seq).budget, want[j]) << file << " " << ps[j].name;
}

TEST(MemoryModel, ShippedFilesGiveTheirDocumentedBudgets) {
  for (int classes : {2, 3, 4}) {  // spam, spam3, sotu_era
    expect_budgets("jobs/profiles/default.csv", demo_model(classes), Task::classify, 128, {2, 6, 16});
    for (const char* mix : {"mix_edge80", "mix_even", "mix_ws60"})
      expect_budgets(std::string("jobs/sweeps/") + mix + ".csv", demo_model(classes), Task::classify, 128, {2, 6, 16});
    ModelConfig lora = demo_model(classes);  // the LoRA study's model (jobs/sweeps/study_lora.grid)
    lora.lora.rank = 8;
    lora.lora.targets = kLoraAttention | kLoraExperts;
    lora.lora.base_dtype = BaseDtype::nf4;
    expect_budgets("jobs/sweeps/mix_even_lora.csv", lora, Task::classify, 128, {2, 6, 16});
  }
  expect_budgets("jobs/profiles/small.csv", model_preset("small"), Task::lm, 256, {2, 4, 16});
  expect_budgets("jobs/profiles/paper.csv", model_preset("base"), Task::lm, 512, {2, 6, 14, 32});
}

}  // namespace
}  // namespace hf
