"""The PyTorch speed baseline for one CPU training step (forward + backward + AdamW), fp32.

    /usr/bin/python3 bench/torch_model.py [--preset tiny|small|all] [--threads 2] [--out FILE.md]

The model is the parity reference, tests/ref/mixtral_ref.py (same semantics as the C++ model),
whose MoE is the plain HF-style loop over experts with index_select / index_add. The C++ CPU
backend is expected to beat it by 2x at the same thread count.

tokens/s = B*T / (median wall time of one step over --steps timed steps, after --warmup);
best tokens/s uses the fastest step instead: on a shared machine it is the least disturbed one.
The load average and OMP_WAIT_POLICY are recorded with each row because both move the result.
"""
import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone

# libgomp reads this when torch loads it. Its default (spin-waiting OpenMP threads) fights
# OpenBLAS's own threads for the cores on every GEMM: 3-5x slower steps on this 2-core machine.
# A baseline should be PyTorch at its best, so wait passively unless told otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from mixtral_ref import PAD_TOKEN, Config, MixtralRef  # noqa: E402

# (config, B, T): tiny is the C++ "tiny" preset; small the C++ "small" preset.
PRESETS = {
    "tiny": (Config(d_model=64, n_layers=2, n_heads=4, n_kv_heads=4, n_experts=8, top_k=2, d_ff=128,
                    seq_len=128), 8, 128),
    "small": (Config(d_model=256, n_layers=4, n_heads=8, n_kv_heads=4, n_experts=16, top_k=2, d_ff=512,
                     seq_len=256), 8, 256),
}
HEADER = ("| date (UTC) | preset | B x T | threads | tokens/s | best tokens/s | ms/step | machine | torch "
          "| OMP_WAIT_POLICY | load avg |\n|---|---|---|---|---|---|---|---|---|---|---|\n")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def bench(preset, steps, warmup):
    """Returns (median tokens/s, best tokens/s, median seconds per step)."""
    cfg, B, T = PRESETS[preset]
    torch.manual_seed(0)
    model = MixtralRef(cfg, torch.float32)
    with torch.no_grad():  # the C++ init: normal(0, 0.02) matrices, ones for norms
        for name, t in model.p.items():
            if name.endswith("norm"):
                t.fill_(1.0)
            else:
                t.normal_(0.0, 0.02)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    tokens = torch.randint(0, PAD_TOKEN, (B, T))
    targets = torch.cat([tokens[:, 1:], torch.full((B, 1), -1)], 1)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model(tokens, targets).loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    return B * T / sec, B * T / min(times), sec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="all", choices=["all", *PRESETS])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", help="Markdown file to append one row per preset to")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    machine = f"{cpu_name()}, {os.cpu_count()} cores"
    print(f"machine: {machine}; torch {torch.__version__}, {torch.get_num_threads()} threads, fp32")
    for preset in PRESETS if args.preset == "all" else [args.preset]:
        cfg, B, T = PRESETS[preset]
        tps, best, sec = bench(preset, args.steps, args.warmup)
        load = os.getloadavg()[0]
        wait = os.environ.get("OMP_WAIT_POLICY", "default")
        print(f"{preset}: B={B} T={T} {tps:,.0f} tokens/s (best step {best:,.0f}; {sec * 1e3:.0f} ms/step, "
              f"median of {args.steps}; load average {load:.1f}; OMP_WAIT_POLICY {wait})")
        if args.out:
            with open(args.out, "a+") as f:
                f.seek(0)
                if HEADER not in f.read():
                    f.write(HEADER)
                f.write(f"| {datetime.now(timezone.utc):%Y-%m-%d %H:%M} | {preset} | {B} x {T} | "
                        f"{args.threads} | {tps:,.0f} | {best:,.0f} | {sec * 1e3:.0f} | {machine} | "
                        f"{torch.__version__} | {wait} | {load:.1f} |\n")


if __name__ == "__main__":
    main()
