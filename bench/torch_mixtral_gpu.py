"""The PyTorch GPU baseline for one training step: HF transformers' MixtralForCausalLM (eager
attention) with torch.optim.AdamW, bf16 autocast, at hfedmoe's presets and shapes.

    python3 bench/torch_mixtral_gpu.py [--preset small|base|all] [--steps 10] [--out FILE.md]

Runs where PyTorch with CUDA and transformers are installed (the GPU test machine; not the
development VMs, whose Debian torch has neither). Definitions match bench/bench_cuda_model.cpp:
tokens/s = B*T / median step time (forward + backward + AdamW, synchronised); model FLOPs per
token = 6 * N_active + 12 * L * T * NH * HS (N_active: every matrix a token multiplies, K/E
of the experts, not the embedding lookup); MFU against 989 TFLOP/s, the H100 SXM dense BF16
peak.
"""
import argparse
import statistics
import sys
import time
from datetime import datetime, timezone

PEAK_BF16 = 989e12
# name -> (hidden, layers, heads, kv heads, experts, d_ff, seq), batches: hfedmoe's presets
PRESETS = {
    "small": ((256, 4, 8, 4, 16, 512, 256), [16]),
    "base": ((768, 8, 12, 4, 32, 1024, 512), [16, 64]),
}
HEADER = ("| date (UTC) | preset | B x T | tokens/s | MFU % (bf16 peak) | ms/step | peak GB | GPU | torch | "
          "transformers |\n|---|---|---|---|---|---|---|---|---|---|\n")


def active_params(model, top_k, n_experts):
    n = 0.0
    for name, p in model.named_parameters():
        if "embed_tokens" in name:
            continue
        n += p.numel() * (top_k / n_experts if ".experts." in name else 1.0)
    return n


def run(torch, transformers, preset, batch, steps, warmup):
    (C, L, NH, NKV, E, F, T) = PRESETS[preset][0]
    cfg = transformers.MixtralConfig(
        vocab_size=260, hidden_size=C, intermediate_size=F, num_hidden_layers=L, num_attention_heads=NH,
        num_key_value_heads=NKV, num_local_experts=E, num_experts_per_tok=2, max_position_embeddings=T,
        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, router_aux_loss_coef=0.0,
        output_router_logits=False)
    cfg._attn_implementation = "eager"
    model = transformers.MixtralForCausalLM(cfg).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    gen = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randint(0, 256, (batch, T), device="cuda", generator=gen)
    torch.cuda.reset_peak_memory_stats()
    times = []
    for s in range(warmup + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if s >= warmup:
            times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    tok_s = batch * T / step_s
    flops_tok = 6 * active_params(model, 2, E) + 12.0 * L * T * NH * (C // NH)
    mfu = 100 * tok_s * flops_tok / PEAK_BF16
    peak_gb = torch.cuda.max_memory_allocated() / 1e9
    print(f"{preset} B={batch} T={T}: {tok_s:,.0f} tokens/s, {step_s * 1e3:.1f} ms/step, MFU {mfu:.2f}% of bf16 peak, "
          f"peak {peak_gb:.1f} GB, loss {loss.item():.4f}")
    del model, opt
    torch.cuda.empty_cache()
    return tok_s, mfu, step_s, peak_gb


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="all", choices=["all", *PRESETS])
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", help="Markdown file to append one row per preset and batch to")
    args = ap.parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        sys.exit(f"error: {e}; run this on a machine with PyTorch (CUDA) and transformers (the GPU machine)")
    if not torch.cuda.is_available():
        sys.exit("error: PyTorch sees no CUDA device; run this on the GPU machine")
    gpu = torch.cuda.get_device_name(0)
    rows = []
    for preset in PRESETS if args.preset == "all" else [args.preset]:
        for batch in PRESETS[preset][1]:
            tok_s, mfu, step_s, peak_gb = run(torch, transformers, preset, batch, args.steps, args.warmup)
            T = PRESETS[preset][0][6]
            rows.append(f"| {datetime.now(timezone.utc):%Y-%m-%d %H:%M} | {preset} | {batch} x {T} | {tok_s:,.0f} | "
                        f"{mfu:.2f} | {step_s * 1e3:.1f} | {peak_gb:.1f} | {gpu} | {torch.__version__} | "
                        f"{transformers.__version__} |\n")
    if args.out:
        new = True
        try:
            new = open(args.out).read(1) == ""
        except FileNotFoundError:
            pass
        with open(args.out, "a") as f:
            f.write((HEADER if new else "") + "".join(rows))


if __name__ == "__main__":
    main()
