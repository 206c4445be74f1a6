"""Writes the reference tensors that tests/unit/test_model_parity.cpp checks the C++ model against.

    /usr/bin/python3 tests/ref/make_reference.py [case ...]   (Debian's python3-torch and python3-h5py)

Without arguments every case is written; with case names only those (so adding a case leaves
the others' files as they are).

One HDF5 file per case in tests/data/ref/<case>.h5:
  attributes on /: the model config (vocab_size ... aux_loss_coef), task ("lm"/"classify"),
      B, T, seed; plus fp32_* : how far the same reference run in float32 lands from the
      float64 one (the error level to expect from an fp32 implementation).
  /model/<name>        float32 weights (the C++ ParamTable's names and shapes)
  /tokens (B, T) int32 right-padded with 256; /targets (B, T) int32, -1 = ignore (LM);
  /labels (B) int32 (classify); /trainable, /routable (LM, E) uint8 when the case uses them (LM: the
      MoE layers, n_layers - first_k_dense)
  /logits (B, T, V) or (B, NC); /loss, /task_loss (1) float64; /correct, /counted (1) int64
  /grad/<name>         float32 d(loss)/d(param) of every trained tensor (frozen experts: zero;
      with LoRA the frozen base has none); lora_rank, lora_alpha, lora_targets ("wq,w1,...")
      attributes on / when the case has adapters
  /gate_probs/layer_<l> (B*T, E) float32; /topk/layer_<l> (B*T, K) int32, descending, per MoE layer l
  /adamw (one case): losses (10) float64 of 10 torch.optim.AdamW steps on the same batch,
      attributes lr, beta1, beta2, eps, weight_decay; /adamw/model/<name> the final weights.
Forward and backward run in float64 from the float32 weights, so the file holds the exact
answer for those weights and any error the test sees is the C++ side's.
"""
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mixtral_ref import FEATURE_DEFAULTS, PAD_TOKEN, Config, MixtralRef, adapter_shapes, param_shapes  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "ref")

# Small enough that a file stays well under 1 MB; seq_len > T checks that a batch may be shorter.
BASE = dict(vocab_size=260, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, n_experts=4, top_k=2,
            d_ff=48, seq_len=16)
