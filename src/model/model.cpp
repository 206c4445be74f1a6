// The MoE transformer (Mixtral semantics) written against the op interface.
//
//   x0 = tok_emb[tokens]
//   per layer l:  h = x + wo · attn(rope(qn(wq · rmsnorm(x) + bq)), rope(kn(wk · .. + bk)), wv · .. + bv)
//                 x = h + moe(rmsnorm(h)) + shared(rmsnorm(h))      a MoE layer
//                 x = h + mlp(rmsnorm(h))                           a dense layer (l < model.first_k_dense)
//   lm:        logits = lm_head · rmsnorm(x_L)   (lm_head = tok_emb when tied)
//   classify:  logits = cls_w · mean_valid(rmsnorm(x_L)) + cls_b
//
// moe(x) = sum_k w_k expert_{i_k}(x), expert(x) = w2 (silu(w1 x) * (w3 x)), with i_k the top-k
// of G = softmax(router · x) (among routable experts) and w_k = G_{i_k} / sum_j G_{i_j}
// (w_k = G_{i_k} without model.norm_topk_prob).
//
// Family features, each off by default: biases bq bk bv (model.qkv_bias, Qwen2); qn, kn an
// RMSNorm over the whole q and k projections (model.qk_norm, OLMoE); shared(x) the shared
// experts every token passes through, one SwiGLU of FS = model.shared_ff() (DeepSeekMoE), scaled
// per token by sigmoid(ws_gate · x) with model.shared_gate (Qwen2-MoE); mlp(x) a dense layer's
// SwiGLU of FD = model.dense_ff() (DeepSeekMoE's first_k_dense_replace), the shared experts'
// maths without their gate. Every routing buffer and routing-facing index counts the LM MoE
// layers only: MoE layer m is model layer first_k_dense + m.
//
// Load-balancing loss (cfg.aux_loss_coef > 0), per MoE layer l over the V_t valid tokens:
//   aux = coef * (1/LM) * sum_l E * sum_e f_{l,e} * P_{l,e}
//   f_{l,e} = (top-k assignments of valid tokens to e) / V_t   (no gradient)
//   P_{l,e} = mean over valid tokens of G_e
// HF's Mixtral concatenates all layers' logits and computes one E * sum f P over them; the
// per-layer mean differs from it by how f and P pair up across layers. We keep the per-layer
// form on purpose: each layer's router is balanced against its own assignments.
//
// LoRA (cfg.lora.enabled()): every linear W of the kinds wq wk wv wo w1 w3 w2 is read from the
// frozen base (model/frozen_base.h) and, where targeted, adds its adapter's branch:
// W x + (alpha / r) B (A x). The base gets no gradient; its input gradient flows as before.
// The arena then holds the adapters, embeddings, norms, routers and heads (model/params.h).
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/frozen_base.h"
#include "model/lora_init.h"
#include "model/tokenizer.h"
#include "ops/ops.h"
#include "util/check.h"
#include "util/rng.h"

namespace hf {

struct Model::Impl {
  Ops& ops;
  const ParamTable& table;
  ModelConfig cfg;
  Task task;
  int max_B, max_T;
  size_t maxN, maxA;  // max_B * max_T tokens; maxN * K assignments

  float* params;  // (P)
  float* grads;   // (P)

  // Activations kept for backward; each per-layer buffer is strided by its maximum size.
  float* resid;       // (L + 1, N, C) the residual stream entering each block, then the last
  float* ln1;         // (L, N, C)
  float* rstd1;       // (L, N)
  float* q;           // (L, N, NH * HS) after RoPE
  float* k;           // (L, N, NKV * HS) after RoPE
  float* q_pre = nullptr;       // (L, N, NH * HS) before the q norm (qk_norm only)
  float* k_pre = nullptr;       // (L, N, NKV * HS) before the k norm (qk_norm only)
  float* rstdq = nullptr;       // (L, N) (qk_norm only)
  float* rstdk = nullptr;       // (L, N) (qk_norm only)
  float* v;           // (L, N, NKV * HS)
  float* att;         // (L, B, NH, T, T) attention probabilities
  float* atty;        // (L, N, NH * HS)
  float* h;           // (L, N, C) after the attention residual
  float* ln2;         // (L, N, C)
  float* rstd2;       // (L, N)
  // The routing buffers are per MoE layer m (LM of them).
  float* probs;       // (LM, N, E)
  int32_t* topk_idx;  // (LM, N, K)
  float* topk_w;      // (LM, N, K)
  int32_t* perm;      // (LM, A) assignment of each expert-sorted row
  int32_t* pos;       // (LM, A) sorted row of each assignment, -1 if dropped
  float* xs;          // (LM, A, C) expert inputs, sorted by expert
  float* h1;          // (LM, A, F)
  float* h3;          // (LM, A, F)
  float* act;         // (LM, A, F) silu(h1) * h3
  float* ys;          // (LM, A, C) expert outputs
  // The always-on SwiGLU of each layer that has one (the shared experts of a MoE layer, FS wide;
  // a dense layer's MLP, FD wide), at mlp_at[l] * maxN; mlp_width[l] 0 = none.
  float* sh1 = nullptr;         // (N, mlp_width[l]) per layer
  float* sh3 = nullptr;         // (N, mlp_width[l])
  float* sact = nullptr;        // (N, mlp_width[l]) silu(sh1) * sh3
  std::vector<size_t> mlp_width, mlp_at;  // (L) FS, FD or 0; sum of the widths before l
  float* sy = nullptr;          // (LM, N, C) shared output before its gate (shared_gate only)
  float* sgate = nullptr;       // (LM, N) gate logits (shared_gate only)
  float* ones = nullptr;        // (N) 1.0: a bias as a GEMM with IC = 1 over the frozen base (qkv_bias with LoRA)
  float* lnf;         // (N, C)
  float* rstdf;       // (N)
  float* pooled;      // (B, C) classify only
  float* logits;      // (N, V) lm, (B, NC) classify
  float* losses;      // (N)
  int32_t* correct;   // (N)
  int32_t* tokens;    // (N)
  int32_t* targets;   // (N) lm targets or (B) class labels
  uint8_t* valid;     // (N) 1 = not a pad token
  uint8_t* routable;  // (LM, E)
  float* rlogits;     // (N, E) forward scratch

  // Backward scratch, reused by every layer.
  float* dres;      // (N, C) d(loss)/d(residual stream)
  float* dln;       // (N, C)
  float* dq;        // (N, NH * HS)
  float* dk;        // (N, NKV * HS)
  float* dv;        // (N, NKV * HS)
  float* datty;     // (N, NH * HS)
  float* datt;      // (B, NH, T, T)
  float* drlogits;  // (N, E)
  float* dtopk_w;   // (N, K)
  float* dxs;       // (A, C)
  float* dh1;       // (A, F)
  float* dh3;       // (A, F)
  float* dact;      // (A, F)
  float* dys;       // (A, C)
  float* dq_pre = nullptr;    // (N, NH * HS) qk_norm only
  float* dk_pre = nullptr;    // (N, NKV * HS) qk_norm only
  float* dsy = nullptr;       // (N, C) shared_gate only
  float* dsgate = nullptr;    // (N) shared_gate only
  float* dsact = nullptr;     // (N, max mlp_width) shared experts or dense layers only
  float* dsh1 = nullptr;      // (N, max mlp_width)
  float* dsh3 = nullptr;      // (N, max mlp_width)
  float* dlogits;   // (N, V) or (B, NC)
  float* dpooled;   // (B, C)

