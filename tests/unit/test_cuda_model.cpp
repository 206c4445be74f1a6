// The whole model on the CUDA backend against the CPU reference (tiny preset): loss, accuracy
// counts and every parameter gradient, for a language-model batch with padding, a variant with
// GQA, tied embeddings, the load-balancing loss, a capacity limit and expert control (frozen
// and unroutable experts), the classification head, and LoRA adapters over an nf4 base. Plus:
// two CUDA steps give bitwise equal gradients (no atomics anywhere).
//
// Tolerance: per tensor, ||g_cuda - g_cpu|| / ||g_cpu|| <= 1e-4. Each op agrees to ~1e-6
// (test_cuda_ops.cpp, test_cuda_moe.cpp); two layers of forward and backward chain a few dozen
// of them, so relative differences of ~1e-5 are expected, and a real bug (a wrong index or
// missing term) gives O(1). One caveat: a router whose two best probabilities are within
// ~1e-7 could choose differently on the two backends; with these sizes that is a ~1e-3 event,
// and the failure message names the tensors, which would then be the experts of one layer.
#ifdef HFEDMOE_HAVE_CUDA
#include <cmath>
#include <cstring>

#include "model/model.h"
#include "model/tokenizer.h"
#include "test_cuda_util.h"
#include "util/rng.h"

