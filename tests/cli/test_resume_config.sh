#!/usr/bin/env bash
# Exit 2 writes nothing, and a resume continues only the run it was written by (issue 13,
# items 5, 7 and 8): a configuration refused by any check (options, dataset, clients, budgets)
# leaves no run directory behind, so the corrected rerun starts; a resume, from <out>/ckpt/latest
# or --run.resume, is refused in one line naming every differing key when the checkpoint's
# stored configuration differs in a key that changes results, or when fl.rounds is below the
# rounds done, and config.ini is left as it was; the keys that may change do. Train and pretrain.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"
mpi=("$mpiexec" "${mpi_flags[@]}" -np 3)

"$bin" prepare --prepare.corpus spam --prepare.seq_len 64 --prepare.clients 6 --prepare.output "$tmp/spam.h5" >/dev/null 2>&1
printf '[model]\npreset = tiny\nn_classes = 2\nseq_len = 64\n[fl]\nclients_per_round = 3\n[train]\nlocal_steps = 1\n' >"$tmp/job.cfg"
job=(train --config "$tmp/job.cfg" --data.path "$tmp/spam.h5" --run.threads 1)

# ---- item 5: a refused configuration writes nothing ----------------------------------------------
for launch in single mpi; do
  pre=()
  [[ $launch == mpi ]] && pre=("${mpi[@]}")
  refused "fl.clients_per_round=100 exceeds the 6 clients" -- "${pre[@]}" "$bin" "${job[@]}" --fl.clients_per_round 100 --out "$tmp/r-$launch"
  check "$launch: the refused run left no run directory" test ! -e "$tmp/r-$launch"
  refused "has 2 classes but model.n_classes=3" -- "${pre[@]}" "$bin" "${job[@]}" --model.n_classes 3 --out "$tmp/r-$launch"
  refused "no-such.h5" -- "${pre[@]}" "$bin" "${job[@]}" --train.init "$tmp/no-such.h5" --out "$tmp/r-$launch"
  check "$launch: still no run directory" test ! -e "$tmp/r-$launch"
  check "$launch: the corrected rerun runs" "${pre[@]}" "$bin" "${job[@]}" --fl.rounds 1 --out "$tmp/r-$launch" 2>/dev/null >/dev/null
done
refused "no-such.txt" -- "$bin" pretrain --data.path "$tmp/no-such.txt" --out "$tmp/p-bad"
check "pretrain: a missing corpus left no run directory" test ! -e "$tmp/p-bad"

# ---- item 7: resume checks the whole configuration ----------------------------------------------------
"$bin" "${job[@]}" --fl.rounds 2 --out "$tmp/a" >/dev/null 2>&1
cp "$tmp/a/config.ini" "$tmp/a.ini"
refused "holds a run with model.n_experts = 8 (not 4), train.lr = 0.001 (not 0.01)" -- \
  "$bin" "${job[@]}" --fl.rounds 3 --model.n_experts 4 --train.lr 0.01 --out "$tmp/a"
refused "has 2 fl.rounds done, more than fl.rounds=1; give --fl.rounds 2 or more" -- "$bin" "${job[@]}" --fl.rounds 1 --out "$tmp/a"
check "refused resumes leave config.ini as it was" cmp -s "$tmp/a/config.ini" "$tmp/a.ini"
# --run.resume from another run directory: the checkpoint's own configuration decides.
refused "checkpoint $tmp/a/ckpt/train_2.h5 was written with train.lr = 0.001 (not 0.01)" -- \
  "$bin" "${job[@]}" --fl.rounds 3 --train.lr 0.01 --run.resume "$tmp/a" --out "$tmp/b"
check "a refused --run.resume leaves no run directory" test ! -e "$tmp/b"
refused "$tmp/a/ckpt/train_2.h5 has 2 fl.rounds done" -- "$bin" "${job[@]}" --fl.rounds 1 --run.resume "$tmp/a/ckpt/latest" --out "$tmp/b"
# The keys that may change: more rounds, logging, checkpoint cadence, evaluation cadence.
"$bin" "${job[@]}" --fl.rounds 3 --run.log_level warn --run.ckpt_every 1 --run.ckpt_keep 3 --fl.eval_every 2 \
  --run.resume "$tmp/a" --out "$tmp/b" >/dev/null 2>"$tmp/b.log"
check "--run.resume RUN_DIR with more rounds and other logging continues after round 2" test -f "$tmp/b/ckpt/train_3.h5"
"$bin" "${job[@]}" --fl.rounds 3 --out "$tmp/a" >/dev/null 2>"$tmp/a.log"
check "the same run with more rounds resumes" grep -q "resuming from $tmp/a/ckpt/train_2.h5 after round 2" "$tmp/a.log"

# ---- pretrain: the same rules --------------------------------------------------------------------------
pt=(pretrain --data.path "$src/README.md" --model.seq_len 64 --pretrain.batch_size 2 --pretrain.eval_rows 4 --run.threads 1)
"$bin" "${pt[@]}" --pretrain.steps 4 --out "$tmp/p" >/dev/null 2>&1
refused "checkpoint $tmp/p/ckpt/pretrain_4.h5 was written with pretrain.lr = 0.001 (not 0.002)" -- \
  "$bin" "${pt[@]}" --pretrain.steps 4 --pretrain.lr 0.002 --run.resume "$tmp/p/ckpt/latest" --out "$tmp/q"
refused "has 4 pretrain.steps done, more than pretrain.steps=2" -- "$bin" "${pt[@]}" --pretrain.steps 2 --run.resume "$tmp/p" --out "$tmp/q"
refused "is a pretrain checkpoint, not a train one" -- "$bin" "${job[@]}" --fl.rounds 3 --run.resume "$tmp/p" --out "$tmp/q"
check "refused pretrain resumes leave no run directory" test ! -e "$tmp/q"

echo "$((failures == 0 ? 1 : 0)) passed, $failures failed"
exit $((failures > 0))
