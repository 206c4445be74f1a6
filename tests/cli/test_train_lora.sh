#!/usr/bin/env bash
# Federated fine-tuning with LoRA adapters over a frozen NF4 base (train.adapter=lora): the base
# comes from a pretrain checkpoint on every rank, only the adapters (and the small tensors
# trained in full) travel and are checkpointed; the final model is bit-identical in-process and
# at 3 ranks and after a resume; the bytes exchanged fall against full fine-tuning; adapter
# options without train.adapter=lora and impossible ranks are one-line usage errors.
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
expect_usage_error "a rank above the tensor's smaller side" "train.lora_rank=80 exceeds the smaller dimension (64) of w1" \
  --train.adapter lora --train.lora_rank 80 --train.lora_targets w1
expect_usage_error "an unknown target" "is unknown; list any of w1, w2, w3, wq, wk, wv, wo" \
  --train.adapter lora --train.lora_targets w1,gate

if ((failures > 0)); then
  echo "$failures LoRA training checks failed"
  exit 1
fi
echo "all LoRA training checks passed"
