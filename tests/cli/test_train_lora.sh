#!/usr/bin/env bash
# Federated fine-tuning with LoRA adapters over a frozen NF4 base (train.adapter=lora): the base
# comes from a pretrain checkpoint on every rank, only the adapters (and the small tensors
# trained in full) travel and are checkpointed; the final model is bit-identical in-process and
# at 3 ranks and after a resume; the bytes exchanged fall against full fine-tuning; the
# checkpoint names its base (path, sha256), which resume and eval check; inspect, eval and
# export (merged weights, PEFT adapter, and back) read it; the frozen base is bit-identical
# after a run; adapter options without train.adapter=lora and impossible ranks are one-line
# usage errors.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"
checksum() { "$bin" inspect "$1" | sed -n 's/^model: .*checksum \([0-9a-f]*\)$/\1/p'; }
summary() { sed -n "s/^$2 *\([0-9]*\).*/\1/p" "$1/summary.txt"; }

"$bin" prepare --prepare.corpus sotu --prepare.seq_len 64 --prepare.output "$tmp/sotu.h5" >/dev/null 2>&1
model=(--model.preset tiny --model.seq_len 64)
"$bin" pretrain --data.path "$tmp/sotu.h5" "${model[@]}" --pretrain.steps 10 --pretrain.batch_size 4 \
  --pretrain.eval_every 10 --pretrain.eval_rows 16 --run.threads 1 --out "$tmp/base" >/dev/null 2>&1
ck="$tmp/base/ckpt/pretrain_10.h5"

job=(train "${model[@]}" --data.path "$tmp/sotu.h5" --fl.clients_per_round 3 --train.local_steps 2
  --train.batch_size 4 --run.threads 1 --train.init "$ck")
lora=(--train.adapter lora --train.lora_rank 4 --train.base_dtype nf4)
"$bin" "${job[@]}" "${lora[@]}" --fl.rounds 2 --out "$tmp/a" >/dev/null 2>"$tmp/a.log" || { cat "$tmp/a.log"; exit 1; }
check "the log names the frozen base and its source" grep -q "frozen base (nf4) and initial model from" "$tmp/a.log"
check "the checkpoint holds adapters, not the base" \
  bash -c "'$bin' inspect '$tmp/a/ckpt/train_2.h5' | grep -q 'w1_lora_A \[4, 64\]' &&
    ! '$bin' inspect '$tmp/a/ckpt/train_2.h5' | grep -q ' w1 \['"
"$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${job[@]}" "${lora[@]}" --fl.rounds 2 --out "$tmp/b" >/dev/null 2>"$tmp/b.log" ||
  { cat "$tmp/b.log"; exit 1; }
check "1 and 3 ranks: bit-identical adapters" \
  test "$(checksum "$tmp/a/ckpt/train_2.h5")" = "$(checksum "$tmp/b/ckpt/train_2.h5")"
"$bin" "${job[@]}" "${lora[@]}" --fl.rounds 1 --out "$tmp/r" >/dev/null 2>&1
"$bin" "${job[@]}" "${lora[@]}" --fl.rounds 2 --out "$tmp/r" >/dev/null 2>&1
check "resumed after round 1 == uninterrupted" \
  test "$(checksum "$tmp/a/ckpt/train_2.h5")" = "$(checksum "$tmp/r/ckpt/train_2.h5")"
"$bin" "${job[@]}" --fl.rounds 2 --out "$tmp/full" >/dev/null 2>&1
up_lora=$(summary "$tmp/a" bytes_up) up_full=$(summary "$tmp/full" bytes_up)
check "adapters move fewer bytes than full fine-tuning ($up_lora vs $up_full)" test "$((up_lora * 4))" -lt "$up_full"

