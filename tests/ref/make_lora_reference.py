"""Writes the reference tensors of one LoRA linear layer over a frozen base, which
tests/unit/test_ops_lora.cpp and test_ops_quantize.cpp check the ops against.

    /usr/bin/python3 tests/ref/make_lora_reference.py      (Debian's python3-torch and python3-h5py)

tests/data/ref/lora_linear.h5:
  attributes on /: N, IC, OC, r, alpha, scale (= alpha / r), seed
  /x (N, IC), /w (OC, IC), /a (r, IC), /b (OC, r), /dout (N, OC)    float32 inputs
  /out (N, OC), /dx (N, IC), /da (r, IC), /db (OC, r)               float32 of the float64 answer
      for y = x W^T + scale (x A^T) B^T with W frozen and loss = sum(y * dout)
  /nf4/codes, /nf4/scale_codes, /nf4/scale_scales, /nf4/scale_offset, /nf4/dequantized
      W quantised to NF4 (blocks of 64, double-quantised scales) here, in numpy, by the rules
      written in src/ops/quantize.h: an implementation independent of the C++ one
  /nf4/out, /nf4/dx, /nf4/da, /nf4/db                              the same layer over that base
Forward and backward run in float64 from the float32 inputs, so the file holds the exact
answer and any error the test sees is the C++ side's.
"""
import os

import h5py
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "ref", "lora_linear.h5")

# OC = 200: four tiles of 64 rows, the last partial; 19200 weights = 300 NF4 blocks = two
# scale groups of 256, the last partial.
N, IC, OC, R, ALPHA, SEED = 10, 96, 200, 4, 8.0, 21

# bitsandbytes' NF4 table (QLoRA), float32
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], np.float32)
BLOCK, GROUP = 64, 256


def nf4_quantize(w):
    """w float32 (numel) -> packed codes, scale codes, group scales, offset, dequantized."""
    n = w.size
    blocks = (n + BLOCK - 1) // BLOCK
    levels = np.zeros(n, np.uint8)
    scales = np.zeros(blocks, np.float32)
    for b in range(blocks):
        seg = w[b * BLOCK:(b + 1) * BLOCK]
        absmax = np.abs(seg).max()
        scales[b] = absmax
        x = seg / absmax if absmax > 0 else np.zeros_like(seg)          # float32 division
        levels[b * BLOCK:(b + 1) * BLOCK] = np.abs(x[:, None] - NF4[None, :]).argmin(1)  # first = lower level
    padded = np.concatenate([levels, np.zeros(n % 2, np.uint8)])
    packed = (padded[0::2] << 4) | padded[1::2]                          # even element high
    total = 0.0
    for s in scales:                                                     # in order, in double
        total += float(s)
    offset = np.float32(total / blocks)
    groups = (blocks + GROUP - 1) // GROUP
    scale_scales = np.zeros(groups, np.float32)
    scale_codes = np.zeros(blocks, np.int8)
    for g in range(groups):
        seg = scales[g * GROUP:(g + 1) * GROUP]
        s2 = np.float32(np.abs(seg - offset).max() / np.float32(127))
        scale_scales[g] = s2
        code = np.rint((seg - offset) / s2) if s2 > 0 else np.zeros_like(seg)
        scale_codes[g * GROUP:(g + 1) * GROUP] = np.clip(code, -127, 127).astype(np.int8)
    # fma(code, s2, offset): the product is exact in double and so, at these magnitudes, is the
    # sum; one rounding to float32 then equals the fma's
    block_of = np.arange(n) // BLOCK
    scale = (scale_codes.astype(np.float64)[block_of] * scale_scales.astype(np.float64)[block_of // GROUP]
             + np.float64(offset)).astype(np.float32)
    deq = NF4[levels] * scale                                            # float32 product
    return packed.astype(np.uint8), scale_codes, scale_scales, offset, deq


def lora_layer(x, w, a, b, dout, scale):
    """float64 forward and backward; W frozen. Returns out, dx, da, db as float32."""
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    a = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(w, dtype=torch.float64)
    out = x @ w.T + scale * (x @ a.T) @ b.T
    (out * torch.tensor(dout, dtype=torch.float64)).sum().backward()
    assert w.grad is None
    return [t.detach().numpy().astype(np.float32) for t in (out, x.grad, a.grad, b.grad)]


def main():
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((N, IC)).astype(np.float32)
    w = (rng.standard_normal((OC, IC)) / np.sqrt(IC)).astype(np.float32)
    # A as PEFT initialises it (kaiming uniform, a = sqrt(5): U(-1/sqrt(IC), 1/sqrt(IC))); B not
    # zero, as after some training, so that every gradient term is exercised
    a = rng.uniform(-1, 1, (R, IC)).astype(np.float32) / np.float32(np.sqrt(IC))
    b = (0.1 * rng.standard_normal((OC, R))).astype(np.float32)
    dout = rng.standard_normal((N, OC)).astype(np.float32)
    scale = ALPHA / R
    codes, scale_codes, scale_scales, offset, deq = nf4_quantize(w.reshape(-1))
    with h5py.File(OUT, "w") as f:
        for k, v in dict(N=N, IC=IC, OC=OC, r=R, alpha=ALPHA, scale=scale, seed=SEED).items():
            f.attrs[k] = v
        for k, v in dict(x=x, w=w, a=a, b=b, dout=dout).items():
            f[k] = v
        for k, v in zip(("out", "dx", "da", "db"), lora_layer(x, w, a, b, dout, scale)):
            f[k] = v
        f["nf4/codes"] = codes
        f["nf4/scale_codes"] = scale_codes
        f["nf4/scale_scales"] = scale_scales
        f["nf4/scale_offset"] = np.array([offset], np.float32)
        f["nf4/dequantized"] = deq
        for k, v in zip(("out", "dx", "da", "db"), lora_layer(x, deq.reshape(OC, IC), a, b, dout, scale)):
            f["nf4/" + k] = v
    print(f"{os.path.relpath(OUT)}: {os.path.getsize(OUT) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
