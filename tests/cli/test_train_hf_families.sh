#!/usr/bin/env bash
# Federated fine-tuning from an imported Hugging Face folder of each family (tests/data/hf:
# mixtral, qwen2_moe, olmoe, deepseek, and deepseek_dense with its dense first layer;
# tests/ref/make_hf_folders.py): train --train.init_hf starts
# from the folder's architecture and weights; the final model is bit-identical in-process and at
# 3 ranks and after a resume; LoRA over an nf4 base works on the shared experts and biases too;
# export --export.import reads the folder into a checkpoint and export writes a trained model
# back under the family's own tensor names; a folder without a tokenizer needs --model.tokenizer.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"
checksum() { "$bin" inspect "$1" | sed -n 's/^model: .*checksum \([0-9a-f]*\)$/\1/p'; }

"$bin" prepare --prepare.corpus sotu --prepare.seq_len 32 --prepare.output "$tmp/sotu.h5" >/dev/null 2>&1
for family in mixtral qwen2_moe olmoe deepseek deepseek_dense; do
  job=(train --train.init_hf tests/data/hf/$family --model.tokenizer byte260 --model.seq_len 32
    --data.path "$tmp/sotu.h5" --fl.clients_per_round 3 --train.local_steps 2 --train.batch_size 4 --run.threads 1)
  "$bin" "${job[@]}" --fl.rounds 2 --out "$tmp/$family-a" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
  check "$family: the log names the folder" grep -q "initial model from tests/data/hf/$family" "$tmp/err"
  "$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${job[@]}" --fl.rounds 2 --out "$tmp/$family-b" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err"; exit 1; }
  check "$family: 1 and 3 ranks give the same bits" \
    test "$(checksum "$tmp/$family-a/ckpt/train_2.h5")" = "$(checksum "$tmp/$family-b/ckpt/train_2.h5")"
  "$bin" "${job[@]}" --fl.rounds 1 --out "$tmp/$family-r" >/dev/null 2>&1
  "$bin" "${job[@]}" --fl.rounds 2 --out "$tmp/$family-r" >/dev/null 2>&1
  check "$family: resumed after round 1 == uninterrupted" \
    test "$(checksum "$tmp/$family-a/ckpt/train_2.h5")" = "$(checksum "$tmp/$family-r/ckpt/train_2.h5")"
done

# adapters over an nf4 base: the biases, q/k norms and shared experts of Qwen2-MoE, and
# DeepSeekMoE's dense first layer (its MLP adapted as w1 w3 w2); each PEFT export imports back
for family in qwen2_moe deepseek_dense; do
  lora=(train --train.init_hf tests/data/hf/$family --model.tokenizer byte260 --model.seq_len 32
    --data.path "$tmp/sotu.h5" --fl.clients_per_round 3 --train.local_steps 2 --train.batch_size 4 --run.threads 1
    --train.adapter lora --train.lora_rank 4 --train.base_dtype nf4)
  "$bin" "${lora[@]}" --fl.rounds 2 --out "$tmp/$family-lora-a" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
  "$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${lora[@]}" --fl.rounds 2 --out "$tmp/$family-lora-b" >/dev/null 2>&1
  check "$family with LoRA over nf4: 1 and 3 ranks give the same bits" \
    test "$(checksum "$tmp/$family-lora-a/ckpt/train_2.h5")" = "$(checksum "$tmp/$family-lora-b/ckpt/train_2.h5")"
  "$bin" export --export.checkpoint "$tmp/$family-lora-a/ckpt/train_2.h5" --export.out "$tmp/$family-lora-exp" >/dev/null 2>&1
  "$bin" export --export.import "$tmp/$family-lora-exp" --export.out "$tmp/$family-lora-back.h5" >/dev/null 2>"$tmp/err" ||
    cat "$tmp/err"
  check "$family's PEFT adapter is written in its own module names (gate_proj, up_proj, down_proj)" \
    grep -qa 'mlp.experts.0.down_proj.lora_A.weight' "$tmp/$family-lora-exp/adapter_model.safetensors"
  check "$family's PEFT adapter imports back bit for bit" \
    test "$(checksum "$tmp/$family-lora-a/ckpt/train_2.h5")" = "$(checksum "$tmp/$family-lora-back.h5" 2>/dev/null)"
done

# export: the folder into a checkpoint, and a trained model back to the family's names
"$bin" export --export.import tests/data/hf/deepseek --model.tokenizer byte260 --export.out "$tmp/deepseek.h5" \
  >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
check "the imported checkpoint holds the shared experts" \
  bash -c "'$bin' inspect '$tmp/deepseek.h5' | grep -q 'shared: w1 \[32, 32\], w3 \[32, 32\], w2 \[32, 32\]' &&
    '$bin' inspect '$tmp/deepseek.h5' | grep -q 'family     deepseek, top-k not renormalised, 2 shared expert(s) of F 16'"
"$bin" export --export.checkpoint "$tmp/qwen2_moe-a/ckpt/train_2.h5" --export.out "$tmp/qwen-out/" >/dev/null 2>&1
check "a trained qwen2_moe model exports under Qwen2-MoE's names" \
  grep -q 'model.layers.1.mlp.shared_expert_gate.weight' "$tmp/qwen-out/model.safetensors"
check "and Qwen2-MoE's config.json" grep -q '"model_type": "qwen2_moe"' "$tmp/qwen-out/config.json"

"$bin" export --export.checkpoint "$tmp/deepseek_dense-a/ckpt/train_2.h5" --export.out "$tmp/dense-out/" >/dev/null 2>&1
check "a trained deepseek_dense model exports its dense layer under DeepSeekMoE's names" \
  bash -c "grep -q 'model.layers.0.mlp.gate_proj.weight' '$tmp/dense-out/'*.safetensors &&
    ! grep -q 'model.layers.0.mlp.gate.weight' '$tmp/dense-out/'*.safetensors &&
    grep -q '\"first_k_dense_replace\": 1' '$tmp/dense-out/config.json'"
check "inspect names the dense layer" \
  bash -c "'$bin' inspect '$tmp/deepseek_dense-a/ckpt/train_2.h5' | grep -q '1 dense layer(s) of F 40'"

# a folder without a tokenizer file: one line asking for --model.tokenizer
refused "has no tokenizer.json or tokenizer.model" -- \
  "$bin" train --train.init_hf tests/data/hf/olmoe --data.path "$tmp/sotu.h5" --fl.rounds 1 --out "$tmp/x"
refused "model.d_model is set with train.init_hf" -- \
  "$bin" train --train.init_hf tests/data/hf/olmoe --model.tokenizer byte260 --model.d_model 64 \
  --data.path "$tmp/sotu.h5" --fl.rounds 1 --out "$tmp/y"
if ((failures > 0)); then
  echo "$failures Hugging Face family checks failed"
  exit 1
fi
echo "all Hugging Face family checks passed"