# The checkpoint names its base; resume and eval check it (data/lora_base.h).
sha=$(sha256sum "$ck" | cut -d' ' -f1)
check "inspect shows the adapters and the base with its sha256" \
  bash -c "'$bin' inspect '$tmp/a/ckpt/train_2.h5' | grep -q 'adapters   LoRA r 4, alpha 16, targets wq,wk,wv,wo,w1,w3,w2' &&
    '$bin' inspect '$tmp/a/ckpt/train_2.h5' | grep -qF 'base       nf4, $ck (sha256 $sha)'"
"$bin" pretrain --data.path "$tmp/sotu.h5" "${model[@]}" --pretrain.steps 10 --pretrain.batch_size 4 --run.seed 2 \
  --pretrain.eval_every 10 --pretrain.eval_rows 16 --run.threads 1 --out "$tmp/other" >/dev/null 2>&1
other="$tmp/other/ckpt/pretrain_10.h5"
cp "$ck" "$tmp/moved.h5"
job_moved=(train "${model[@]}" --data.path "$tmp/sotu.h5" --fl.clients_per_round 3 --train.local_steps 2
  --train.batch_size 4 --run.threads 1 --train.init "$tmp/moved.h5")
"$bin" "${job_moved[@]}" "${lora[@]}" --fl.rounds 1 --out "$tmp/m" >/dev/null 2>&1
cp "$other" "$tmp/moved.h5"
refused "trained over the base $tmp/moved.h5 (sha256 $sha) but the base given is $tmp/moved.h5 (sha256 $(sha256sum "$other" | cut -d' ' -f1))" -- \
  "$bin" "${job_moved[@]}" "${lora[@]}" --fl.rounds 2 --out "$tmp/m"
ev() { "$bin" eval --data.path "$tmp/sotu.h5" --eval.rows 32 --run.threads 1 "$@" 2>/dev/null | sed 's/.*"loss": \([^,]*\),.*/\1/'; }
loss_lora=$(ev --eval.checkpoint "$tmp/a/ckpt/train_2.h5")
check "eval loads base + adapters (loss $loss_lora)" test -n "$loss_lora"
refused "but the base given is $other" -- \
  "$bin" eval --data.path "$tmp/sotu.h5" --eval.checkpoint "$tmp/a/ckpt/train_2.h5" --eval.base "$other"

# export: the merged model and the PEFT adapter; import of the adapter back; a hand-built PEFT file.
"$bin" export --export.checkpoint "$tmp/a/ckpt/train_2.h5" --export.out "$tmp/exp" >/dev/null 2>&1
check "export writes model.safetensors, adapter_model.safetensors, adapter_config.json" \
  bash -c "test -s '$tmp/exp/model.safetensors' && grep -q '\"peft_type\": \"LORA\"' '$tmp/exp/adapter_config.json' &&
    grep -qa 'base_model.model.model.layers.1.block_sparse_moe.experts.7.w2.lora_B.weight' '$tmp/exp/adapter_model.safetensors'"
"$bin" export --export.import "$tmp/exp/model.safetensors" --export.out "$tmp/merged.h5" >/dev/null 2>&1
loss_merged=$(ev --eval.checkpoint "$tmp/merged.h5")
check "the merged model evaluates as base + adapters ($loss_merged vs $loss_lora)" \
  python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 1e-4 * abs(b))" "$loss_merged" "$loss_lora"
"$bin" export --export.import "$tmp/exp" --export.out "$tmp/back.h5" >/dev/null 2>&1
check "export -> import of the PEFT adapter: the same tensors, bit for bit" \
  test "$(checksum "$tmp/a/ckpt/train_2.h5")" = "$(checksum "$tmp/back.h5")"
mkdir "$tmp/peft"
python3 "$src/tests/ref/make_peft_adapter.py" write "$tmp/peft" --base "$ck" --rank 4
"$bin" export --export.import "$tmp/peft" --export.out "$tmp/peft.h5" "${model[@]}" >/dev/null 2>"$tmp/peft.log" ||
  cat "$tmp/peft.log"
