// Parity of the C++ model (CPU backend) with the PyTorch reference, tests/ref/mixtral_ref.py
// (lm_lora: LoRA adapters on every linear over a frozen base, with GQA, padding, frozen experts;
// lm_qwen2_moe, lm_olmoe, lm_deepseek: the families' features, model/config.h; lm_deepseek_dense:
// a dense first layer before the MoE layers (model.first_k_dense); lm_features_lora: all of them
// under adapters).
// Each tests/data/ref/<case>.h5 holds float32 weights, a batch, the ExpertControl masks and what
// PyTorch autograd computed from them in float64 (loss, every gradient, gate probabilities,
// top-k choices; for lm_gqa also 10 AdamW steps). Regenerate after a deliberate semantic change:
//   /usr/bin/python3 tests/ref/make_reference.py
//
// Tolerances. The reference is exact to ~1e-15; the C++ model runs in fp32, so what is left is
// fp32 rounding. make_reference.py measures it by running the same reference in float32
// (attributes fp32_* in each file): loss ~1e-7 relative, gradients ~1e-6 relative to their
// tensor's norm, AdamW losses ~3e-7, final weights ~2e-7. The bounds below leave ~100x room for
// a different but legitimate summation order (BLAS blocking, OpenMP reductions), and each of
// seven semantic changes tried on the reference (RoPE pairing, GQA head mapping, top-k
// renormalisation, pads in the aux loss, routable mask, frozen gradients, coupled weight decay)
// breaks them in the cases it concerns:
//   loss 1e-5 relative; each gradient ||g - ref|| <= 1e-4 ||ref||; gate probabilities 1e-5
//   absolute; top-k choices and argmax counts exact (the generator rejects seeds whose choices
//   are closer than 1e-4, so fp32 cannot honestly flip them); frozen experts' gradients exactly
//   zero; AdamW losses 1e-4 relative and final weights 1e-5 relative per tensor.
// hf::Model does not expose logits; the LM head's gradient (softmax(logits) - onehot)^T x
// checks every logit of the batch instead (the files keep /logits for a future accessor).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cli/common_options.h"
#include "io/h5.h"
#include "data/hf_folder.h"
#include "model/adamw.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "ops/cpu_ops.h"

namespace hf {
namespace {

struct RefCase {
  h5::File f;
  ModelConfig cfg;
  Task task = Task::lm;
  int B = 0, T = 0;
  std::vector<int32_t> tokens, targets, labels;  // (B, T), (B, T), (B)
  std::vector<uint8_t> trainable, routable;      // (L, E) or empty

  explicit RefCase(const std::string& name)
      : f(h5::File::open_read(HFEDMOE_SOURCE_DIR "/tests/data/ref/" + name + ".h5")) {
    cfg.preset = "parity";
    cfg.vocab_size = static_cast<int>(f.attr_int("/", "vocab_size"));
    cfg.d_model = static_cast<int>(f.attr_int("/", "d_model"));
    cfg.n_layers = static_cast<int>(f.attr_int("/", "n_layers"));
    cfg.n_heads = static_cast<int>(f.attr_int("/", "n_heads"));
    cfg.n_kv_heads = static_cast<int>(f.attr_int("/", "n_kv_heads"));
    cfg.n_experts = static_cast<int>(f.attr_int("/", "n_experts"));
    cfg.top_k = static_cast<int>(f.attr_int("/", "top_k"));
    cfg.d_ff = static_cast<int>(f.attr_int("/", "d_ff"));
    cfg.seq_len = static_cast<int>(f.attr_int("/", "seq_len"));
    cfg.rms_eps = static_cast<float>(f.attr_double("/", "rms_eps"));
    cfg.rope_theta = static_cast<float>(f.attr_double("/", "rope_theta"));
    cfg.tie_embeddings = f.attr_int("/", "tie_embeddings") != 0;
    cfg.n_classes = static_cast<int>(f.attr_int("/", "n_classes"));
    cfg.aux_loss_coef = static_cast<float>(f.attr_double("/", "aux_loss_coef"));
    // The family features are in the file only when not at their default (model/config.h).
    auto flag = [&](const char* key, bool& field) {
      if (f.has_attr("/", key)) field = f.attr_int("/", key) != 0;
    };
    flag("norm_topk_prob", cfg.norm_topk_prob);
    flag("qkv_bias", cfg.qkv_bias);
    flag("qk_norm", cfg.qk_norm);
    flag("shared_gate", cfg.shared_gate);
    if (f.has_attr("/", "n_shared_experts")) cfg.n_shared_experts = static_cast<int>(f.attr_int("/", "n_shared_experts"));
    if (f.has_attr("/", "shared_d_ff")) cfg.shared_d_ff = static_cast<int>(f.attr_int("/", "shared_d_ff"));
    if (f.has_attr("/", "first_k_dense")) cfg.first_k_dense = static_cast<int>(f.attr_int("/", "first_k_dense"));
    if (f.has_attr("/", "dense_d_ff")) cfg.dense_d_ff = static_cast<int>(f.attr_int("/", "dense_d_ff"));
    if (f.has_attr("/", "lora_rank")) {  // adapters over a frozen fp32 base
      cfg.lora.rank = static_cast<int>(f.attr_int("/", "lora_rank"));
      cfg.lora.alpha = static_cast<float>(f.attr_double("/", "lora_alpha"));
      cfg.lora.targets = parse_lora_targets(f.attr_string("/", "lora_targets"));
    }
    task = f.attr_string("/", "task") == "classify" ? Task::classify : Task::lm;
    B = static_cast<int>(f.attr_int("/", "B"));
    T = static_cast<int>(f.attr_int("/", "T"));
    tokens = f.read<int32_t>("tokens");
    if (task == Task::lm) targets = f.read<int32_t>("targets");
    if (task == Task::classify) labels = f.read<int32_t>("labels");
    if (f.exists("trainable")) trainable = f.read<uint8_t>("trainable");
    if (f.exists("routable")) routable = f.read<uint8_t>("routable");
  }

