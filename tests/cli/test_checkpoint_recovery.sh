#!/usr/bin/env bash
# A run whose ckpt/latest was deleted resumes from its newest valid checkpoint (saying so)
# and never starts over; --fresh never deletes the --run.resume it was given; latest naming a
# file outside its folder, or no valid checkpoint
# left, is one error line. A full disk (a small tmpfs, where this machine lets us mount one;
# skipped with the reason otherwise) stops the run, in one process and under mpirun, with exit
# 1 and one line naming "No space left on device" and the path, the previous checkpoint and
# latest intact; once there is space again, the resumed run ends with the model of a run that
# was never stopped.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
checksum() { "$bin" inspect --verify "$1" | sed -n 's/^model: .*checksum \([0-9a-f]*\)$/\1/p'; }
rounds_of() { cut -d, -f1 "$1/metrics.csv" | tail -n +2 | tr '\n' ' '; }

"$bin" prepare --prepare.corpus spam --prepare.input "$src/data/samples/spam-assassin" --prepare.seq_len 32 \
  --prepare.clients 4 --prepare.output "$tmp/spam.h5" >/dev/null 2>&1
job=(train --data.path "$tmp/spam.h5" --model.preset tiny --model.n_classes 2 --model.seq_len 32 --model.n_experts 4
     --model.d_ff 32 --model.n_layers 1 --fl.clients_per_round 2 --fl.budget 2
     --fl.profiles "$src/jobs/profiles/default.csv" --train.local_steps 1 --run.threads 1 --run.ckpt_every 1 --run.ckpt_keep 3)

# 1. latest deleted: resume from train_3.h5, not from round 1.
"$bin" "${job[@]}" --fl.rounds 3 --out "$tmp/a" >/dev/null 2>&1
rm "$tmp/a/ckpt/latest"
"$bin" "${job[@]}" --fl.rounds 5 --out "$tmp/a" >/dev/null 2>"$tmp/a.log"
check "no latest: the log says it resumes from the newest valid checkpoint" \
  grep -q "latest is missing: resuming from the newest valid checkpoint, .*train_3.h5" "$tmp/a.log"
check "metrics continue: rounds 1..5 once each ($(rounds_of "$tmp/a"))" test "$(rounds_of "$tmp/a")" = "1 2 3 4 5 "
# --fresh with a --run.resume inside the run's own ckpt folder would delete it: refused, folder intact.
rc=0; "$bin" "${job[@]}" --fl.rounds 6 --out "$tmp/a" --fresh --run.resume "$tmp/a/ckpt/../ckpt/train_5.h5" \
  >/dev/null 2>"$tmp/fresh.err" || rc=$?
check "--fresh refuses to delete --run.resume's checkpoint, and leaves it" \
  bash -c "[[ $rc == 2 && \$(grep -c '^error:' '$tmp/fresh.err') == 1 ]] && grep -q 'fresh would delete .* which holds --run.resume' '$tmp/fresh.err' && [[ -f '$tmp/a/ckpt/train_5.h5' ]]"
# A damaged newest is skipped (and named); none valid is one error line.
rm "$tmp/a/ckpt/latest"
head -c 1000 "$tmp/a/ckpt/train_5.h5" >"$tmp/cut" && cp "$tmp/cut" "$tmp/a/ckpt/train_5.h5"
"$bin" "${job[@]}" --fl.rounds 5 --out "$tmp/a" >/dev/null 2>"$tmp/a.log"
check "a damaged newest checkpoint is skipped" grep -q "resuming from the newest valid checkpoint, .*train_4.h5 (not valid: train_5.h5)" "$tmp/a.log"
for f in "$tmp"/a/ckpt/train_*.h5; do cp "$tmp/cut" "$f"; done
rm -f "$tmp/a/ckpt/latest"
rc=0; "$bin" "${job[@]}" --fl.rounds 6 --out "$tmp/a" >/dev/null 2>"$tmp/a.err" || rc=$?
check "no valid checkpoint: exit 2 ($rc), one line" \
  bash -c "[[ $rc == 2 && \$(grep -c '^error:' '$tmp/a.err') == 1 ]] && grep -q 'none is valid; pass --run.resume FILE .* or --fresh' '$tmp/a.err'"