  // LoRA only (null otherwise): the frozen base, each adapter's A x kept for backward, and scratch.
  std::unique_ptr<ParamTable> full_table;  // the model without adapters: the layout load_base() reads
  std::unique_ptr<FrozenBase> base;
  // by base kind: (L, N, r) for wq wk wv wo, (LM, N, r) for ws1 ws3 ws2, (LM, A, r) for w1 w3 w2,
  // (first_k_dense, N, r) for wm1 wm3 wm2
  float* lora_ax[kParamKinds] = {};
  float* lora_dax = nullptr;         // (A, r) backward scratch
  float* frozen_scratch = nullptr;   // (kFrozenTileRows, max(C, F, NH * HS)) one dequantised tile

  // Host mirrors for a device backend (empty on a host backend), filled on demand.
  std::vector<float> params_mirror, grads_mirror;  // (P)
  std::vector<float> probs_mirror;                 // (LM, N, E)
  std::vector<int32_t> topk_mirror;                // (LM, N, K)
  std::vector<float> logits_mirror;                // (N, V) or (B, NC)
  bool routing_mirrored = false, logits_mirrored = false;  // since the last forward

  // Host state of the last forward.
  std::vector<int32_t> offsets;      // (LM, E + 1) expert row ranges
  std::vector<uint8_t> valid_host;   // (N)
  std::vector<uint8_t> trainable;    // (LM, E), empty = all trainable
  std::vector<float> aux_f, aux_pbar;   // (LM, E)
  std::vector<float> aux_dprobs;     // (LM, E)
  std::vector<float> losses_host;    // (N)
  std::vector<int32_t> correct_host; // (N)
  bool use_routable = false;
  int B = 0, T = 0;
  int64_t counted = 0, valid_count = 0;
  bool have_forward = false;
  double fwd_flops = 0, bwd_flops = 0;

  std::vector<void*> owned;
  size_t owned_bytes = 0;

  Impl(Ops& o, const ParamTable& t, Task task_, int mb, int mt)
      : ops(o), table(t), cfg(t.config()), task(task_), max_B(mb), max_T(mt) {}
  ~Impl() {
    for (void* p : owned) ops.free(p);
  }
  template <typename T_>
  T_* alloc(size_t n) {
    void* p = ops.alloc(n * sizeof(T_));
    owned.push_back(p);
    owned_bytes += n * sizeof(T_);
    return static_cast<T_*>(p);
  }
  float* P(ParamKind kind, int layer = -1, int expert = -1) { return params + table.get(kind, layer, expert).offset; }
  float* G(ParamKind kind, int layer = -1, int expert = -1) { return grads + table.get(kind, layer, expert).offset; }
  float* head_w() { return cfg.tie_embeddings ? P(ParamKind::tok_emb) : P(ParamKind::lm_head); }
  float* head_g() { return cfg.tie_embeddings ? G(ParamKind::tok_emb) : G(ParamKind::lm_head); }
  bool adapted(ParamKind kind) const { return cfg.lora.enabled() && (cfg.lora.targets & lora_target_bit(kind)); }
  static bool routed_expert_kind(ParamKind kind) {
    return kind == ParamKind::w1 || kind == ParamKind::w3 || kind == ParamKind::w2;
  }
  static bool moe_layer_kind(ParamKind kind) {
    return routed_expert_kind(kind) || kind == ParamKind::ws1 || kind == ParamKind::ws3 || kind == ParamKind::ws2;
  }
  // How many layers keep kind's A x: the MoE layers' kinds one per MoE layer, the dense MLP's
  // one per dense layer, attention's one per layer.
  size_t ax_layers(ParamKind kind) const {
    if (moe_layer_kind(kind)) return cfg.moe_layers();
    if (kind == ParamKind::wm1 || kind == ParamKind::wm3 || kind == ParamKind::wm2) return cfg.first_k_dense;
    return cfg.n_layers;
  }
  // A x of kind's adapter in layer l (rows of the layer's N or A, r wide).
  float* ax_of(ParamKind kind, int l) {
    const size_t slot = moe_layer_kind(kind) ? l - cfg.first_k_dense : l;
    return lora_ax[static_cast<int>(kind)] + slot * (routed_expert_kind(kind) ? maxA : maxN) * cfg.lora.rank;
  }
  // The bias of a linear kind (bq, bk, bv with model.qkv_bias), or none.
  bool has_bias(ParamKind kind) const {
    return cfg.qkv_bias && (kind == ParamKind::wq || kind == ParamKind::wk || kind == ParamKind::wv);
  }
  static ParamKind bias_kind(ParamKind kind) {
    return kind == ParamKind::wq ? ParamKind::bq : kind == ParamKind::wk ? ParamKind::bk : ParamKind::bv;
  }
  // The dense linear `kind` of layer l: out (rows, OC) = inp (rows, IC) · W^T ("+=" when
  // accumulate), plus its adapter's branch; backward gives dinp and the trained weights' gradients.
  void dense_forward(ParamKind kind, int l, float* out, const float* inp, int rows, int IC, int OC, bool accumulate);
  void dense_backward(ParamKind kind, int l, float* dinp, const float* dout, const float* inp, int rows, int IC,
                      int OC);
  // The same for every expert's `kind` over its rows [off[e], off[e+1]) of the sorted buffer;
  // frozen experts (train_l[e] == 0) get no weight or adapter gradient.
  void experts_forward(ParamKind kind, int l, float* out, const float* inp, const int32_t* off, int IC, int OC);
  void experts_backward(ParamKind kind, int l, float* dinp, const float* dout, const float* inp, const int32_t* off,
                        const uint8_t* train_l, int IC, int OC);
  // Forward FLOPs of layer l's adapters over N token rows and M expert rows: 2 r (IC + OC) a row.
  double adapter_flops(int l, int N, int M) const {
    const double r = cfg.lora.rank, C = cfg.d_model, F = cfg.d_ff;
    const double QC = cfg.n_heads * cfg.head_size();
    const double KVC = cfg.n_kv_heads * cfg.head_size();
    double f = 0;
    if (adapted(ParamKind::wq)) f += 2 * r * N * (C + QC);
    if (adapted(ParamKind::wk)) f += 2 * r * N * (C + KVC);
    if (adapted(ParamKind::wv)) f += 2 * r * N * (C + KVC);
    if (adapted(ParamKind::wo)) f += 2 * r * N * (QC + C);
    if (!cfg.is_dense_layer(l))
      for (ParamKind k : {ParamKind::w1, ParamKind::w3, ParamKind::w2})
        if (adapted(k)) f += 2 * r * M * (C + F);
    const MlpKinds mk = mlp_kinds(l);
    for (ParamKind k : {mk.w1, mk.w3, mk.w2})
      if (mlp_width[l] > 0 && adapted(k)) f += 2 * r * N * (C + mlp_width[l]);
    return f;
  }