B, T = 2, 12
CASES = [
    dict(name="lm_gqa", cfg={}, lengths=[12, 12], seed=11, adamw=True),
    dict(name="lm_tied_aux", cfg=dict(tie_embeddings=True, aux_loss_coef=0.02, n_kv_heads=1),
         lengths=[12, 8], seed=12),
    dict(name="cls_pad", cfg=dict(n_classes=3), lengths=[12, 7], seed=13),
    # layer 1 allows exactly K experts: every token must get {1, 3}
    dict(name="lm_routable", cfg={}, lengths=[12, 12], seed=14, routable=[[1, 0, 1, 1], [0, 1, 0, 1]]),
    dict(name="lm_frozen", cfg={}, lengths=[12, 10], seed=15, trainable=[[1, 0, 1, 1], [0, 1, 1, 0]]),
    # adapters on every linear over a frozen fp32 base: GQA, experts, padding, frozen experts
    dict(name="lm_lora", cfg=dict(lora_rank=4, lora_alpha=8.0,
                                  lora_targets=("wq", "wk", "wv", "wo", "w1", "w3", "w2")),
         lengths=[12, 9], seed=16, trainable=[[1, 1, 0, 1], [1, 0, 1, 1]]),
    # The families' features (src/model/config.h), with their published settings:
    # Qwen2-MoE: q/k/v biases, un-normalised top-k, one shared expert behind a sigmoid gate
    dict(name="lm_qwen2_moe", cfg=dict(qkv_bias=True, norm_topk_prob=False, n_shared_experts=1, shared_d_ff=64,
                                       shared_gate=True), lengths=[12, 10], seed=21),
    # OLMoE: q/k norms, un-normalised top-k over fine-grained experts (top 8 of 16 small ones)
    dict(name="lm_olmoe", cfg=dict(qk_norm=True, norm_topk_prob=False, n_experts=16, top_k=8, d_ff=12),
         lengths=[12, 11], seed=103),
    # DeepSeekMoE: two shared experts of the routed experts' size, fine-grained top 6 of 12, frozen experts
    dict(name="lm_deepseek", cfg=dict(n_shared_experts=2, n_experts=12, top_k=6, d_ff=16, norm_topk_prob=False),
         lengths=[12, 12], seed=23, trainable=[[1, 0] * 6, [0, 1] * 6]),
    # DeepSeekMoE-16B's layout: a dense first layer (first_k_dense_replace = 1, its MLP of intermediate_size)
    # before the MoE layers; three layers so that two MoE layers follow it
    dict(name="lm_deepseek_dense", cfg=dict(n_layers=3, first_k_dense=1, dense_d_ff=40, n_shared_experts=2,
                                            n_experts=12, top_k=6, d_ff=16, norm_topk_prob=False),
         lengths=[12, 11], seed=25, trainable=[[1, 0] * 6, [0, 1] * 6]),
    # every feature under LoRA adapters over a frozen base (the shared experts adapted as w1 w3 w2)
    dict(name="lm_features_lora", cfg=dict(qkv_bias=True, qk_norm=True, n_shared_experts=1, shared_gate=True,
                                           lora_rank=4, lora_alpha=8.0,
                                           lora_targets=("wq", "wk", "wv", "wo", "w1", "w3", "w2")),
         lengths=[12, 9], seed=24, trainable=[[1, 1, 0, 1], [1, 0, 1, 1]]),
]
ADAMW = dict(lr=3e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
ADAMW_STEPS = 10
# fp32 noise on a probability is ~1e-7; choices closer than this could legitimately flip.
MIN_MARGIN = 1e-4


def init_weights(cfg, rng):
    """float32 weights scaled so activations are O(1) and routing is far from uniform
    (a parity test on near-zero weights would hide most bugs)."""
    w = {}
    for name, shape in param_shapes(cfg):
        if name.endswith("norm"):
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.split("/")[-1] in ("bq", "bk", "bv"):
            a = 0.1 * rng.standard_normal(shape)
        elif name == "tok_emb":
            a = rng.standard_normal(shape)
        elif name == "cls_head/b":
            a = 0.1 * rng.standard_normal(shape)
        else:  # (out, in) matrices: fan-in scaling
            a = rng.standard_normal(shape) / np.sqrt(shape[1])
        w[name] = a.astype(np.float32)
    for name, shape in adapter_shapes(cfg):
        if name.endswith("_lora_A"):  # PEFT's kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(IC), 1/sqrt(IC))
            a = rng.uniform(-1, 1, shape) / np.sqrt(shape[1])
        else:  # B not zero, as after some training, so that every gradient term is exercised
            a = 0.3 * rng.standard_normal(shape) / np.sqrt(shape[1])
        w[name] = a.astype(np.float32)
    return w


def make_batch(cfg, rng, lengths):
    """tokens (B, T) right-padded; targets (B, T) next token, -1 past the sequence; labels (B)."""
    tokens = np.full((B, T), PAD_TOKEN, np.int32)
    targets = np.full((B, T), -1, np.int32)
    for b, n in enumerate(lengths):
        tokens[b, :n] = rng.integers(0, 256, n)
        targets[b, : n - 1] = tokens[b, 1:n]
    labels = rng.integers(0, max(cfg.n_classes, 1), B).astype(np.int32)
    return tokens, targets, labels


def run(cfg, weights, batch, case, dtype):
    """Forward + backward; returns (model, output, {name: grad numpy})."""
    model = MixtralRef(cfg, dtype)
    model.load(weights)
    out = forward(model, batch, case)
    out.loss.backward()
    if "trainable" in case:
        model.zero_frozen_grads(np.array(case["trainable"], bool))
    grads = {n: (t.grad if t.grad is not None else torch.zeros_like(t)).numpy()
             for n, t in model.p.items() if t.requires_grad}
    return model, out, grads


def forward(model, batch, case):
    tokens, targets, labels = (torch.as_tensor(a).long() for a in batch)
    routable = torch.as_tensor(case["routable"]).bool() if "routable" in case else None
    return model(tokens, targets, labels, routable)


def adamw_losses(cfg, weights, batch, case, dtype):
    """ADAMW_STEPS steps of torch.optim.AdamW on the same batch; returns (losses, final weights)."""
    model = MixtralRef(cfg, dtype)
    model.load(weights)
    opt = torch.optim.AdamW(model.parameters(), lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]),
                            eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"])
    losses = []
    for _ in range(ADAMW_STEPS):
        opt.zero_grad(set_to_none=False)
        out = forward(model, batch, case)
        out.loss.backward()
        for t in model.parameters():  # an expert no token reached has zero gradient, not none:
            if t.grad is None:        # AdamW must still decay it, as the C++ arena update does
                t.grad = torch.zeros_like(t)
        opt.step()
        losses.append(out.loss.item())
    return np.array(losses), {n: t.detach().numpy() for n, t in model.p.items()}


