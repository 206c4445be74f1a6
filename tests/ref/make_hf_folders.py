"""Writes the tiny Hugging Face model folders that tests/unit/test_hf_import.cpp imports.

    /usr/bin/python3 tests/ref/make_hf_folders.py   (Debian's python3-torch, python3-numpy)

One folder per family in tests/data/hf/<family>/ (and deepseek_dense/, DeepSeekMoE with a dense first layer), holding the weights of one reference case of
make_reference.py (the same seed draws the same float32 weights, so the C++ test checks the
imported tensors bit for bit against tests/data/ref/<case>.h5 and then the loss and every
gradient against the float64 reference there):
  config.json         the family's own keys (transformers' MixtralConfig, Qwen2MoeConfig,
                      OlmoeConfig, DeepSeekMoE's DeepseekConfig), with the case's sizes
  model.safetensors   F32, the family's own tensor names (its modeling_*.py module paths);
                      deepseek is written as two shards plus model.safetensors.index.json
No tokenizer file: the vocabulary is the byte-level one (the import needs --model.tokenizer byte260).
Names and keys are written here from the published architectures, not from the C++ tables, so
the test checks src/model/hf_families.cpp against an independent statement of them.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import BASE, CASES, init_weights  # noqa: E402
from mixtral_ref import Config  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "hf")

# folder -> (family, reference case)
FOLDERS = {"mixtral": ("mixtral", "lm_gqa"), "qwen2_moe": ("qwen2_moe", "lm_qwen2_moe"), "olmoe": ("olmoe", "lm_olmoe"),
           "deepseek": ("deepseek", "lm_deepseek"), "deepseek_dense": ("deepseek", "lm_deepseek_dense")}


def hf_config(family, cfg):
    """config.json of the family, every key its config class reads for this architecture."""
    common = dict(vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layers,
                  num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_kv_heads,
                  num_experts_per_tok=cfg.top_k, max_position_embeddings=cfg.seq_len, rms_norm_eps=cfg.rms_eps,
                  rope_theta=cfg.rope_theta, tie_word_embeddings=cfg.tie_embeddings, hidden_act="silu",
                  initializer_range=0.02, torch_dtype="float32")
    if family == "mixtral":
        return dict(architectures=["MixtralForCausalLM"], model_type="mixtral", num_local_experts=cfg.n_experts,
                    intermediate_size=cfg.d_ff, sliding_window=None, router_aux_loss_coef=0.02,
                    output_router_logits=False, **common)
    if family == "qwen2_moe":
        return dict(architectures=["Qwen2MoeForCausalLM"], model_type="qwen2_moe", num_experts=cfg.n_experts,
                    moe_intermediate_size=cfg.d_ff, shared_expert_intermediate_size=cfg.shared_ff,
                    intermediate_size=4 * cfg.d_model, norm_topk_prob=cfg.norm_topk_prob, decoder_sparse_step=1,
                    mlp_only_layers=[], use_sliding_window=False, sliding_window=cfg.seq_len, max_window_layers=2,
                    router_aux_loss_coef=0.001, output_router_logits=False, **common)
    if family == "olmoe":
        return dict(architectures=["OlmoeForCausalLM"], model_type="olmoe", num_experts=cfg.n_experts,
                    intermediate_size=cfg.d_ff, norm_topk_prob=cfg.norm_topk_prob, clip_qkv=None,
                    attention_bias=False, attention_dropout=0.0, router_aux_loss_coef=0.01,
                    output_router_logits=False, **common)
    if family == "deepseek":
        return dict(architectures=["DeepseekForCausalLM"], model_type="deepseek", n_routed_experts=cfg.n_experts,
                    moe_intermediate_size=cfg.d_ff, n_shared_experts=cfg.n_shared_experts,
                    intermediate_size=cfg.dense_d_ff or 4 * cfg.d_model, first_k_dense_replace=cfg.first_k_dense,
                    moe_layer_freq=1,
                    scoring_func="softmax", norm_topk_prob=cfg.norm_topk_prob, aux_loss_alpha=0.001,
                    seq_aux=True, attention_bias=False, pretraining_tp=1, **common)
    raise ValueError(family)


def hf_name(family, name):
    """The C++ ParamTable name (src/model/params.h) -> the family's module path."""
    top = {"tok_emb": "model.embed_tokens.weight", "final_norm": "model.norm.weight", "lm_head": "lm_head.weight"}
    if name in top:
        return top[name]
    layer, rest = name.split("/", 1)
    pre = f"model.layers.{layer.split('_')[1]}."
    attn = {"attn_norm": "input_layernorm.weight", "ffn_norm": "post_attention_layernorm.weight",
            "wq": "self_attn.q_proj.weight", "wk": "self_attn.k_proj.weight", "wv": "self_attn.v_proj.weight",
            "wo": "self_attn.o_proj.weight", "bq": "self_attn.q_proj.bias", "bk": "self_attn.k_proj.bias",
            "bv": "self_attn.v_proj.bias", "q_norm": "self_attn.q_norm.weight", "k_norm": "self_attn.k_norm.weight"}
    if rest in attn:
        return pre + attn[rest]
    moe = "block_sparse_moe." if family == "mixtral" else "mlp."
    if rest == "router":
        return pre + moe + "gate.weight"
    proj = ({"w1": "w1", "w3": "w3", "w2": "w2"} if family == "mixtral"
            else {"w1": "gate_proj", "w3": "up_proj", "w2": "down_proj"})
    if rest.startswith("expert_"):
        e, w = rest[len("expert_"):].split("/")
        return pre + moe + f"experts.{e}.{proj[w]}.weight"
    if rest.startswith("mlp/"):  # a dense layer's MLP (DeepseekMLP, Qwen2MoeMLP)
        return pre + "mlp." + proj[rest.split("/")[1]] + ".weight"
    if rest == "shared/gate":
        return pre + "mlp.shared_expert_gate.weight"
    shared = "mlp.shared_expert." if family == "qwen2_moe" else "mlp.shared_experts."
    return pre + shared + proj[rest.split("/")[1]] + ".weight"


def write_safetensors(path, tensors):
    """tensors: {name: float32 array}; the safetensors layout, written by hand (no extra package)."""
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def make_folder(folder, family, case):
    cfg = Config(**{**BASE, **case["cfg"]})
    weights = init_weights(cfg, np.random.default_rng(case["seed"]))  # the first draws of make_reference's rng
    tensors = {hf_name(family, n): a for n, a in weights.items()}
    out = os.path.join(OUT_DIR, folder)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(hf_config(family, cfg), f, indent=2)
        f.write("\n")
    if family != "deepseek":
        write_safetensors(os.path.join(out, "model.safetensors"), tensors)
        return
    names = sorted(tensors)  # two shards, split mid-model as transformers' save_pretrained does
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for file, part in shards.items():
        write_safetensors(os.path.join(out, file), {n: tensors[n] for n in part})
    index = {"metadata": {"total_size": int(sum(a.nbytes for a in tensors.values()))},
             "weight_map": {n: file for file, part in shards.items() for n in part}}
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def main():
    by_name = {c["name"]: c for c in CASES}
    for folder, (family, case) in FOLDERS.items():
        make_folder(folder, family, by_name[case])
        size = sum(os.path.getsize(os.path.join(OUT_DIR, folder, f)) for f in os.listdir(os.path.join(OUT_DIR, folder)))
        print(f"tests/data/hf/{folder}: {size / 1024:.0f} KiB from case {case}")


if __name__ == "__main__":
    main()
