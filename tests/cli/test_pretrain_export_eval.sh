#!/usr/bin/env bash
# After pretraining: `eval` scores the checkpoint on a dataset's test split (a JSON line),
# `export` writes safetensors and imports them back to a checkpoint with the same model
# (same checksum, same eval line), and bad inputs give one error line.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
checksum() { "$bin" inspect "$1" | sed -n 's/^model: .*checksum \([0-9a-f]*\)$/\1/p'; }

"$bin" prepare --prepare.corpus sotu --prepare.input "$src/data/samples/sotu" --prepare.seq_len 64 \
  --prepare.output "$tmp/sotu.h5" >/dev/null 2>&1
"$bin" pretrain --data.path "$tmp/sotu.h5" --model.seq_len 64 --pretrain.steps 30 --pretrain.batch_size 4 \
  --pretrain.eval_rows 16 --run.threads 1 --out "$tmp/run" 2>/dev/null
ck="$tmp/run/ckpt/pretrain_30.h5"

"$bin" eval --eval.checkpoint "$ck" --data.path "$tmp/sotu.h5" --eval.rows 32 --run.threads 1 >"$tmp/eval.json" 2>"$tmp/eval.log"
check "eval prints one JSON line with loss and acc" grep -qE '^\{"checkpoint": .*"task": "lm", "rows": 32, "loss": [0-9.]+, "acc": [0-9.]+' "$tmp/eval.json"
check "eval logs a readable summary" grep -q "32 test rows, loss" "$tmp/eval.log"
"$bin" eval --eval.checkpoint "$ck" --data.path "$tmp/sotu.h5" --eval.rows 32 --run.threads 1 --eval.out "$tmp/eval2.json" 2>/dev/null
check "--eval.out holds the same line" cmp -s "$tmp/eval.json" "$tmp/eval2.json"

"$bin" export --export.checkpoint "$ck" --export.out "$tmp/model.safetensors" 2>/dev/null
check "export writes safetensors with Mixtral names" grep -qa "model.layers.1.block_sparse_moe.experts.7.w2.weight" "$tmp/model.safetensors"
"$bin" export --export.import "$tmp/model.safetensors" --export.out "$tmp/imported.h5" 2>/dev/null
check "import: the same model (checksum)" test "$(checksum "$tmp/imported.h5")" = "$(checksum "$ck")"
"$bin" eval --eval.checkpoint "$tmp/imported.h5" --data.path "$tmp/sotu.h5" --eval.rows 32 --run.threads 1 2>/dev/null |
  sed 's/"checkpoint": "[^"]*", "kind": "[^"]*", "round": [0-9]*, "method": "[^"]*", //' >"$tmp/eval3.json"
sed 's/"checkpoint": "[^"]*", "kind": "[^"]*", "round": [0-9]*, "method": "[^"]*", //' "$tmp/eval.json" >"$tmp/eval1.json"
check "import: the same eval numbers" cmp -s "$tmp/eval1.json" "$tmp/eval3.json"
check "import leaves no temporary folder" test ! -e "$tmp/imported.h5.import.d"

expect2() {  # expect2 PATTERN COMMAND...: exit 2 and one error line matching PATTERN
  local pattern=$1 rc=0; shift
  "$@" >/dev/null 2>"$tmp/err" || rc=$?
  check "exit 2, '$pattern' (got $rc: $(grep '^error:' "$tmp/err" | head -1))" \
    bash -c "[[ $rc == 2 ]] && [[ \$(grep -c '^error:' '$tmp/err') == 1 ]] && grep -q -- '$pattern' '$tmp/err'"
}
expect2 "is an hfedmoe dataset, not a checkpoint" "$bin" eval --eval.checkpoint "$tmp/sotu.h5" --data.path "$tmp/sotu.h5"
expect2 "eval.checkpoint is not set" "$bin" eval --data.path "$tmp/sotu.h5"
expect2 "exactly one of" "$bin" export --export.out "$tmp/x"
expect2 "is an hfedmoe dataset, not a checkpoint" "$bin" export --export.checkpoint "$tmp/sotu.h5" --export.out "$tmp/x"
expect2 "drop the --model" "$bin" export --export.import "$tmp/model.safetensors" --export.out "$tmp/x.h5" --model.d_ff 96

if ((failures > 0)); then
  echo "$failures export/eval checks failed"
  exit 1
fi
echo "all export/eval checks passed"