def check_margins(out, case, cfg):
    """Fails when an fp32 implementation could honestly disagree: two experts' probabilities
    (or the argmax logits) closer than MIN_MARGIN. Then pick another seed."""
    for l, probs in enumerate(out.gate_probs):
        ranked = probs.detach().clone()
        if "routable" in case:
            ranked[:, ~torch.as_tensor(case["routable"][l]).bool()] = -1.0
        s = ranked.sort(-1, descending=True).values[:, : cfg.top_k + 1]
        gap = (s[:, :-1] - s[:, 1:]).min().item()
        assert gap > MIN_MARGIN, f"{case['name']}: layer {l} top-k margin {gap:.2e}; change the seed"
    top2 = out.logits.detach().reshape(-1, out.logits.shape[-1]).sort(-1, descending=True).values[:, :2]
    gap = (top2[:, 0] - top2[:, 1]).min().item()
    assert gap > MIN_MARGIN, f"{case['name']}: argmax margin {gap:.2e}; change the seed"


def rel(a, b):
    """||a - b|| / ||b|| (0 when both are zero)."""
    d, n = np.linalg.norm(np.asarray(a, np.float64) - b), np.linalg.norm(b)
    return float(d / n) if n > 0 else float(d)


def make_case(case):
    cfg = Config(**{**BASE, **case["cfg"]})
    rng = np.random.default_rng(case["seed"])
    weights = init_weights(cfg, rng)
    batch = make_batch(cfg, rng, case["lengths"])
    _, out, grads = run(cfg, weights, batch, case, torch.float64)
    check_margins(out, case, cfg)
    if "trainable" in case:  # frozen experts must see tokens, or freezing them tests nothing
        for l, row in enumerate(case["trainable"]):
            for e, on in enumerate(row):
                assert on or (out.topk[l] == e).any(), f"frozen expert ({l}, {e}) receives no token"

    # the same run in float32: the error level an fp32 implementation should reach
    _, out32, grads32 = run(cfg, weights, batch, case, torch.float32)
    fp32 = dict(fp32_loss_rel_err=abs(out32.loss.item() - out.loss.item()) / abs(out.loss.item()),
                fp32_max_grad_rel_err=max(rel(grads32[n], grads[n]) for n in grads),
                fp32_topk_equal=int(all(torch.equal(a, b) for a, b in zip(out32.topk, out.topk))))

    path = os.path.join(OUT_DIR, case["name"] + ".h5")
    with h5py.File(path, "w") as f:
        for k, v in vars(cfg).items():
            if (k.startswith("lora_") and cfg.lora_rank == 0) or (k in FEATURE_DEFAULTS and FEATURE_DEFAULTS[k] == v):
                continue  # the files of cases without adapters or family features stay as they were
            f.attrs[k] = int(v) if isinstance(v, bool) else ",".join(v) if isinstance(v, tuple) else v
        f.attrs["task"] = "classify" if cfg.n_classes > 0 else "lm"
        f.attrs["B"], f.attrs["T"], f.attrs["seed"] = B, T, case["seed"]
        tokens, targets, labels = batch
        f["tokens"] = tokens
        if cfg.n_classes > 0:
            f["labels"] = labels
        else:
            f["targets"] = targets
        for mask in ("trainable", "routable"):
            if mask in case:
                f[mask] = np.array(case[mask], np.uint8)
        for n, a in weights.items():
            f["model/" + n] = a
        for n, g in grads.items():
            f["grad/" + n] = g.astype(np.float32)
        f["logits"] = out.logits.detach().numpy().astype(np.float32)
        f["loss"] = np.array([out.loss.item()])
        f["task_loss"] = np.array([out.task_loss.item()])
        f["correct"] = np.array([out.correct], np.int64)
        f["counted"] = np.array([out.counted], np.int64)
        for l in range(cfg.moe_layers):
            f[f"gate_probs/layer_{l}"] = out.gate_probs[l].detach().numpy().astype(np.float32)
            f[f"topk/layer_{l}"] = out.topk[l].numpy().astype(np.int32)
        if case.get("adamw"):
            losses, final = adamw_losses(cfg, weights, batch, case, torch.float64)
            losses32, final32 = adamw_losses(cfg, weights, batch, case, torch.float32)
            fp32["fp32_adamw_max_loss_rel_err"] = float(np.max(np.abs(losses32 - losses) / losses))
            fp32["fp32_adamw_max_param_rel_err"] = max(rel(final32[n], final[n]) for n in final)
            g = f.create_group("adamw")
            g["losses"] = losses
            for k, v in ADAMW.items():
                g.attrs[k] = v
            for n, a in final.items():
                g["model/" + n] = a.astype(np.float32)
        for k, v in fp32.items():
            f.attrs[k] = v
    size = os.path.getsize(path)
    print(f"{os.path.relpath(path)}: {size / 1024:.0f} KiB, loss {out.loss.item():.6f}, "
          + ", ".join(f"{k} {v:.2g}" for k, v in fp32.items()))


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    wanted = set(sys.argv[1:])
    unknown = wanted - {c["name"] for c in CASES}
    assert not unknown, f"unknown cases {sorted(unknown)}"
    for case in CASES:
        if not wanted or case["name"] in wanted:
            make_case(case)


if __name__ == "__main__":
    main()