  void forward_block(int l);
  void backward_block(int l);
  // The routed experts of (model) layer l on ln2 (N, C): out (N, C) += moe(ln2), keeping the routing.
  // Returns the rows routed to experts (M).
  int moe_forward(int l, float* out, const float* ln2_l);
  int moe_backward(int l);  // from dres (N, C) into dln; returns M
  // The always-on SwiGLU of layer l on ln2 (N, C) (the shared experts, or a dense layer's MLP):
  // out (N, C) += mlp(ln2); backward adds d/d(ln2) into dln_ and the weights' gradients, from dout (N, C).
  struct MlpKinds {
    ParamKind w1, w3, w2;
  };
  MlpKinds mlp_kinds(int l) const {
    if (cfg.is_dense_layer(l)) return {ParamKind::wm1, ParamKind::wm3, ParamKind::wm2};
    return {ParamKind::ws1, ParamKind::ws3, ParamKind::ws2};
  }
  bool gated_mlp(int l) const { return cfg.shared_gate && !cfg.is_dense_layer(l); }
  void mlp_forward(int l, float* out, const float* ln2_l);
  void mlp_backward(int l, float* dln_, const float* dout, const float* ln2_l);
  void mirror_routing();
  // arena (P) on the host: itself on a host backend, else downloaded into mirror.
  const float* host_view(const float* arena, std::vector<float>& mirror);
  void check_layer(const char* what, int layer) const {
    HF_CHECK(layer >= 0 && layer < cfg.moe_layers() && have_forward, "%s(%d) needs a forward() and a MoE layer < %d",
             what, layer, cfg.moe_layers());
  }
};

Model::Model(const ModelConfig& cfg, Task task, Ops& ops, int max_B, int max_T) : table_(cfg), task_(task) {
  if (max_B <= 0 || max_T <= 0) fail(strf("batch shape %d x %d is empty", max_B, max_T), "use a positive batch size and length");
  if (max_T > cfg.seq_len)
    fail(strf("sequence length %d exceeds model.seq_len=%d", max_T, cfg.seq_len), "shorten the sequences or raise model.seq_len");
  if (task == Task::classify && cfg.n_classes <= 0)
    fail("the classification task needs model.n_classes > 0", "set model.n_classes to the number of labels");
  impl_ = std::make_unique<Impl>(ops, table_, task, max_B, max_T);
  Impl& m = *impl_;
  const size_t L = cfg.n_layers, C = cfg.d_model, HS = cfg.head_size();
  const size_t QC = cfg.n_heads * HS, KVC = cfg.n_kv_heads * HS, E = cfg.n_experts, K = cfg.top_k;
  const size_t F = cfg.d_ff, V = cfg.vocab_size, NH = cfg.n_heads, FS = cfg.shared_ff(), FD = cfg.dense_ff();
  const size_t LM = cfg.moe_layers();
  const size_t N = static_cast<size_t>(max_B) * max_T, A = N * K, TT = static_cast<size_t>(max_T) * max_T;
  const size_t NC = cfg.n_classes;
  m.maxN = N;
  m.maxA = A;
  m.params = m.alloc<float>(table_.total());
  m.grads = m.alloc<float>(table_.total());
  m.resid = m.alloc<float>((L + 1) * N * C);
  m.ln1 = m.alloc<float>(L * N * C);
  m.rstd1 = m.alloc<float>(L * N);
  m.q = m.alloc<float>(L * N * QC);
  m.k = m.alloc<float>(L * N * KVC);
  m.v = m.alloc<float>(L * N * KVC);
  m.att = m.alloc<float>(L * max_B * NH * TT);
  m.atty = m.alloc<float>(L * N * QC);
  m.h = m.alloc<float>(L * N * C);
  m.ln2 = m.alloc<float>(L * N * C);
  m.rstd2 = m.alloc<float>(L * N);
  m.probs = m.alloc<float>(LM * N * E);
  m.topk_idx = m.alloc<int32_t>(LM * N * K);
  m.topk_w = m.alloc<float>(LM * N * K);
  m.perm = m.alloc<int32_t>(LM * A);
  m.pos = m.alloc<int32_t>(LM * A);
  m.xs = m.alloc<float>(LM * A * C);
  m.h1 = m.alloc<float>(LM * A * F);
  m.h3 = m.alloc<float>(LM * A * F);
  m.act = m.alloc<float>(LM * A * F);
  m.ys = m.alloc<float>(LM * A * C);
  m.lnf = m.alloc<float>(N * C);
  m.rstdf = m.alloc<float>(N);
  m.pooled = m.alloc<float>(max_B * C);
  size_t logit_rows = task == Task::lm ? N : max_B, logit_cols = task == Task::lm ? V : NC;
  m.logits = m.alloc<float>(logit_rows * logit_cols);
  m.losses = m.alloc<float>(N);
  m.correct = m.alloc<int32_t>(N);
  m.tokens = m.alloc<int32_t>(N);
  m.targets = m.alloc<int32_t>(N);
  m.valid = m.alloc<uint8_t>(N);
  m.routable = m.alloc<uint8_t>(LM * E);
  m.rlogits = m.alloc<float>(N * E);
  m.dres = m.alloc<float>(N * C);
  m.dln = m.alloc<float>(N * C);
  m.dq = m.alloc<float>(N * QC);
  m.dk = m.alloc<float>(N * KVC);
  m.dv = m.alloc<float>(N * KVC);
  m.datty = m.alloc<float>(N * QC);
  m.datt = m.alloc<float>(max_B * NH * TT);
  m.drlogits = m.alloc<float>(N * E);
  m.dtopk_w = m.alloc<float>(N * K);
  m.dxs = m.alloc<float>(A * C);
  m.dh1 = m.alloc<float>(A * F);
  m.dh3 = m.alloc<float>(A * F);
  m.dact = m.alloc<float>(A * F);
  m.dys = m.alloc<float>(A * C);
  m.dlogits = m.alloc<float>(logit_rows * logit_cols);
  m.dpooled = m.alloc<float>(max_B * C);
  if (cfg.qk_norm) {
    m.q_pre = m.alloc<float>(L * N * QC);
    m.k_pre = m.alloc<float>(L * N * KVC);
    m.rstdq = m.alloc<float>(L * N);
    m.rstdk = m.alloc<float>(L * N);
    m.dq_pre = m.alloc<float>(N * QC);
    m.dk_pre = m.alloc<float>(N * KVC);
  }
  size_t widths = 0, widest = 0;
  for (int l = 0; l < cfg.n_layers; l++) {
    m.mlp_width.push_back(cfg.is_dense_layer(l) ? FD : FS);
    m.mlp_at.push_back(widths);
    widths += m.mlp_width.back();
    widest = std::max(widest, m.mlp_width.back());
  }
  if (widths > 0) {
    m.sh1 = m.alloc<float>(N * widths);
    m.sh3 = m.alloc<float>(N * widths);
    m.sact = m.alloc<float>(N * widths);
    m.dsact = m.alloc<float>(N * widest);
    m.dsh1 = m.alloc<float>(N * widest);
    m.dsh3 = m.alloc<float>(N * widest);
  }
  if (cfg.shared_gate) {
    m.sy = m.alloc<float>(LM * N * C);
    m.sgate = m.alloc<float>(LM * N);
    m.dsy = m.alloc<float>(N * C);
    m.dsgate = m.alloc<float>(N);
  }
  if (cfg.qkv_bias && cfg.lora.enabled()) {
    m.ones = m.alloc<float>(N);
    const std::vector<float> ones(N, 1.0f);
    ops.upload(m.ones, ones.data(), N * sizeof(float));
  }
  if (cfg.lora.enabled()) {
    ModelConfig full = cfg;
    full.lora = LoraConfig{};
    m.full_table = std::make_unique<ParamTable>(full);
    m.base = std::make_unique<FrozenBase>(ops, *m.full_table, cfg.lora.base_dtype);
    const size_t r = cfg.lora.rank;
    std::vector<ParamKind> linear_kinds = {ParamKind::wq, ParamKind::wk, ParamKind::wv, ParamKind::wo,
                                           ParamKind::w1, ParamKind::w3, ParamKind::w2};
    if (FS > 0) linear_kinds.insert(linear_kinds.end(), {ParamKind::ws1, ParamKind::ws3, ParamKind::ws2});
    if (cfg.first_k_dense > 0) linear_kinds.insert(linear_kinds.end(), {ParamKind::wm1, ParamKind::wm3, ParamKind::wm2});
    for (ParamKind kind : linear_kinds)
      if (m.adapted(kind))
        m.lora_ax[static_cast<int>(kind)] =
            m.alloc<float>(m.ax_layers(kind) * (Impl::routed_expert_kind(kind) ? A : N) * r);
    m.lora_dax = m.alloc<float>(A * r);
    m.frozen_scratch = m.alloc<float>(static_cast<size_t>(kFrozenTileRows) * std::max({C, F, QC, widest}));
  }
  m.offsets.assign(LM * (E + 1), 0);
  m.valid_host.assign(N, 0);
  m.aux_f.assign(LM * E, 0);
  m.aux_pbar.assign(LM * E, 0);
  m.aux_dprobs.assign(LM * E, 0);
  m.losses_host.assign(N, 0);
  m.correct_host.assign(N, 0);
  m.trainable.reserve(LM * E);
  if (!ops.host_memory()) {  // the P-sized params/grads mirrors on first use: a server never needs grads'
    m.probs_mirror.resize(LM * N * E);
    m.topk_mirror.resize(LM * N * K);
    m.logits_mirror.resize(logit_rows * logit_cols);
  }
}

Model::~Model() = default;

float* Model::params() { return impl_->params; }
float* Model::grads() { return impl_->grads; }

const float* Model::Impl::host_view(const float* arena, std::vector<float>& mirror) {
  if (ops.host_memory()) return arena;
  mirror.resize(table.total());
  ops.download(mirror.data(), arena, mirror.size() * sizeof(float));
  return mirror.data();
}

const float* Model::params_on_host() { return impl_->host_view(impl_->params, impl_->params_mirror); }
const float* Model::grads_on_host() { return impl_->host_view(impl_->grads, impl_->grads_mirror); }

const float* Model::params_on_host(const std::vector<Range>& ranges) {
  Impl& m = *impl_;
  if (m.ops.host_memory()) return m.params;
  m.params_mirror.resize(table_.total());
  for (const Range& r : ranges)
    m.ops.download(m.params_mirror.data() + r.begin, m.params + r.begin, r.size() * sizeof(float));
  return m.params_mirror.data();
}

void Model::load_params(const float* host) {
  Impl& m = *impl_;
  if (host != m.params) m.ops.upload(m.params, host, table_.total() * sizeof(float));
}

std::vector<float> initial_weights(const ParamTable& full, uint64_t seed) {
  const float resid_scale = 1.0f / std::sqrt(2.0f * full.config().n_layers);
  std::vector<float> host(full.total());
  const auto& tensors = full.tensors();
  for (size_t i = 0; i < tensors.size(); i++) {
    const ParamInfo& p = tensors[i];
    float* w = host.data() + p.offset;
    size_t n = p.numel();
    switch (p.kind) {
      case ParamKind::attn_norm:
      case ParamKind::ffn_norm:
      case ParamKind::final_norm:
      case ParamKind::q_norm:
      case ParamKind::k_norm:
        std::fill(w, w + n, 1.0f);
        break;
      case ParamKind::cls_b:
      case ParamKind::bq:
      case ParamKind::bk:
      case ParamKind::bv:
        std::fill(w, w + n, 0.0f);
        break;
      default: {
        Rng rng(seed, Purpose::init, i);
        const bool residual_out =
            p.kind == ParamKind::wo || p.kind == ParamKind::w2 || p.kind == ParamKind::ws2 || p.kind == ParamKind::wm2;
        float std = 0.02f * (residual_out ? resid_scale : 1.0f);
        for (size_t j = 0; j < n; j++) w[j] = static_cast<float>(rng.normal()) * std;
      }
    }
  }
  return host;
}

void Model::init_weights(uint64_t seed) {
  Impl& m = *impl_;
  if (!config().lora.enabled()) {
    std::vector<float> host = initial_weights(table_, seed);
    m.ops.upload(m.params, host.data(), host.size() * sizeof(float));
    return;
  }
  // The base is the model without adapters from the same seed; A as PEFT draws it, B zero.
  load_base(initial_weights(*m.full_table, seed).data());
  std::vector<float> host(params_on_host(), params_on_host() + table_.total());
  for (size_t i = 0; i < table_.tensors().size(); i++) {
    const ParamInfo& p = table_.tensors()[i];
    if (is_lora_a(p.kind))
      init_lora_a(host.data() + p.offset, static_cast<int>(p.shape[0]), static_cast<int>(p.shape[1]), seed, i);
    if (is_lora_b(p.kind)) std::fill(host.begin() + p.offset, host.begin() + p.offset + p.numel(), 0.0f);
  }
  load_params(host.data());
}

const ParamTable& Model::full_table() const { return impl_->full_table ? *impl_->full_table : table_; }

void Model::load_base(const float* full_host) {
  Impl& m = *impl_;
  HF_CHECK(m.base, "load_base() is for a model with LoRA adapters");
  m.base->load(full_host);
  // The tensors trained in full (embeddings, norms, routers, heads) move into the arena by name.
  std::vector<float> host(params_on_host(), params_on_host() + table_.total());
  for (const ParamInfo& p : table_.tensors()) {
    const ParamInfo* src = m.full_table->find(p.name);
    if (src) std::copy(full_host + src->offset, full_host + src->offset + p.numel(), host.begin() + p.offset);
  }
  load_params(host.data());
}

size_t Model::frozen_base_bytes() const { return impl_->base ? impl_->base->bytes() : 0; }

void Model::Impl::dense_forward(ParamKind kind, int l, float* out, const float* inp, int rows, int IC, int OC,
                                bool accumulate) {
  const float* bias = has_bias(kind) ? P(bias_kind(kind), l) : nullptr;  // (OC)
  if (!cfg.lora.enabled()) {
    ops.matmul_forward(out, inp, P(kind, l), bias, rows, IC, OC, accumulate);
    return;
  }
  ops.frozen_matmul_forward(out, inp, base->get(kind, l), frozen_scratch, rows, accumulate);
  if (bias) ops.matmul_forward(out, ones, bias, nullptr, rows, 1, OC, true);  // out += 1 · bias^T
  if (adapted(kind))
    ops.lora_forward(out, ax_of(kind, l), inp, P(lora_a_kind(kind), l), P(lora_b_kind(kind), l), rows, IC, OC,
                     cfg.lora.rank, cfg.lora.scale());
}

void Model::Impl::dense_backward(ParamKind kind, int l, float* dinp, const float* dout, const float* inp, int rows,
                                 int IC, int OC) {
  float* dbias = has_bias(kind) ? G(bias_kind(kind), l) : nullptr;  // (OC)
  if (!cfg.lora.enabled()) {
    ops.matmul_backward(dinp, G(kind, l), dbias, dout, inp, P(kind, l), rows, IC, OC);
    return;
  }
  ops.frozen_matmul_backward(dinp, dout, base->get(kind, l), frozen_scratch, rows);
  if (dbias) ops.matmul_backward(nullptr, dbias, nullptr, dout, ones, P(bias_kind(kind), l), rows, 1, OC);
  if (adapted(kind)) {
    const ParamKind a = lora_a_kind(kind), b = lora_b_kind(kind);
    ops.lora_backward(dinp, G(a, l), G(b, l), lora_dax, dout, inp, ax_of(kind, l), P(a, l), P(b, l), rows, IC, OC,
                      cfg.lora.rank, cfg.lora.scale());
  }
}

void Model::Impl::experts_forward(ParamKind kind, int l, float* out, const float* inp, const int32_t* off, int IC,
                                  int OC) {
  const int E = cfg.n_experts, r = cfg.lora.rank;
  if (!cfg.lora.enabled()) {
    ops.grouped_matmul_forward(out, inp, P(kind, l, 0), table.expert_block_size(), off, E, IC, OC);
    return;
  }
  for (int e = 0; e < E; e++) {
    const int rows = off[e + 1] - off[e];
    if (rows == 0) continue;
    const size_t r0 = off[e];
    ops.frozen_matmul_forward(out + r0 * OC, inp + r0 * IC, base->get(kind, l, e), frozen_scratch, rows, false);
    if (adapted(kind))
      ops.lora_forward(out + r0 * OC, ax_of(kind, l) + r0 * r, inp + r0 * IC, P(lora_a_kind(kind), l, e),
                       P(lora_b_kind(kind), l, e), rows, IC, OC, r, cfg.lora.scale());
  }
}

void Model::Impl::experts_backward(ParamKind kind, int l, float* dinp, const float* dout, const float* inp,
                                   const int32_t* off, const uint8_t* train_l, int IC, int OC) {
  const int E = cfg.n_experts, r = cfg.lora.rank;
  if (!cfg.lora.enabled()) {
    ops.grouped_matmul_backward(dinp, G(kind, l, 0), dout, inp, P(kind, l, 0), table.expert_block_size(), off,
                                train_l, E, IC, OC);
    return;
  }
  for (int e = 0; e < E; e++) {
    const int rows = off[e + 1] - off[e];
    if (rows == 0) continue;
    const size_t r0 = off[e];
    ops.frozen_matmul_backward(dinp + r0 * IC, dout + r0 * OC, base->get(kind, l, e), frozen_scratch, rows);
    if (!adapted(kind)) continue;
    const ParamKind a = lora_a_kind(kind), b = lora_b_kind(kind);
    const bool train = !train_l || train_l[e];
    ops.lora_backward(dinp + r0 * IC, train ? G(a, l, e) : nullptr, train ? G(b, l, e) : nullptr, lora_dax,
                      dout + r0 * OC, inp + r0 * IC, ax_of(kind, l) + r0 * r, P(a, l, e), P(b, l, e), rows, IC, OC, r,
                      cfg.lora.scale());
  }
}

void Model::Impl::mlp_forward(int l, float* out, const float* ln2_l) {
  const int N = B * T, C = cfg.d_model, W = static_cast<int>(mlp_width[l]);  // W: FS or FD
  const MlpKinds mk = mlp_kinds(l);
  float* sh1_l = sh1 + mlp_at[l] * maxN;    // (N, W)
  float* sh3_l = sh3 + mlp_at[l] * maxN;    // (N, W)
  float* sact_l = sact + mlp_at[l] * maxN;  // (N, W)
  dense_forward(mk.w1, l, sh1_l, ln2_l, N, C, W, false);
  dense_forward(mk.w3, l, sh3_l, ln2_l, N, C, W, false);
  ops.swiglu_forward(sact_l, sh1_l, sh3_l, N, W);
  if (!gated_mlp(l)) {
    dense_forward(mk.w2, l, out, sact_l, N, W, C, true);
    return;
  }
  const size_t m = l - cfg.first_k_dense;
  float* sy_l = sy + m * maxN * C;    // (N, C)
  float* sgate_l = sgate + m * maxN;  // (N)
  dense_forward(mk.w2, l, sy_l, sact_l, N, W, C, false);
  ops.matmul_forward(sgate_l, ln2_l, P(ParamKind::ws_gate, l), nullptr, N, C, 1, false);
  ops.sigmoid_gate_forward(out, sy_l, sgate_l, N, C);
}

void Model::Impl::mlp_backward(int l, float* dln_, const float* dout, const float* ln2_l) {
  const int N = B * T, C = cfg.d_model, W = static_cast<int>(mlp_width[l]);  // W: FS or FD
  const MlpKinds mk = mlp_kinds(l);
  const size_t fsz = sizeof(float);
  const float* dmlp = dout;  // (N, C) d/d(w2 · act)
  if (gated_mlp(l)) {
    const size_t m = l - cfg.first_k_dense;
    ops.zero(dsy, static_cast<size_t>(N) * C * fsz);
    ops.zero(dsgate, static_cast<size_t>(N) * fsz);
    ops.sigmoid_gate_backward(dsy, dsgate, dout, sy + m * maxN * C, sgate + m * maxN, N, C);
    ops.matmul_backward(dln_, G(ParamKind::ws_gate, l), nullptr, dsgate, ln2_l, P(ParamKind::ws_gate, l), N, C, 1);
    dmlp = dsy;
  }
  ops.zero(dsact, static_cast<size_t>(N) * W * fsz);
  dense_backward(mk.w2, l, dsact, dmlp, sact + mlp_at[l] * maxN, N, W, C);
  ops.zero(dsh1, static_cast<size_t>(N) * W * fsz);
  ops.zero(dsh3, static_cast<size_t>(N) * W * fsz);
  ops.swiglu_backward(dsh1, dsh3, dsact, sh1 + mlp_at[l] * maxN, sh3 + mlp_at[l] * maxN, N, W);
  dense_backward(mk.w1, l, dln_, dsh1, ln2_l, N, C, W);
  dense_backward(mk.w3, l, dln_, dsh3, ln2_l, N, C, W);
}

void Model::Impl::forward_block(int l) {
  const int N = B * T, C = cfg.d_model, HS = cfg.head_size(), NH = cfg.n_heads, NKV = cfg.n_kv_heads;
  const int QC = NH * HS, KVC = NKV * HS;
  const size_t nc = maxN * C;
  const float* x = resid + l * nc;  // (N, C)
  float* ln1_l = ln1 + l * nc;      // (N, C)
  float* q_l = q + l * maxN * QC;   // (N, QC)
  float* k_l = k + l * maxN * KVC;  // (N, KVC)
  float* v_l = v + l * maxN * KVC;  // (N, KVC)
  float* att_l = att + l * static_cast<size_t>(max_B) * NH * max_T * max_T;  // (B, NH, T, T)
  float* atty_l = atty + l * maxN * QC;  // (N, QC)
  float* h_l = h + l * nc;               // (N, C)
  float* ln2_l = ln2 + l * nc;           // (N, C)
  float* out = resid + (l + 1) * nc;     // (N, C)

  ops.rmsnorm_forward(ln1_l, rstd1 + l * maxN, x, P(ParamKind::attn_norm, l), N, C, cfg.rms_eps);
  if (cfg.qk_norm) {
    float* q_pre_l = q_pre + l * maxN * QC;   // (N, QC)
    float* k_pre_l = k_pre + l * maxN * KVC;  // (N, KVC)
    dense_forward(ParamKind::wq, l, q_pre_l, ln1_l, N, C, QC, false);
    dense_forward(ParamKind::wk, l, k_pre_l, ln1_l, N, C, KVC, false);
    ops.rmsnorm_forward(q_l, rstdq + l * maxN, q_pre_l, P(ParamKind::q_norm, l), N, QC, cfg.rms_eps);
    ops.rmsnorm_forward(k_l, rstdk + l * maxN, k_pre_l, P(ParamKind::k_norm, l), N, KVC, cfg.rms_eps);
  } else {
    dense_forward(ParamKind::wq, l, q_l, ln1_l, N, C, QC, false);
    dense_forward(ParamKind::wk, l, k_l, ln1_l, N, C, KVC, false);
  }
  dense_forward(ParamKind::wv, l, v_l, ln1_l, N, C, KVC, false);
  ops.rope_forward(q_l, B, T, NH, HS, cfg.rope_theta);
  ops.rope_forward(k_l, B, T, NKV, HS, cfg.rope_theta);
  ops.attention_forward(atty_l, att_l, q_l, k_l, v_l, B, T, NH, NKV, HS);
  ops.copy(h_l, x, static_cast<size_t>(N) * C * sizeof(float));
  dense_forward(ParamKind::wo, l, h_l, atty_l, N, QC, C, true);

  ops.rmsnorm_forward(ln2_l, rstd2 + l * maxN, h_l, P(ParamKind::ffn_norm, l), N, C, cfg.rms_eps);
  ops.copy(out, h_l, static_cast<size_t>(N) * C * sizeof(float));
  const double n = N;
  fwd_flops += 2 * n * C * (QC + 2 * KVC) + 2 * n * QC * C;
  fwd_flops += 4.0 * B * NH * T * T * HS;  // scores and weighted values, full T x T
  const int M = cfg.is_dense_layer(l) ? 0 : moe_forward(l, out, ln2_l);
  if (mlp_width[l] > 0) mlp_forward(l, out, ln2_l);
  fwd_flops += 6.0 * n * C * mlp_width[l] + (gated_mlp(l) ? 2.0 * n * C : 0.0);
  if (cfg.lora.enabled()) fwd_flops += adapter_flops(l, N, M);
}

int Model::Impl::moe_forward(int l, float* out, const float* ln2_l) {
  const int N = B * T, C = cfg.d_model, E = cfg.n_experts, K = cfg.top_k, F = cfg.d_ff;
  const size_t m = l - cfg.first_k_dense, ac = maxA * C, af = maxA * F;  // m: the MoE layer
  float* probs_l = probs + m * maxN * E;        // (N, E)
  int32_t* topk_l = topk_idx + m * maxN * K;    // (N, K)
  float* topkw_l = topk_w + m * maxN * K;       // (N, K)
  int32_t* perm_l = perm + m * maxA;            // (A)
  int32_t* pos_l = pos + m * maxA;              // (A)
  int32_t* off_l = offsets.data() + m * (E + 1);  // (E + 1) host
  float* xs_l = xs + m * ac;                    // (A, C)
  float* h1_l = h1 + m * af;                    // (A, F)
  float* h3_l = h3 + m * af;                    // (A, F)
  float* act_l = act + m * af;                  // (A, F)
  float* ys_l = ys + m * ac;                    // (A, C)

  ops.matmul_forward(rlogits, ln2_l, P(ParamKind::router, l), nullptr, N, C, E, false);
  ops.router_forward(probs_l, topk_l, topkw_l, rlogits, use_routable ? routable + m * E : nullptr, N, E, K,
                     cfg.norm_topk_prob);
  // Capacity counts all N = B*T rows: pad tokens are routed like any token (Mixtral has no
  // notion of padding in its MoE), and "token order" is row-major (b, t).
  int capacity = 0;
  if (cfg.capacity_factor > 0)
    capacity = static_cast<int>(std::ceil(static_cast<double>(cfg.capacity_factor) * N * K / E));
  ops.moe_dispatch(off_l, perm_l, pos_l, topk_l, N, K, E, capacity);
  const int M = off_l[E];
  ops.moe_gather(xs_l, ln2_l, perm_l, M, K, C);
  experts_forward(ParamKind::w1, l, h1_l, xs_l, off_l, C, F);
  experts_forward(ParamKind::w3, l, h3_l, xs_l, off_l, C, F);
  ops.swiglu_forward(act_l, h1_l, h3_l, M, F);
  experts_forward(ParamKind::w2, l, ys_l, act_l, off_l, F, C);
  ops.moe_scatter(out, ys_l, topkw_l, pos_l, N, K, C);
  fwd_flops += 2.0 * N * C * E + 6.0 * M * C * F;  // router; w1, w3, w2
  return M;
}

ForwardResult Model::forward(const Batch& batch, const ExpertControl& control) {
  Impl& m = *impl_;
  const ModelConfig& cfg = config();
  const int B = batch.B, T = batch.T, N = B * T, L = cfg.n_layers, E = cfg.n_experts, K = cfg.top_k;
  const int C = cfg.d_model, V = cfg.vocab_size, LM = cfg.moe_layers();
  if (B <= 0 || T <= 0 || B > m.max_B || T > m.max_T)
    fail(strf("batch shape %d x %d does not fit the model's workspace %d x %d", B, T, m.max_B, m.max_T),
         "build the model with a larger max batch/length or split the batch");
  HF_CHECK(batch.tokens != nullptr, "batch has no tokens");
  m.B = B;
  m.T = T;
  m.fwd_flops = 0;
  m.have_forward = false;
  m.routing_mirrored = m.logits_mirrored = false;

  // Inputs: check ids on the host, then hand them to the backend.
  m.valid_count = 0;
  for (int n = 0; n < N; n++) {
    int32_t t = batch.tokens[n];
    if (t < 0 || t >= V) fail(strf("token id %d at position %d is outside the vocabulary [0, %d)", t, n, V), "re-prepare the dataset with this model's tokenizer");
    m.valid_host[n] = t != batch.pad;
    m.valid_count += m.valid_host[n];
  }
  m.ops.upload(m.tokens, batch.tokens, N * sizeof(int32_t));
  m.ops.upload(m.valid, m.valid_host.data(), N);
  const int32_t* tg = task() == Task::lm ? batch.targets : batch.labels;
  const int rows = task() == Task::lm ? N : B, classes = task() == Task::lm ? V : cfg.n_classes;
  HF_CHECK(tg != nullptr, "batch has no %s", task() == Task::lm ? "targets" : "labels");
  m.counted = 0;
  for (int r = 0; r < rows; r++) {
    if (tg[r] < -1 || tg[r] >= classes)
      fail(strf("target %d at row %d is outside [-1, %d)", tg[r], r, classes), "check the dataset's labels against the model's vocabulary or n_classes");
    m.counted += tg[r] != -1;
  }
  m.ops.upload(m.targets, tg, rows * sizeof(int32_t));

  m.use_routable = control.routable != nullptr;
  if (m.use_routable) {
    for (int l = 0; l < LM; l++) {
      int allowed = 0;
      for (int e = 0; e < E; e++) allowed += control.routable[l * E + e] != 0;
      if (allowed < K)
        fail(strf("strict routing allows %d experts in MoE layer %d, fewer than top_k=%d", allowed, l, K),
             "give the client a budget of at least top_k experts per layer or use budget_mode=mask");
    }
    m.ops.upload(m.routable, control.routable, static_cast<size_t>(LM) * E);
  }
  m.trainable.clear();
  if (control.trainable) m.trainable.assign(control.trainable, control.trainable + static_cast<size_t>(LM) * E);

  m.ops.embedding_forward(m.resid, m.tokens, m.P(ParamKind::tok_emb), N, C);
  for (int l = 0; l < L; l++) m.forward_block(l);
  const float* xL = m.resid + L * m.maxN * C;  // (N, C)
  m.ops.rmsnorm_forward(m.lnf, m.rstdf, xL, m.P(ParamKind::final_norm), N, C, cfg.rms_eps);
  if (task() == Task::lm) {
    m.ops.matmul_forward(m.logits, m.lnf, m.head_w(), nullptr, N, C, V, false);
    m.fwd_flops += 2.0 * N * C * V;
  } else {
    m.ops.mean_pool_forward(m.pooled, m.lnf, m.valid, B, T, C);
    m.ops.matmul_forward(m.logits, m.pooled, m.P(ParamKind::cls_w), m.P(ParamKind::cls_b), B, C, classes, false);
    m.fwd_flops += 2.0 * B * C * classes;
  }
  m.ops.crossentropy_forward(m.losses, m.correct, m.logits, m.targets, rows, classes);
  m.ops.download(m.losses_host.data(), m.losses, rows * sizeof(float));
  m.ops.download(m.correct_host.data(), m.correct, rows * sizeof(int32_t));

  ForwardResult r;
  double sum = 0;
  for (int i = 0; i < rows; i++) {
    sum += m.losses_host[i];
    r.correct += m.correct_host[i];
  }
  r.counted = m.counted;
  r.task_loss = m.counted > 0 ? static_cast<float>(sum / m.counted) : 0.0f;

  double aux = 0;
  if (cfg.aux_loss_coef > 0) {
    for (int l = 0; l < LM; l++) {
      float* f = m.aux_f.data() + l * E;    // (E)
      float* pbar = m.aux_pbar.data() + l * E;  // (E)
      m.ops.router_stats(f, pbar, m.probs + l * m.maxN * E, m.topk_idx + l * m.maxN * K, m.valid, N, E, K);
      double s = 0;
      for (int e = 0; e < E; e++) s += static_cast<double>(f[e]) * pbar[e];
      aux += E * s;
      // d aux / d G[n][e] for a valid token n: coef / LM * E * f_e / valid tokens.
      for (int e = 0; e < E; e++)
        m.aux_dprobs[l * E + e] =
            m.valid_count > 0 ? static_cast<float>(cfg.aux_loss_coef / LM * E * f[e] / m.valid_count) : 0.0f;
    }
    aux *= static_cast<double>(cfg.aux_loss_coef) / LM;
  }
  r.loss = static_cast<float>(r.task_loss + aux);
  m.have_forward = true;
  return r;
}

int Model::Impl::moe_backward(int l) {
  const int N = B * T, C = cfg.d_model, E = cfg.n_experts, K = cfg.top_k, F = cfg.d_ff;
  const size_t m = l - cfg.first_k_dense, nc = maxN * C, ac = maxA * C, af = maxA * F;  // m: the MoE layer
  const int32_t* off_l = offsets.data() + m * (E + 1);  // (E + 1) host
  const int M = off_l[E];
  const uint8_t* train_l = trainable.empty() ? nullptr : trainable.data() + m * E;  // (E) host
  const int32_t* pos_l = pos + m * maxA;           // (A)
  const float* topkw_l = topk_w + m * maxN * K;    // (N, K)
  const float* ln2_l = ln2 + l * nc;               // (N, C)
  const float* xs_l = xs + m * ac;                 // (A, C)
  const float* ys_l = ys + m * ac;                 // (A, C)
  const float* act_l = act + m * af;               // (A, F)
  const size_t fsz = sizeof(float);

  ops.zero(dys, static_cast<size_t>(M) * C * fsz);
  ops.zero(dtopk_w, static_cast<size_t>(N) * K * fsz);
  ops.moe_scatter_backward(dys, dtopk_w, dres, ys_l, topkw_l, pos_l, N, K, C);
  ops.zero(dact, static_cast<size_t>(M) * F * fsz);
  experts_backward(ParamKind::w2, l, dact, dys, act_l, off_l, train_l, F, C);
  ops.zero(dh1, static_cast<size_t>(M) * F * fsz);
  ops.zero(dh3, static_cast<size_t>(M) * F * fsz);
  ops.swiglu_backward(dh1, dh3, dact, h1 + m * af, h3 + m * af, M, F);
  ops.zero(dxs, static_cast<size_t>(M) * C * fsz);
  experts_backward(ParamKind::w1, l, dxs, dh1, xs_l, off_l, train_l, C, F);
  experts_backward(ParamKind::w3, l, dxs, dh3, xs_l, off_l, train_l, C, F);
  ops.moe_gather_backward(dln, dxs, pos_l, N, K, C);
  if (mlp_width[l] > 0) mlp_backward(l, dln, dres, ln2_l);
  ops.zero(drlogits, static_cast<size_t>(N) * E * fsz);
  ops.router_backward(drlogits, dtopk_w, probs + m * maxN * E, topk_idx + m * maxN * K, topkw_l, valid,
                      cfg.aux_loss_coef > 0 ? aux_dprobs.data() + m * E : nullptr, N, E, K, cfg.norm_topk_prob);
  ops.matmul_backward(dln, G(ParamKind::router, l), nullptr, drlogits, ln2_l, P(ParamKind::router, l), N, C, E);

  // Frozen experts skip their weight GEMMs (backward FLOPs of the router and experts).
  const double n = N;
  if (cfg.lora.enabled()) return M;
  bwd_flops += 2 * (2 * n * C * E);
  for (int e = 0; e < E; e++) {
    double rows = off_l[e + 1] - off_l[e];
    bool train = !train_l || train_l[e];
    bwd_flops += 6.0 * rows * C * F * (train ? 2 : 1);
  }
  return M;
}

void Model::Impl::backward_block(int l) {
  const int N = B * T, C = cfg.d_model, HS = cfg.head_size(), NH = cfg.n_heads, NKV = cfg.n_kv_heads;
  const int QC = NH * HS, KVC = NKV * HS, E = cfg.n_experts, F = cfg.d_ff;
  const size_t nc = maxN * C;
  const float* ln2_l = ln2 + l * nc;               // (N, C)
  const float* ln1_l = ln1 + l * nc;               // (N, C)
  const size_t fsz = sizeof(float);

  // FFN branch: x_{l+1} = h + moe(rmsnorm(h)) + mlp(rmsnorm(h)); dres holds d/dx_{l+1}.
  ops.zero(dln, static_cast<size_t>(N) * C * fsz);
  int M = 0;
  if (cfg.is_dense_layer(l))
    mlp_backward(l, dln, dres, ln2_l);
  else
    M = moe_backward(l);
  ops.rmsnorm_backward(dres, G(ParamKind::ffn_norm, l), dln, h + l * nc, P(ParamKind::ffn_norm, l),
                       rstd2 + l * maxN, N, C);

  // Attention branch: h = x + wo · attn(..); dres now holds d/dh.
  ops.zero(datty, static_cast<size_t>(N) * QC * fsz);
  dense_backward(ParamKind::wo, l, datty, dres, atty + l * maxN * QC, N, QC, C);
  ops.zero(dq, static_cast<size_t>(N) * QC * fsz);
  ops.zero(dk, static_cast<size_t>(N) * KVC * fsz);
  ops.zero(dv, static_cast<size_t>(N) * KVC * fsz);
  ops.attention_backward(dq, dk, dv, datt, datty, q + l * maxN * QC, k + l * maxN * KVC, v + l * maxN * KVC,
                         att + l * static_cast<size_t>(max_B) * NH * max_T * max_T, B, T, NH, NKV, HS);
  ops.rope_backward(dq, B, T, NH, HS, cfg.rope_theta);
  ops.rope_backward(dk, B, T, NKV, HS, cfg.rope_theta);
  const float* dq_proj = dq;  // (N, QC) d/d(wq · x + bq)
  const float* dk_proj = dk;  // (N, KVC)
  if (cfg.qk_norm) {
    ops.zero(dq_pre, static_cast<size_t>(N) * QC * fsz);
    ops.zero(dk_pre, static_cast<size_t>(N) * KVC * fsz);
    ops.rmsnorm_backward(dq_pre, G(ParamKind::q_norm, l), dq, q_pre + l * maxN * QC, P(ParamKind::q_norm, l),
                         rstdq + l * maxN, N, QC);
    ops.rmsnorm_backward(dk_pre, G(ParamKind::k_norm, l), dk, k_pre + l * maxN * KVC, P(ParamKind::k_norm, l),
                         rstdk + l * maxN, N, KVC);
    dq_proj = dq_pre;
    dk_proj = dk_pre;
  }
  ops.zero(dln, static_cast<size_t>(N) * C * fsz);
  dense_backward(ParamKind::wq, l, dln, dq_proj, ln1_l, N, C, QC);
  dense_backward(ParamKind::wk, l, dln, dk_proj, ln1_l, N, C, KVC);
  dense_backward(ParamKind::wv, l, dln, dv, ln1_l, N, C, KVC);
  ops.rmsnorm_backward(dres, G(ParamKind::attn_norm, l), dln, resid + l * nc, P(ParamKind::attn_norm, l),
                       rstd1 + l * maxN, N, C);

  // Every dense GEMM runs twice in backward (input and weight gradients); attention runs four
  // T x T x HS products per head.
  const double n = N, mlp_flops = 6.0 * n * C * mlp_width[l] + (gated_mlp(l) ? 2.0 * n * C : 0.0);
  if (cfg.lora.enabled()) {
    bwd_flops += mlp_flops;  // the frozen shared experts' or dense MLP's input gradients
    // The frozen base's input gradients only; adapters (frozen experts' too: dax and dinp) as below.
    const double router = cfg.is_dense_layer(l) ? 0 : 2 * (2 * n * C * E);
    bwd_flops += 2 * n * C * (QC + 2 * KVC) + 2 * n * QC * C + router + 8.0 * B * NH * T * T * HS;
    bwd_flops += 6.0 * M * C * F + 2 * adapter_flops(l, N, M);
    return;
  }
  bwd_flops += 2 * (2 * n * C * (QC + 2 * KVC) + 2 * n * QC * C);
  bwd_flops += 8.0 * B * NH * T * T * HS + 2 * mlp_flops;
}

void Model::set_trainable(const uint8_t* trainable) {
  impl_->trainable.clear();
  if (trainable) impl_->trainable.assign(trainable, trainable + static_cast<size_t>(config().moe_layers()) * config().n_experts);
}

void Model::backward() {
  Impl& m = *impl_;
  HF_CHECK(m.have_forward, "backward() needs a forward() first");
  const ModelConfig& cfg = config();
  const int B = m.B, T = m.T, N = B * T, L = cfg.n_layers, C = cfg.d_model, V = cfg.vocab_size;
  const size_t fsz = sizeof(float);
  m.bwd_flops = 0;
  m.ops.zero(m.grads, table_.total() * fsz);
  m.ops.zero(m.dres, static_cast<size_t>(N) * C * fsz);
  m.ops.zero(m.dln, static_cast<size_t>(N) * C * fsz);
  const float dloss = m.counted > 0 ? 1.0f / static_cast<float>(m.counted) : 0.0f;
  if (task() == Task::lm) {
    m.ops.zero(m.dlogits, static_cast<size_t>(N) * V * fsz);
    m.ops.crossentropy_backward(m.dlogits, m.logits, m.targets, dloss, N, V);
    m.ops.matmul_backward(m.dln, m.head_g(), nullptr, m.dlogits, m.lnf, m.head_w(), N, C, V);
    m.bwd_flops += 4.0 * N * C * V;
  } else {
    const int NC = cfg.n_classes;
    m.ops.zero(m.dlogits, static_cast<size_t>(B) * NC * fsz);
    m.ops.crossentropy_backward(m.dlogits, m.logits, m.targets, dloss, B, NC);
    m.ops.zero(m.dpooled, static_cast<size_t>(B) * C * fsz);
    m.ops.matmul_backward(m.dpooled, m.G(ParamKind::cls_w), m.G(ParamKind::cls_b), m.dlogits, m.pooled,
                          m.P(ParamKind::cls_w), B, C, NC);
    m.ops.mean_pool_backward(m.dln, m.dpooled, m.valid, B, T, C);
    m.bwd_flops += 4.0 * B * C * NC;
  }
  m.ops.rmsnorm_backward(m.dres, m.G(ParamKind::final_norm), m.dln, m.resid + L * m.maxN * C,
                         m.P(ParamKind::final_norm), m.rstdf, N, C);
  for (int l = L - 1; l >= 0; l--) m.backward_block(l);
  m.ops.embedding_backward(m.G(ParamKind::tok_emb), m.dres, m.tokens, N, V, C);
}

void Model::Impl::mirror_routing() {
  if (routing_mirrored) return;
  const size_t N = static_cast<size_t>(B) * T, E = cfg.n_experts, K = cfg.top_k;
  for (int l = 0; l < cfg.moe_layers(); l++) {  // the last forward's N rows of each MoE layer's maxN
    ops.download(probs_mirror.data() + l * maxN * E, probs + l * maxN * E, N * E * sizeof(float));
    ops.download(topk_mirror.data() + l * maxN * K, topk_idx + l * maxN * K, N * K * sizeof(int32_t));
  }
  routing_mirrored = true;
}

const float* Model::gate_probs(int layer) const {
  Impl& m = *impl_;
  m.check_layer("gate_probs", layer);
  const size_t at = layer * m.maxN * config().n_experts;
  if (m.ops.host_memory()) return m.probs + at;
  m.mirror_routing();
  return m.probs_mirror.data() + at;
}

const int32_t* Model::topk_experts(int layer) const {
  Impl& m = *impl_;
  m.check_layer("topk_experts", layer);
  const size_t at = layer * m.maxN * config().top_k;
  if (m.ops.host_memory()) return m.topk_idx + at;
  m.mirror_routing();
  return m.topk_mirror.data() + at;
}

const uint8_t* Model::token_valid() const { return impl_->valid_host.data(); }

const int32_t* Model::expert_offsets(int layer) const {
  impl_->check_layer("expert_offsets", layer);
  return impl_->offsets.data() + static_cast<size_t>(layer) * (config().n_experts + 1);
}

const float* Model::logits() const {
  Impl& m = *impl_;
  HF_CHECK(m.have_forward, "logits() needs a forward()");
  if (m.ops.host_memory()) return m.logits;
  if (!m.logits_mirrored) {
    size_t n = task() == Task::lm ? static_cast<size_t>(m.B) * m.T * config().vocab_size
                                  : static_cast<size_t>(m.B) * config().n_classes;
    m.ops.download(m.logits_mirror.data(), m.logits, n * sizeof(float));
    m.logits_mirrored = true;
  }
  return m.logits_mirror.data();
}
int Model::last_B() const { return impl_->B; }
int Model::last_T() const { return impl_->T; }
size_t Model::backend_bytes() const { return impl_->owned_bytes + frozen_base_bytes(); }
double Model::last_step_flops() const { return impl_->fwd_flops + impl_->bwd_flops; }

}  // namespace hf