"$bin" export --export.checkpoint "$tmp/peft.h5" --export.out "$tmp/peft_again" >/dev/null 2>&1
check "a hand-built PEFT adapter (q_proj, v_proj, w1, w2) imports with every tensor as written" \
  python3 "$src/tests/ref/make_peft_adapter.py" same "$tmp/peft" "$tmp/peft_again"
sed -i 's/"use_rslora": false/"use_rslora": true/' "$tmp/peft/adapter_config.json"
refused "uses rsLoRA (scale alpha / sqrt(r))" -- \
  "$bin" export --export.import "$tmp/peft" --export.out "$tmp/rs.h5" "${model[@]}"
refused "has no adapters (its model is whole)" -- \
  "$bin" eval --data.path "$tmp/sotu.h5" --eval.checkpoint "$ck" --eval.base "$ck"
check "its configuration: r 4, alpha 16, targets wq,wv,w1,w2, fp32 base $ck" \
  bash -c "'$bin' inspect '$tmp/peft.h5' | grep -q 'adapters   LoRA r 4, alpha 16, targets wq,wv,w1,w2' &&
    '$bin' inspect '$tmp/peft.h5' | grep -qF 'base       fp32, $ck (sha256 $sha)'"

# The frozen base is bit-identical after a whole federated run: adapters on w1 only, an fp32
# base; every linear without an adapter comes out of the merged export as the base holds it.
"$bin" "${job[@]}" --train.adapter lora --train.lora_rank 4 --train.lora_targets w1 --fl.rounds 2 --out "$tmp/w1" >/dev/null 2>&1
"$bin" export --export.checkpoint "$tmp/w1/ckpt/train_2.h5" --export.out "$tmp/w1exp" >/dev/null 2>&1
"$bin" export --export.checkpoint "$ck" --export.out "$tmp/base.safetensors" >/dev/null 2>&1
check "the frozen base after 2 rounds: wq wk wv wo w3 w2 bit-identical to train.init, w1 changed" python3 - "$tmp/base.safetensors" "$tmp/w1exp/model.safetensors" <<'PY'
import json, struct, sys
def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        d = f.read()
    return {k: d[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
base, merged = read(sys.argv[1]), read(sys.argv[2])
frozen = [k for k in base if any(p in k for p in ("q_proj", "k_proj", "v_proj", "o_proj", ".w3.", ".w2."))]
adapted = [k for k in base if ".w1." in k]
sys.exit(not (frozen and adapted and all(base[k] == merged[k] for k in frozen) and all(base[k] != merged[k] for k in adapted)))
PY

expect_usage_error() {  # message, expected text, extra options
  local what=$1 text=$2 rc=0
  shift 2
  "$bin" "${job[@]}" --fl.rounds 1 "$@" --out "$tmp/err" >/dev/null 2>"$tmp/err.log" || rc=$?
  check "$what: exit 2 ($rc), one line" bash -c "[[ $rc == 2 ]] && [[ \$(grep -c '^error:' '$tmp/err.log') == 1 ]] &&
    grep -qF '$text' '$tmp/err.log'"
}
expect_usage_error "a rank without train.adapter=lora" "train.lora_rank is set but train.adapter=none" \
  --train.lora_rank 8
expect_usage_error "a quantised base without adapters" "train.base_dtype is set but train.adapter=none" \
  --train.base_dtype nf4
expect_usage_error "a rank of 0" "train.lora_rank=0 must be positive" --train.adapter lora --train.lora_rank 0
expect_usage_error "a negative alpha" "train.lora_alpha must be positive" --train.adapter lora --train.lora_alpha -1
expect_usage_error "a rank above the tensor's smaller side" "train.lora_rank=80 exceeds the smaller dimension (64) of w1" \
  --train.adapter lora --train.lora_rank 80 --train.lora_targets w1
expect_usage_error "an unknown target" "is unknown; list any of w1, w2, w3, wq, wk, wv, wo" \
  --train.adapter lora --train.lora_targets w1,gate

if ((failures > 0)); then
  echo "$failures LoRA training checks failed"
  exit 1
fi
echo "all LoRA training checks passed"
