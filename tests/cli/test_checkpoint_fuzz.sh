#!/usr/bin/env bash
# Damaged checkpoints, seeded and bounded in time: single-byte flips across a small
# checkpoint (its seal, the HDF5 metadata at both ends, the data between) and truncations at
# many sizes, given to `inspect --verify`, `eval` and a resume (`train --run.resume`). Every
# case must end with exit 2 and exactly one error line (and no raw C++ or libhdf5 message),
# never a crash (exit >= 128) and never
# "all OK"; the damaged file is left as it was. (A flip always changes the bytes, and the
# whole-file crc32 catches every change of up to 32 bits, so no case may load.)
# HFEDMOE_FUZZ_SEED picks other cases; HFEDMOE_FUZZ_SECONDS bounds the time (default 100).
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
seed=${HFEDMOE_FUZZ_SEED:-13}
budget=${HFEDMOE_FUZZ_SECONDS:-100}
RANDOM=$seed
echo "seed $seed, at most ${budget}s"

"$bin" prepare --prepare.corpus spam --prepare.input "$src/data/samples/spam-assassin" --prepare.seq_len 32 \
  --prepare.clients 4 --prepare.output "$tmp/spam.h5" >/dev/null 2>&1
job=(train --data.path "$tmp/spam.h5" --model.preset tiny --model.n_classes 2 --model.seq_len 32 --model.n_experts 4
     --model.d_ff 32 --model.n_layers 1 --fl.clients_per_round 2 --fl.budget 2
     --fl.profiles "$src/jobs/profiles/default.csv" --train.local_steps 1 --run.threads 1)
"$bin" "${job[@]}" --fl.rounds 1 --out "$tmp/run" >/dev/null 2>&1
good="$tmp/run/ckpt/train_1.h5"
size=$(stat -c %s "$good")
"$bin" inspect --verify "$good" >"$tmp/out"
check "the undamaged checkpoint verifies" grep -q "all OK" "$tmp/out"

# expect_one_error NAME COMMAND...: exit 2, one error line, no "all OK", the file unchanged.
cases=0
expect_one_error() {
  local name=$1 rc=0 sum; shift
  sum=$(md5sum <"$tmp/bad.h5")
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  cases=$((cases + 1))
  # (a resume logs its setup first: those lines are not errors, but nothing else may be)
  if [[ $rc == 2 && $(grep -c '^error:' "$tmp/err") == 1 ]] &&
    ! grep -qE "terminate|what\(\)|Segmentation|bad_alloc|map::at|_M_create|HDF5-DIAG" "$tmp/err" &&
    ! grep -q "all OK" "$tmp/out" && [[ $(md5sum <"$tmp/bad.h5") == "$sum" ]]; then
    return 0
  fi
  echo "FAIL: $name: exit $rc"; head -c 2000 "$tmp/err"; failures=$((failures + 1))
}

# The three readers on the damaged file at $tmp/bad.h5; eval and resume on every third case
# (each costs a process start), in turn.
n=0
try_all() {
  local what=$1
  expect_one_error "inspect --verify, $what" "$bin" inspect --verify "$tmp/bad.h5"
  case $((n++ % 3)) in
    0) expect_one_error "eval, $what" "$bin" eval --eval.checkpoint "$tmp/bad.h5" --data.path "$tmp/spam.h5" --eval.rows 4 ;;
    1) rm -rf "$tmp/resumed"
       expect_one_error "resume, $what" "$bin" "${job[@]}" --fl.rounds 2 --run.resume "$tmp/bad.h5" --out "$tmp/resumed" ;;
  esac
}

flip() {  # flip OFFSET: xor one byte of a fresh copy with a nonzero value
  local at=$1 old new
  cp "$good" "$tmp/bad.h5"
  old=$(od -An -tu1 -j "$at" -N1 "$tmp/bad.h5" | tr -d ' ')
  new=$((old ^ (RANDOM % 255 + 1)))
  printf "\\x$(printf %02x "$new")" | dd of="$tmp/bad.h5" bs=1 seek="$at" conv=notrunc status=none
}

# Offsets: the seal (first 512 bytes), the HDF5 superblock and metadata just after it and at
# the end of the file (object headers, names, attributes, the manifest), and anywhere.
offsets=()
for _ in 1 2 3 4 5 6; do offsets+=($((RANDOM % 512))); done
for _ in $(seq 12); do offsets+=($((512 + RANDOM % 4096))); done
for _ in $(seq 12); do offsets+=($((size - 1 - RANDOM % 8192))); done
for _ in $(seq 10); do offsets+=($(((RANDOM * 32768 + RANDOM) % size))); done
cuts=(0 1 8 300 511 512 513 1024 $((size / 4)) $((size / 2)) $((size - 4096)) $((size - 1)))

start=$SECONDS
for at in "${offsets[@]}"; do
  ((SECONDS - start < budget)) || break
  flip "$at"
  try_all "byte $at flipped"
done
for cut in "${cuts[@]}"; do
  ((SECONDS - start < budget)) || break
  head -c "$cut" "$good" >"$tmp/bad.h5"
  try_all "cut to $cut bytes"
done
echo "$cases cases (${#offsets[@]} flips and ${#cuts[@]} cuts planned) in $((SECONDS - start))s"
check "at least 60 cases ran in the time" test "$cases" -ge 60

if ((failures > 0)); then
  echo "$failures checkpoint fuzz checks failed (seed $seed)"
  exit 1
fi
echo "all checkpoint fuzz checks passed"