namespace hf {
namespace {

using namespace test;
using CudaModel = CudaTest;

struct Inputs {
  std::vector<int32_t> tokens, targets, labels;
  std::vector<uint8_t> trainable, routable;
};

Inputs make_inputs(const ModelConfig& cfg, int B, int T, bool control, uint64_t seed) {
  Rng rng(seed, Purpose::eval, 80);
  Inputs in;
  in.tokens.resize(size_t(B) * T);
  for (auto& t : in.tokens) t = static_cast<int32_t>(rng.below(256));
  for (int t = T - 5; t < T; t++) in.tokens[size_t(B - 1) * T + t] = kPadToken;  // a padded row
  in.targets.assign(in.tokens.size(), -1);
  for (int b = 0; b < B; b++)
    for (int t = 0; t + 1 < T; t++) {
      int32_t next = in.tokens[size_t(b) * T + t + 1];
      if (next != kPadToken) in.targets[size_t(b) * T + t] = next;
    }
  for (int b = 0; b < B; b++) in.labels.push_back(cfg.n_classes > 0 ? b % cfg.n_classes : 0);
  if (control) {
    const int L = cfg.moe_layers(), E = cfg.n_experts;  // the masks count MoE layers only
    in.trainable.assign(size_t(L) * E, 1);
    in.routable.assign(size_t(L) * E, 1);
    for (int l = 0; l < L; l++) {
      in.trainable[l * E + (l + 1) % E] = 0;  // frozen: its gradient must stay zero
      in.trainable[l * E + (l + 4) % E] = 0;
      in.routable[l * E + (l + 2) % E] = 0;  // unroutable: gets no tokens
    }
  }
  return in;
}

void expect_model_parity(const ModelConfig& cfg, Task task, bool control) {
  const int B = 3, T = 24;
  CpuOps cpu_ops;
  CudaOps gpu_ops(0);
  Model mc(cfg, task, cpu_ops, B, T);
  Model mg(cfg, task, gpu_ops, B, T);
  const size_t P = mg.table().total();
  mc.init_weights(11);
  mg.init_weights(11);
  if (cfg.lora.enabled()) {  // B as after some training (it starts at zero), the same on both
    std::vector<float> host(mc.params(), mc.params() + P);
    for (const ParamInfo& t : mc.table().tensors())
      if (is_lora_b(t.kind)) {
        std::vector<float> b = randn(t.numel(), 7 + t.offset, 0.05f);
        std::copy(b.begin(), b.end(), host.begin() + t.offset);
      }
    mc.load_params(host.data());
    mg.load_params(host.data());
  }
  const float* g_params = mg.params_on_host();
  expect_equal("initial params", std::vector<float>(g_params, g_params + P), std::vector<float>(mc.params(), mc.params() + P));

  Inputs in = make_inputs(cfg, B, T, control, 5);
  Batch batch;
  batch.tokens = in.tokens.data();
  batch.targets = in.targets.data();
  batch.labels = in.labels.data();
  batch.B = B;
  batch.T = T;
  ExpertControl ctl;
  if (control) {
    ctl.trainable = in.trainable.data();
    ctl.routable = in.routable.data();
  }
  ForwardResult rc = mc.forward(batch, ctl), rg = mg.forward(batch, ctl);
  EXPECT_EQ(rg.counted, rc.counted);
  EXPECT_NEAR(rg.task_loss, rc.task_loss, 1e-5 * std::fabs(rc.task_loss));
  EXPECT_NEAR(rg.loss, rc.loss, 1e-5 * std::fabs(rc.loss));
  EXPECT_NEAR(static_cast<double>(rg.correct), static_cast<double>(rc.correct), 1.0) << "argmax near-ties aside";
  // The host mirrors of the routing and logits (what HFedMoE's selection reads).
  const int N = B * T, E = cfg.n_experts, K = cfg.top_k;
  for (int l = 0; l < cfg.moe_layers(); l++) {
    expect_close("gate_probs layer " + std::to_string(l), std::vector<float>(mg.gate_probs(l), mg.gate_probs(l) + N * E),
                 std::vector<float>(mc.gate_probs(l), mc.gate_probs(l) + N * E), 1e-5);
    expect_equal("topk_experts layer " + std::to_string(l),
                 std::vector<int32_t>(mg.topk_experts(l), mg.topk_experts(l) + N * K),
                 std::vector<int32_t>(mc.topk_experts(l), mc.topk_experts(l) + N * K));
  }
  const size_t n_logits = task == Task::lm ? size_t(N) * cfg.vocab_size : size_t(B) * cfg.n_classes;
  expect_close("logits", std::vector<float>(mg.logits(), mg.logits() + n_logits),
               std::vector<float>(mc.logits(), mc.logits() + n_logits), 1e-4);
  mc.backward();
  mg.backward();
  const float* g_grads = mg.grads_on_host();
  std::vector<float> grads(g_grads, g_grads + P);
  const float* ref = mc.grads();
  int checked = 0;
  for (const ParamInfo& t : mg.table().tensors()) {
    double diff = 0, norm = 0, gnorm = 0;
    for (size_t i = t.offset; i < t.offset + t.numel(); i++) {
      diff += std::pow(static_cast<double>(grads[i]) - ref[i], 2);
      norm += std::pow(static_cast<double>(ref[i]), 2);
      gnorm += std::pow(static_cast<double>(grads[i]), 2);
    }
    if (norm == 0) {
      EXPECT_EQ(gnorm, 0) << t.name << ": zero on the CPU (frozen, unrouted or unused), not on CUDA";
      continue;
    }
    checked++;
    EXPECT_LE(std::sqrt(diff / norm), 1e-4) << t.name << ": gradient differs from the CPU's (|g_cpu| "
                                            << std::sqrt(norm) << ")";
  }
  EXPECT_GT(checked, 0);

  // Determinism: the same step again gives the same bits.
  ForwardResult again = mg.forward(batch, ctl);
  mg.backward();
  g_grads = mg.grads_on_host();
  std::vector<float> grads2(g_grads, g_grads + P);
  EXPECT_EQ(std::memcmp(&again.loss, &rg.loss, sizeof(float)), 0) << "loss is not reproducible";
  EXPECT_EQ(std::memcmp(grads.data(), grads2.data(), P * sizeof(float)), 0) << "gradients are not reproducible";
}

TEST_F(CudaModel, TinyLanguageModelMatchesCpu) { expect_model_parity(model_preset("tiny"), Task::lm, false); }

TEST_F(CudaModel, GqaTiedAuxCapacityAndExpertControlMatchCpu) {
  ModelConfig cfg = model_preset("tiny");
  cfg.n_kv_heads = 2;
  cfg.tie_embeddings = true;
  cfg.aux_loss_coef = 0.01f;
  cfg.capacity_factor = 1.0f;
  expect_model_parity(cfg, Task::lm, true);
}

// Adapters on every linear (r 4) over an nf4 base.
void with_nf4_adapters(ModelConfig& cfg) {
  cfg.lora.rank = 4;
  cfg.lora.alpha = 8;
  cfg.lora.targets = kLoraAttention | kLoraExperts;
  cfg.lora.base_dtype = BaseDtype::nf4;
}

TEST_F(CudaModel, LoraOverAnNf4BaseWithExpertControlMatchesCpu) {
  ModelConfig cfg = model_preset("tiny");
  cfg.n_kv_heads = 2;
  with_nf4_adapters(cfg);
  expect_model_parity(cfg, Task::lm, true);
}

// The families' features (model/config.h): q/k/v biases, q/k norms, raw top-k, gated shared
// experts, in full and under adapters over an nf4 base (the shared experts adapted too).
TEST_F(CudaModel, FamilyFeaturesMatchCpu) {
  for (bool lora : {false, true}) {
    SCOPED_TRACE(lora ? "LoRA over nf4" : "full");
    ModelConfig cfg = model_preset("tiny");
    cfg.n_kv_heads = 2;
    cfg.qkv_bias = cfg.qk_norm = cfg.shared_gate = true;
    cfg.norm_topk_prob = false;
    cfg.n_shared_experts = 2;
    cfg.shared_d_ff = 64;
    if (lora) with_nf4_adapters(cfg);
    expect_model_parity(cfg, Task::lm, true);
  }
}

// DeepSeekMoE's layout: dense first layers (their MLP FD wide) before gated shared experts and
// expert control, in full and under adapters over an nf4 base (the dense MLP adapted too).
TEST_F(CudaModel, DenseFirstLayersMatchCpu) {
  for (bool lora : {false, true}) {
    SCOPED_TRACE(lora ? "LoRA over nf4" : "full");
    ModelConfig cfg = model_preset("tiny");
    cfg.n_layers = 3;
    cfg.first_k_dense = 2;
    cfg.dense_d_ff = 96;
    cfg.n_shared_experts = 1;
    cfg.shared_gate = true;
    if (lora) with_nf4_adapters(cfg);
    expect_model_parity(cfg, Task::lm, true);
  }
}

TEST_F(CudaModel, ClassifierMatchesCpu) {
  ModelConfig cfg = model_preset("tiny");
  cfg.n_classes = 3;
  expect_model_parity(cfg, Task::classify, false);
}

}  // namespace
}  // namespace hf

#endif  // HFEDMOE_HAVE_CUDA