# latest naming another run's checkpoint.
"$bin" "${job[@]}" --fl.rounds 1 --out "$tmp/b" >/dev/null 2>&1
echo "../../a/ckpt/train_5.h5" >"$tmp/b/ckpt/latest"
rc=0; "$bin" "${job[@]}" --fl.rounds 2 --out "$tmp/b" >/dev/null 2>"$tmp/b.err" || rc=$?
check "latest outside its folder: exit 2 ($rc), one line with the fix" \
  bash -c "[[ $rc == 2 && \$(grep -c '^error:' '$tmp/b.err') == 1 ]] && grep -q 'outside its folder .*bare file name' '$tmp/b.err'"

if ((failures > 0)); then
  echo "$failures checkpoint recovery checks failed"
  exit 1
fi

# 3. A full disk.
disk="$tmp/disk"
mkdir "$disk"
if [[ $(id -u) != 0 ]] || ! mount -t tmpfs -o size=2m tmpfs "$disk" 2>/dev/null; then
  echo "all latest checks passed; SKIP the disk-full checks: cannot mount a tmpfs here (needs root and mount rights)"
  exit 77
fi
trap 'umount "$disk"; rm -rf "$tmp"' EXIT
"$bin" "${job[@]}" --fl.rounds 2 --out "$tmp/ref" >/dev/null 2>&1
"$bin" "${job[@]}" --fl.rounds 1 --out "$disk/run" >/dev/null 2>&1
dd if=/dev/zero of="$disk/filler" bs=64k status=none 2>/dev/null || true
rc=0; "$bin" "${job[@]}" --fl.rounds 2 --out "$disk/run" >/dev/null 2>"$tmp/full.err" || rc=$?
check "disk full: exit 1 (got $rc)" test "$rc" = 1
check "one error line naming ENOSPC and the path" \
  bash -c "[[ \$(grep -c '^error:' '$tmp/full.err') == 1 ]] && grep -q '^error: cannot write $disk/run/.*No space left on device' '$tmp/full.err'"
check "latest still names train_1.h5" test "$(cat "$disk/run/ckpt/latest")" = train_1.h5
check "train_1.h5 verifies" bash -c "\"$bin\" inspect --verify \"$disk/run/ckpt/train_1.h5\" | grep -q 'all OK'"
# The same under mpirun (1 server + 2 executors).
rc=0; "$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${job[@]}" --fl.rounds 2 --out "$disk/run" >/dev/null 2>"$tmp/full_mpi.err" || rc=$?
check "disk full under mpirun: exit 1 (got $rc)" test "$rc" = 1
check "... one error line naming ENOSPC and the path (agreed, or from the rank that failed alone)" \
  bash -c "[[ \$(grep -c '^error:' '$tmp/full_mpi.err') == 1 ]] && grep -qE '^error: (\\[rank 0\\] )?cannot write $disk/run/.*No space left on device' '$tmp/full_mpi.err'"
check "... latest still names train_1.h5" test "$(cat "$disk/run/ckpt/latest")" = train_1.h5
rm "$disk/filler"
"$bin" "${job[@]}" --fl.rounds 2 --out "$disk/run" >/dev/null 2>&1
check "with space again, the resumed run ends bit-identical to one never stopped" \
  test "$(checksum "$disk/run/ckpt/train_2.h5")" = "$(checksum "$tmp/ref/ckpt/train_2.h5")"

if ((failures > 0)); then
  echo "$failures checkpoint recovery checks failed"
  exit 1
fi
echo "all checkpoint recovery checks passed"
