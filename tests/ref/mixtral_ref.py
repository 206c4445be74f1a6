"""The reference MoE transformer in PyTorch: the spec the C++ model (src/model) is tested against.

Mixtral semantics, written plainly so that every line can be checked against the paper/HF code:
  tok_emb -> L x { h = x + attn(rmsnorm(x)) ; x = h + moe(rmsnorm(h)) } -> rmsnorm ->
  lm_head (LM task) or mean-pool over valid tokens -> cls_head (classification task).
Parameters are named exactly like the C++ ParamTable's HDF5 names (src/model/params.h) and
use nn.Linear's (out, in) layout, so a tensor copies across by name with no transposes.

Family features (each off by default, as in src/model/config.h), written from the published
architectures: norm_topk_prob False keeps the top-k softmax probabilities as they are (Qwen2-MoE,
OLMoE, DeepSeekMoE); qkv_bias adds q/k/v projection biases (Qwen2); qk_norm is an RMSNorm over the
whole q and k projections before RoPE (OLMoE); n_shared_experts adds shared experts every token
passes through, one SwiGLU MLP of n_shared_experts * shared_d_ff (DeepSeekMoE's DeepseekMLP),
whose output shared_gate scales by sigmoid(gate x) per token (Qwen2-MoE's shared_expert_gate);
first_k_dense makes layers [0, k) dense: one SwiGLU MLP of dense_d_ff (or d_ff), "mlp/w1" etc.,
in place of router, routed and shared experts (DeepSeekMoE's first_k_dense_replace, its
DeepseekMLP of intermediate_size). Routing outputs and masks count the MoE layers only.

LoRA (lora_rank > 0): each linear named in lora_targets (wq wk wv wo w1 w3 w2) gets adapters
"<name>_lora_A" (r, IC) and "<name>_lora_B" (OC, r) and computes x W^T + (alpha/r) (x A^T) B^T;
the linear kinds are then frozen (no gradient), as the C++ model's frozen base is. The shared
experts' and the dense layers' w1 w3 w2 are linear kinds too, adapted by the same targets as the
routed experts'.

Dimension letters (as in src/model/config.h): B batch, T time, C d_model, NH query heads,
NKV key/value heads, HS head size, E experts, K top-k, F expert d_ff, V vocab, NC classes,
L layers; N = B*T tokens.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PAD_TOKEN = 256  # byte-level vocabulary: 256 bytes, then pad (sequences are right-padded)


@dataclass
class Config:
    vocab_size: int = 260
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 4
    n_experts: int = 8
    top_k: int = 2
    d_ff: int = 128
    seq_len: int = 128
    rms_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_embeddings: bool = False
    n_classes: int = 0
    aux_loss_coef: float = 0.0
    lora_rank: int = 0
    lora_alpha: float = 16.0
    lora_targets: tuple = ()
    norm_topk_prob: bool = True
    qkv_bias: bool = False
    qk_norm: bool = False
    n_shared_experts: int = 0
    shared_d_ff: int = 0
    shared_gate: bool = False
    first_k_dense: int = 0
    dense_d_ff: int = 0

    @property
    def dense_ff(self):
        return self.dense_d_ff or self.d_ff

    @property
    def moe_layers(self):
        return self.n_layers - self.first_k_dense

    @property
    def head_size(self):
        return self.d_model // self.n_heads

    @property
    def shared_ff(self):
        return self.n_shared_experts * (self.shared_d_ff or self.d_ff)


FEATURE_DEFAULTS = dict(norm_topk_prob=True, qkv_bias=False, qk_norm=False, n_shared_experts=0, shared_d_ff=0,
                        shared_gate=False, first_k_dense=0, dense_d_ff=0)


def param_shapes(cfg):
    """[(name, shape)] in the C++ arena order (src/model/params.cpp)."""
    C, V, HS, F_ = cfg.d_model, cfg.vocab_size, cfg.head_size, cfg.d_ff
    out = [("tok_emb", (V, C))]
    for l in range(cfg.n_layers):
        pre = f"layer_{l}/"
        QC, KVC = cfg.n_heads * HS, cfg.n_kv_heads * HS
        out += [(pre + "attn_norm", (C,)), (pre + "wq", (QC, C))]
        out += [(pre + "bq", (QC,))] if cfg.qkv_bias else []
        out += [(pre + "wk", (KVC, C))]
        out += [(pre + "bk", (KVC,))] if cfg.qkv_bias else []
        out += [(pre + "wv", (KVC, C))]
        out += [(pre + "bv", (KVC,))] if cfg.qkv_bias else []
        out += [(pre + "q_norm", (QC,)), (pre + "k_norm", (KVC,))] if cfg.qk_norm else []
        out += [(pre + "wo", (C, QC)), (pre + "ffn_norm", (C,))]
        if l < cfg.first_k_dense:
            FD = cfg.dense_ff
            out += [(pre + "mlp/w1", (FD, C)), (pre + "mlp/w3", (FD, C)), (pre + "mlp/w2", (C, FD))]
            continue
        out += [(pre + "router", (cfg.n_experts, C))]
        FS = cfg.shared_ff
        if FS > 0:
            out += [(pre + "shared/w1", (FS, C)), (pre + "shared/w3", (FS, C)), (pre + "shared/w2", (C, FS))]
            out += [(pre + "shared/gate", (1, C))] if cfg.shared_gate else []
        for e in range(cfg.n_experts):
            ex = pre + f"expert_{e}/"
            out += [(ex + "w1", (F_, C)), (ex + "w3", (F_, C)), (ex + "w2", (C, F_))]
    out.append(("final_norm", (C,)))
    if not cfg.tie_embeddings:
        out.append(("lm_head", (V, C)))
    if cfg.n_classes > 0:
        out += [("cls_head/w", (cfg.n_classes, C)), ("cls_head/b", (cfg.n_classes,))]
    return out


LINEAR_KINDS = ("wq", "wk", "wv", "wo", "w1", "w3", "w2")


def adapter_shapes(cfg):
    """[(name, shape)] of the LoRA adapters, each targeted linear's A then B."""
    if cfg.lora_rank == 0:
        return []
    out = []
    for name, shape in param_shapes(cfg):
        if name.split("/")[-1] in cfg.lora_targets:
            OC, IC = shape
            out += [(name + "_lora_A", (cfg.lora_rank, IC)), (name + "_lora_B", (OC, cfg.lora_rank))]
    return out


