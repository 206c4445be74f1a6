#!/usr/bin/env python3
"""A LoRA adapter folder as Hugging Face PEFT's save_pretrained writes it for a Mixtral model,
built by hand (standard library only), for `hfedmoe export --export.import` (tests/cli/test_train_lora.sh).

  make_peft_adapter.py write DIR --base CKPT [--layers 2 --d_model 64 --kv_dim 64 --d_ff 128 --experts 8 --rank 4]
      adapter_model.safetensors: lora_A / lora_B of q_proj, v_proj (attention) and w1, w2 (every
      expert) under PEFT's names, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight,
      F32, values a fixed formula of (tensor, index); adapter_config.json: LORA, CAUSAL_LM, r,
      lora_alpha 16, target_modules, base_model_name_or_path = CKPT. No modules_to_save.
  make_peft_adapter.py same A B    exit 0 when every tensor of A/adapter_model.safetensors is in
      B/adapter_model.safetensors with the same dtype, shape and bytes (B may hold more)."""
import json
import math
import struct
import sys


def tensors(args):
    L, C, KV, F, E, r = (args[k] for k in ("layers", "d_model", "kv_dim", "d_ff", "experts", "rank"))
    out = []
    for l in range(L):
        attn = f"base_model.model.model.layers.{l}.self_attn."
        out += [(attn + "q_proj.lora_A.weight", (r, C)), (attn + "q_proj.lora_B.weight", (C, r)),
                (attn + "v_proj.lora_A.weight", (r, C)), (attn + "v_proj.lora_B.weight", (KV, r))]
        for e in range(E):
            ex = f"base_model.model.model.layers.{l}.block_sparse_moe.experts.{e}."
            out += [(ex + "w1.lora_A.weight", (r, C)), (ex + "w1.lora_B.weight", (F, r)),
                    (ex + "w2.lora_A.weight", (r, F)), (ex + "w2.lora_B.weight", (C, r))]
    return out


def write(folder, args):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for t, (name, shape) in enumerate(tensors(args)):
        n = shape[0] * shape[1]
        data = struct.pack(f"<{n}f", *(0.05 * math.sin(0.37 * i + 1.3 * t) for i in range(n)))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(f"{folder}/adapter_model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": args["rank"], "lora_alpha": 16,
              "lora_dropout": 0.05, "bias": "none", "fan_in_fan_out": False, "use_rslora": False,
              "target_modules": ["q_proj", "v_proj", "w1", "w2"], "base_model_name_or_path": args["base"]}
    with open(f"{folder}/adapter_config.json", "w") as f:
        json.dump(config, f, indent=2)


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}


def main(argv):
    if len(argv) >= 3 and argv[0] == "same":
        a, b = read(f"{argv[1]}/adapter_model.safetensors"), read(f"{argv[2]}/adapter_model.safetensors")
        bad = [k for k in a if b.get(k) != a[k]]
        for k in bad[:5]:
            print(f"differs or missing: {k}", file=sys.stderr)
        return 1 if bad or not a else 0
    if len(argv) >= 2 and argv[0] == "write":
        args = {"layers": 2, "d_model": 64, "kv_dim": 64, "d_ff": 128, "experts": 8, "rank": 4, "base": ""}
        rest = argv[2:]
        for key, value in zip(rest[::2], rest[1::2]):
            name = key.lstrip("-")
            args[name] = value if name == "base" else int(value)
        write(argv[1], args)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