  Batch batch() const {
    Batch b;
    b.tokens = tokens.data();
    b.targets = targets.empty() ? nullptr : targets.data();
    b.labels = labels.empty() ? nullptr : labels.data();
    b.B = B;
    b.T = T;
    return b;
  }
  ExpertControl control() const {
    ExpertControl c;
    c.trainable = trainable.empty() ? nullptr : trainable.data();
    c.routable = routable.empty() ? nullptr : routable.data();
    return c;
  }
  double scalar(const std::string& dataset) const { return f.read<double>(dataset).at(0); }
};

// Every dataset below `group`, as paths relative to it ("layer_0/expert_1/w1").
void list_datasets(const h5::File& f, const std::string& group, const std::string& rel,
                   std::vector<std::string>& out) {
  for (const std::string& m : f.list(group + rel)) {
    std::string path = rel + m;  // rel: "" or ending in a slash
    if (f.is_group(group + path))
      list_datasets(f, group, path + "/", out);
    else
      out.push_back(path);
  }
}

// Copies group/<name> into the arena by name; every tensor of the table must be in the file.
// With LoRA the file also holds the frozen base, which goes in through load_base().
void load_params(Model& model, const h5::File& f, const std::string& group) {
  std::vector<std::string> names;
  list_datasets(f, group, "", names);
  const bool lora = model.config().lora.enabled();
  std::vector<float> full(lora ? model.full_table().total() : 0);  // (model without adapters)
  size_t trained = 0;
  for (const std::string& n : names) {
    const ParamInfo* p = model.table().find(n);
    const ParamInfo* b = lora ? model.full_table().find(n) : nullptr;
    ASSERT_TRUE(p || b) << f.path() << ": " << group << n << " is not a tensor of this model";
    if (b) f.read(group + n, full.data() + b->offset, b->numel());
    if (p) f.read(group + n, model.params() + p->offset, p->numel());
    trained += p != nullptr;
  }
  ASSERT_EQ(trained, model.table().tensors().size()) << f.path() << ": " << group << " lacks tensors";
  if (lora) model.load_base(full.data());
}

// ||a - ref|| / ||ref||, accumulated in double; ||a|| when ref is zero.
double rel_err(const float* a, const float* ref, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++) {
    d += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    r += double(ref[i]) * ref[i];
  }
  return r > 0 ? std::sqrt(d / r) : std::sqrt(d);
}

// One forward and backward of model (holding rc's weights) on rc's batch against the reference.
void expect_parity(Model& model, const RefCase& rc, const char* name) {
  const ModelConfig& cfg = rc.cfg;
  ForwardResult r = model.forward(rc.batch(), rc.control());
  model.backward();
  EXPECT_NEAR(r.loss, rc.scalar("loss"), 1e-5 * std::abs(rc.scalar("loss")))
      << "loss; the reference run in float32 is off by " << rc.f.attr_double("/", "fp32_loss_rel_err")
      << " relative";
  EXPECT_NEAR(r.task_loss, rc.scalar("task_loss"), 1e-5 * std::abs(rc.scalar("task_loss"))) << "task loss";
  EXPECT_EQ(r.counted, rc.f.read<int64_t>("counted").at(0));
  EXPECT_EQ(r.correct, rc.f.read<int64_t>("correct").at(0));

  const int N = rc.B * rc.T, E = cfg.n_experts, K = cfg.top_k;
  for (int n = 0; n < N; n++)
    ASSERT_EQ(model.token_valid()[n], rc.tokens[n] != kPadToken ? 1 : 0) << "token_valid row " << n;
  for (int l = 0; l < cfg.moe_layers(); l++) {
    std::vector<float> probs = rc.f.read<float>("gate_probs/layer_" + std::to_string(l));  // (N, E)
    std::vector<int32_t> topk = rc.f.read<int32_t>("topk/layer_" + std::to_string(l));    // (N, K)
    ASSERT_EQ(probs.size(), size_t(N) * E);
    ASSERT_EQ(topk.size(), size_t(N) * K);
    const float* got = model.gate_probs(l);
    const int32_t* got_k = model.topk_experts(l);
    for (int n = 0; n < N; n++) {
      for (int e = 0; e < E; e++)
        ASSERT_NEAR(got[n * E + e], probs[n * E + e], 1e-5)
            << "gate prob layer " << l << " row " << n << " expert " << e;
      for (int k = 0; k < K; k++)
        ASSERT_EQ(got_k[n * K + k], topk[n * K + k]) << "top-k layer " << l << " row " << n << " slot " << k;
    }
  }

  // Every gradient, named, so a failure says which tensor (and layer, expert) is off.
  const double grad_tol = 1e-4;
  double worst = 0;
  std::string worst_name;
  for (const ParamInfo& p : model.table().tensors()) {
    std::vector<float> ref = rc.f.read<float>("grad/" + p.name);
    ASSERT_EQ(ref.size(), p.numel()) << p.name;
    double err = rel_err(model.grads() + p.offset, ref.data(), p.numel());
    EXPECT_LE(err, grad_tol) << "gradient of " << p.name << ": ||g - ref|| / ||ref|| = " << err;
    if (err > worst) {
      worst = err;
      worst_name = p.name;
    }
  }
  std::printf("[ parity ] %s: loss %.7f (ref %.7f), worst gradient %s at %.2e (fp32 reference %.2e)\n",
              name, r.loss, rc.scalar("loss"), worst_name.c_str(), worst,
              rc.f.attr_double("/", "fp32_max_grad_rel_err"));

  if (!rc.trainable.empty()) {
    for (int l = 0; l < cfg.moe_layers(); l++)
      for (int e = 0; e < E; e++) {
        if (rc.trainable[size_t(l) * E + e]) continue;
        Range blk = model.table().expert_block(l, e);
        for (size_t i = blk.begin; i < blk.end; i++)
          ASSERT_EQ(model.grads()[i], 0.0f) << "frozen expert (" << l << ", " << e << ") has a gradient";
      }
  }
}

class ModelParity : public ::testing::TestWithParam<const char*> {};

TEST_P(ModelParity, ForwardBackwardMatchesPyTorch) {
  RefCase rc(GetParam());
  CpuOps ops;
  Model model(rc.cfg, rc.task, ops, rc.B, rc.T);
  load_params(model, rc.f, "model/");
  if (HasFatalFailure()) return;
  expect_parity(model, rc, GetParam());
}

// A family's tiny Hugging Face folder (tests/data/hf/<family>, tests/ref/make_hf_folders.py:
// config.json and safetensors in the family's own keys and names) imported as `train
// --train.init_hf` and `export --export.import` read it: the config maps to the case's model,
// every tensor arrives bit for bit, and the imported model's loss and gradients match the
// float64 reference.
struct HfFolderCase {
  const char* folder;  // under tests/data/hf
  const char* family;
  const char* ref_case;
};
class HfFolderParity : public ::testing::TestWithParam<HfFolderCase> {};

TEST_P(HfFolderParity, ImportedFolderMatchesPyTorch) {
  const HfFolderCase& c = GetParam();
  RefCase rc(c.ref_case);
  const std::string dir = HFEDMOE_SOURCE_DIR "/tests/data/hf/" + std::string(c.folder);
  ModelConfig cfg = hf_folder_config(dir, "byte260");
  EXPECT_EQ(cfg.hf_family, c.family);
  EXPECT_EQ(cfg.tokenizer, "byte260");
  cfg.preset = rc.cfg.preset;
  cfg.hf_family = rc.cfg.hf_family;
  EXPECT_EQ(ModelOptions::ini_of(cfg), ModelOptions::ini_of(rc.cfg)) << "config.json maps to another model";
  CpuOps ops;
  Model model(rc.cfg, rc.task, ops, rc.B, rc.T);
  ModelConfig family_cfg = rc.cfg;
  family_cfg.hf_family = c.family;
  std::vector<float> imported(model.table().total());
  load_hf_folder_weights(dir, ParamTable(family_cfg), imported.data());
  std::vector<std::string> names;
  list_datasets(rc.f, "model/", "", names);
  for (const std::string& n : names) {
    const ParamInfo* p = model.table().find(n);
    ASSERT_TRUE(p) << n;
    std::vector<float> want = rc.f.read<float>("model/" + n);
    ASSERT_EQ(0, std::memcmp(want.data(), imported.data() + p->offset, p->numel() * sizeof(float))) << n;
  }
  model.load_params(imported.data());
  expect_parity(model, rc, c.family);
}

INSTANTIATE_TEST_SUITE_P(Families, HfFolderParity,
                         ::testing::Values(HfFolderCase{"mixtral", "mixtral", "lm_gqa"},
                                           HfFolderCase{"qwen2_moe", "qwen2_moe", "lm_qwen2_moe"},
                                           HfFolderCase{"olmoe", "olmoe", "lm_olmoe"},
                                           HfFolderCase{"deepseek", "deepseek", "lm_deepseek"},
                                           HfFolderCase{"deepseek_dense", "deepseek", "lm_deepseek_dense"}),
                         [](const ::testing::TestParamInfo<HfFolderCase>& i) { return std::string(i.param.folder); });

// 10 steps of AdamW over the whole arena on one batch: the losses (taken before each step)
// and the final weights against torch.optim.AdamW with the same hyper-parameters.
TEST(ModelParityAdamW, TenStepsMatchPyTorch) {
  RefCase rc("lm_gqa");
  CpuOps ops;
  Model model(rc.cfg, rc.task, ops, rc.B, rc.T);
  load_params(model, rc.f, "model/");
  if (HasFatalFailure()) return;
  AdamWConfig oc;
  oc.beta1 = static_cast<float>(rc.f.attr_double("adamw", "beta1"));
  oc.beta2 = static_cast<float>(rc.f.attr_double("adamw", "beta2"));
  oc.eps = static_cast<float>(rc.f.attr_double("adamw", "eps"));
  oc.weight_decay = static_cast<float>(rc.f.attr_double("adamw", "weight_decay"));
  const float lr = static_cast<float>(rc.f.attr_double("adamw", "lr"));
  AdamW opt(model.table(), ops, oc);
  const std::vector<Range> everything{{0, model.table().total()}};
  const std::vector<double> ref = rc.f.read<double>("adamw/losses");
  for (size_t i = 0; i < ref.size(); i++) {
    ForwardResult r = model.forward(rc.batch(), rc.control());
    model.backward();
    opt.step(model.params(), model.grads(), everything, lr);
    EXPECT_NEAR(r.loss, ref[i], 1e-4 * ref[i]) << "AdamW step " << i;
  }
  for (const ParamInfo& p : model.table().tensors()) {
    std::vector<float> want = rc.f.read<float>("adamw/model/" + p.name);
    ASSERT_EQ(want.size(), p.numel()) << p.name;
    double err = rel_err(model.params() + p.offset, want.data(), p.numel());
    EXPECT_LE(err, 1e-5) << "weights of " << p.name << " after " << ref.size() << " AdamW steps: " << err;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ModelParity,
                         ::testing::Values("lm_gqa", "lm_tied_aux", "cls_pad", "lm_routable", "lm_frozen", "lm_lora",
                                           "lm_qwen2_moe", "lm_olmoe", "lm_deepseek", "lm_deepseek_dense",
                                           "lm_features_lora"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

}  // namespace
}  // namespace hf