def linear(x, p, name, cfg):
    """x W^T, plus the LoRA branch (alpha/r) (x A^T) B^T when `name` has an adapter."""
    y = F.linear(x, p[name])
    if name + "_lora_A" in p:
        y = y + (cfg.lora_alpha / cfg.lora_rank) * F.linear(F.linear(x, p[name + "_lora_A"]), p[name + "_lora_B"])
    return y


def rms_norm(x, w, eps):
    # x (..., C) * 1/sqrt(mean(x^2) + eps) * w (C)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, theta):
    # x (B, H, T, HS). HF "rotate_half": dim i pairs with i + HS/2, angle = t * theta^(-2i/HS).
    T, HS = x.shape[-2], x.shape[-1]
    inv_freq = theta ** (-torch.arange(0, HS, 2, dtype=x.dtype) / HS)        # (HS/2)
    ang = torch.arange(T, dtype=x.dtype)[:, None] * inv_freq[None, :]       # (T, HS/2)
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)  # (T, HS)
    x1, x2 = x[..., : HS // 2], x[..., HS // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def attention(x, p, pre, cfg):
    # x (B, T, C) already normed -> (B, T, C). Causal, grouped-query, scale 1/sqrt(HS).
    B, T, _ = x.shape
    NH, NKV, HS = cfg.n_heads, cfg.n_kv_heads, cfg.head_size
    q, k, v = (linear(x, p, pre + w, cfg) for w in ("wq", "wk", "wv"))     # (B, T, NH*HS), (B, T, NKV*HS)
    if cfg.qkv_bias:
        q, k, v = q + p[pre + "bq"], k + p[pre + "bk"], v + p[pre + "bv"]
    if cfg.qk_norm:  # OLMoE: over the whole projection, before the heads are split
        q, k = rms_norm(q, p[pre + "q_norm"], cfg.rms_eps), rms_norm(k, p[pre + "k_norm"], cfg.rms_eps)
    q = q.view(B, T, NH, HS).transpose(1, 2)                               # (B, NH, T, HS)
    k = k.view(B, T, NKV, HS).transpose(1, 2)                              # (B, NKV, T, HS)
    v = v.view(B, T, NKV, HS).transpose(1, 2)
    q, k = rope(q, cfg.rope_theta), rope(k, cfg.rope_theta)
    # query head h reads kv head h // (NH/NKV): repeat each kv head NH/NKV times, in order
    k = k.repeat_interleave(NH // NKV, dim=1)                              # (B, NH, T, HS)
    v = v.repeat_interleave(NH // NKV, dim=1)
    att = (q @ k.transpose(-1, -2)) / HS ** 0.5                            # (B, NH, T, T)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    att = att.masked_fill(future, float("-inf")).softmax(-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, NH * HS)
    return linear(y, p, pre + "wo", cfg)


def route(x, w_router, K, routable, renormalize=True):
    # x (N, C) -> probs (N, E) softmax over all E; idx (N, K) the K largest probs among the
    # routable experts (bool (E) or None), descending, ties to the lower id; w (N, K) renormalised
    # to sum to 1 (norm_topk_prob) or the probabilities themselves.
    probs = F.linear(x, w_router).softmax(-1)
    ranked = probs.detach()
    if routable is not None:
        assert int(routable.sum()) >= K, "fewer routable experts than top_k"
        ranked = ranked.masked_fill(~routable, -1.0)  # probabilities are >= 0: -1 ranks last
    idx = ranked.sort(stable=True, dim=-1, descending=True).indices[:, :K]
    g = probs.gather(1, idx)                                               # (N, K)
    return probs, idx, g / g.sum(-1, keepdim=True) if renormalize else g


def moe(x, p, pre, cfg, idx, w):
    # x (N, C); idx, w (N, K) -> (N, C). Loop over experts, gather their tokens, scatter back
    # weighted: the plain dropless MoE (as HF Mixtral does it).
    out = torch.zeros_like(x)
    for e in range(cfg.n_experts):
        rows, slot = (idx == e).nonzero(as_tuple=True)  # tokens routed to e, and which of their K
        if rows.numel() == 0:
            continue
        ex = pre + f"expert_{e}/"
        xe = x.index_select(0, rows)                                        # (n_e, C)
        ye = linear(F.silu(linear(xe, p, ex + "w1", cfg)) * linear(xe, p, ex + "w3", cfg), p, ex + "w2", cfg)
        out.index_add_(0, rows, ye * w[rows, slot, None])
    return out


def swiglu(x, p, pre, cfg):
    # x (N, C) -> (N, C): w2 (silu(w1 x) * (w3 x)) of the tensors pre + "w1", "w3", "w2"
    return linear(F.silu(linear(x, p, pre + "w1", cfg)) * linear(x, p, pre + "w3", cfg), p, pre + "w2", cfg)


def shared_experts(x, p, pre, cfg):
    # x (N, C) -> (N, C): one SwiGLU MLP of FS = n_shared * shared_d_ff, every token; with
    # shared_gate scaled per token by sigmoid(gate x) (Qwen2-MoE).
    y = swiglu(x, p, pre + "shared/", cfg)
    if cfg.shared_gate:
        y = torch.sigmoid(F.linear(x, p[pre + "shared/gate"])) * y          # (N, 1) * (N, C)
    return y


def aux_loss(probs, idx, valid, E):
    # Switch/Mixtral load balancing for one layer: E * sum_e f_e * P_e over valid tokens, with
    # f_e = top-k assignments to e / valid tokens (no gradient) and P_e = mean prob of e.
    n = valid.sum()
    counts = torch.zeros(E, dtype=probs.dtype).index_add_(
        0, idx[valid].flatten(), torch.ones(int(n) * idx.shape[1], dtype=probs.dtype))
    f = counts / n
    P = probs[valid].mean(0)
    return E * (f * P).sum()


@dataclass
class Output:
    loss: torch.Tensor        # task loss + aux loss
    task_loss: torch.Tensor
    logits: torch.Tensor      # (B, T, V) for LM, (B, NC) for classification
    correct: int              # argmax hits over the counted tokens/sequences
    counted: int
    gate_probs: list          # per layer (N, E)
    topk: list                # per layer (N, K)


class MixtralRef(torch.nn.Module):
    def __init__(self, cfg, dtype=torch.float64):
        super().__init__()
        self.cfg = cfg
        frozen = cfg.lora_rank > 0
        self.p = torch.nn.ParameterDict(
            {n: torch.nn.Parameter(torch.zeros(s, dtype=dtype),
                                   requires_grad=not (frozen and n.split("/")[-1] in LINEAR_KINDS))
             for n, s in param_shapes(cfg) + adapter_shapes(cfg)})

    def load(self, weights):
        """weights: {name: numpy array}, every parameter present."""
        with torch.no_grad():
            for n, t in self.p.items():
                t.copy_(torch.as_tensor(weights[n]))

    def forward(self, tokens, targets=None, labels=None, routable=None):
        # tokens (B, T) long; targets (B, T) long with -1 = ignore (LM); labels (B) (classify);
        # routable (LM, E) bool or None (MoE layers only).
        cfg, p = self.cfg, self.p
        B, T = tokens.shape
        valid = (tokens != PAD_TOKEN).reshape(-1)                            # (N)
        x = p["tok_emb"][tokens]                                             # (B, T, C)
        probs_all, idx_all, aux = [], [], 0.0
        for l in range(cfg.n_layers):
            pre = f"layer_{l}/"
            h = x + attention(rms_norm(x, p[pre + "attn_norm"], cfg.rms_eps), p, pre, cfg)
            hn = rms_norm(h, p[pre + "ffn_norm"], cfg.rms_eps).reshape(B * T, -1)
            if l < cfg.first_k_dense:  # a dense layer: its MLP alone
                x = h + swiglu(hn, p, pre + "mlp/", cfg).view(B, T, -1)
                continue
            m = l - cfg.first_k_dense  # the MoE layer
            probs, idx, w = route(hn, p[pre + "router"], cfg.top_k,
                                  None if routable is None else routable[m], cfg.norm_topk_prob)
            y = moe(hn, p, pre, cfg, idx, w)
            if cfg.shared_ff > 0:
                y = y + shared_experts(hn, p, pre, cfg)
            x = h + y.view(B, T, -1)
            if cfg.aux_loss_coef > 0:
                aux = aux + aux_loss(probs, idx, valid, cfg.n_experts)
            probs_all.append(probs)
            idx_all.append(idx)
        x = rms_norm(x, p["final_norm"], cfg.rms_eps)                        # (B, T, C)
        if cfg.n_classes > 0 and labels is not None:
            vm = valid.view(B, T, 1).to(x.dtype)
            pooled = (x * vm).sum(1) / vm.sum(1).clamp(min=1)                # (B, C)
            logits = F.linear(pooled, p["cls_head/w"], p["cls_head/b"])      # (B, NC)
            task = F.cross_entropy(logits, labels)
            correct, counted = int((logits.argmax(-1) == labels).sum()), B
        else:
            head = p["tok_emb"] if cfg.tie_embeddings else p["lm_head"]
            logits = F.linear(x, head)                                       # (B, T, V)
            flat_t = targets.reshape(-1)
            task = F.cross_entropy(logits.reshape(B * T, -1), flat_t, ignore_index=-1)
            counted_rows = flat_t != -1
            hits = logits.reshape(B * T, -1).argmax(-1) == flat_t
            correct, counted = int((hits & counted_rows).sum()), int(counted_rows.sum())
        loss = task + cfg.aux_loss_coef * aux / cfg.moe_layers if cfg.aux_loss_coef > 0 else task
        return Output(loss, task, logits, correct, counted, probs_all, idx_all)

    def zero_frozen_grads(self, trainable):
        """trainable (LM, E) bool: frozen experts keep zero weight (or adapter) gradients."""
        for m in range(self.cfg.moe_layers):
            l = self.cfg.first_k_dense + m
            for e in range(self.cfg.n_experts):
                if not trainable[m, e]:
                    for n, t in self.p.items():
                        if n.startswith(f"layer_{l}/expert_{e}/") and t.grad is not None:  # None: no token came
                            t.grad.zero_()
