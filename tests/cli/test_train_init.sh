#!/usr/bin/env bash
# Pretrain, then fine-tune a classifier: `train --train.init <LM pretrain checkpoint>` on a
# classification dataset loads every tensor but the classification head, which starts fresh
# (seeded by run.seed: two runs are bit-identical) and is logged; a model that differs in any
# other tensor is one error line naming it. Pretrain's router report: routing.txt (one row per
# layer) and the routing_* metrics columns, the same again when a finished run is rerun.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"
checksum() { "$bin" inspect "$1" | sed -n 's/^model: .*checksum \([0-9a-f]*\)$/\1/p'; }

"$bin" prepare --prepare.corpus sotu --prepare.seq_len 64 --prepare.output "$tmp/sotu.h5" >/dev/null 2>&1
"$bin" prepare --prepare.corpus spam --prepare.seq_len 64 --prepare.clients 6 --prepare.output "$tmp/spam.h5" >/dev/null 2>&1
model=(--model.preset tiny --model.n_experts 16 --model.d_ff 64 --model.seq_len 64)
pre=(pretrain --data.path "$tmp/sotu.h5" "${model[@]}" --model.aux_loss_coef 0.01 --pretrain.steps 30
  --pretrain.batch_size 4 --pretrain.eval_every 10 --pretrain.eval_rows 16 --run.threads 1 --out "$tmp/base")
"$bin" "${pre[@]}" 2>"$tmp/pre.log"
ck="$tmp/base/ckpt/pretrain_30.h5"
check "pretrain wrote its final checkpoint" test -f "$ck"
check "routing.txt: a header and one row per layer" \
  bash -c "[[ \$(grep -c '^[01] ' '$tmp/base/routing.txt') == 2 ]] && grep -q 'entropy_nats .*top_share .*max_gate' '$tmp/base/routing.txt'"
check "the report is in the log" grep -q "routing report written to" "$tmp/pre.log"
check "metrics carry the routing columns (4 evaluations with numbers)" \
  test "$(grep -c '"routing_entropy_frac_l1": 0\.[0-9]' "$tmp/base/metrics.jsonl")" = 4
cp "$tmp/base/routing.txt" "$tmp/routing.first"
"$bin" "${pre[@]}" 2>"$tmp/pre2.log"
check "a finished run, rerun: nothing to do, the same routing report" \
  bash -c "grep -q 'nothing to do' '$tmp/pre2.log' && cmp -s '$tmp/base/routing.txt' '$tmp/routing.first'"

printf '[model]\npreset = tiny\nn_experts = 16\nd_ff = 64\nn_classes = 2\nseq_len = 64\n[fl]\nrounds = 2\nclients_per_round = 3\n[train]\nlocal_steps = 2\nbatch_size = 4\n' >"$tmp/job.cfg"
job=(train --config "$tmp/job.cfg" --data.path "$tmp/spam.h5" --run.threads 1 --train.init "$ck")
"$bin" "${job[@]}" --out "$tmp/a" >/dev/null 2>"$tmp/a.log" || { cat "$tmp/a.log"; exit 1; }
check "an LM checkpoint starts a classifier" test -f "$tmp/a/summary.txt"
check "the log says the head starts fresh" \
  grep -q "has no classification head (an LM checkpoint): cls_head/w and cls_head/b start fresh from run.seed=1" "$tmp/a.log"
"$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${job[@]}" --out "$tmp/b" >/dev/null 2>"$tmp/b.log" || { cat "$tmp/b.log"; exit 1; }
check "1 and 3 ranks: bit-identical fine-tuned model (the fresh head is seeded)" \
  test "$(checksum "$tmp/a/ckpt/train_2.h5")" = "$(checksum "$tmp/b/ckpt/train_2.h5")"

rc=0
"$bin" "${job[@]}" --model.d_ff 32 --out "$tmp/c" >/dev/null 2>"$tmp/c.err" || rc=$?
check "another d_ff: exit 2 ($rc) with one line naming the tensor and the fix" \
  bash -c "[[ $rc == 2 ]] && [[ \$(grep -c '^error:' '$tmp/c.err') == 1 ]] &&
    grep -q 'tensor layer_0/expert_0/w1 has shape \[64, 64\] in the checkpoint, the model expects \[32, 64\]; use the --model options' '$tmp/c.err'"

if ((failures > 0)); then
  echo "$failures train.init checks failed"
  exit 1
fi
echo "all train.init checks passed"
