#!/usr/bin/env bash
# hfedmoe inspect on a checkpoint, a dataset and a foreign HDF5 file; --verify passes on a
# good checkpoint and names the dataset whose bytes were flipped; a damaged or truncated
# checkpoint stops a resume with one error line and is left as it was.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
# run CODE OUT ERR COMMAND...: run, keep stdout/stderr, count a failure if the code differs
run() {
  local want=$1 out=$2 err=$3 rc=0; shift 3
  "$@" >"$out" 2>"$err" || rc=$?
  check "exit $want from ${*:1:3}... (got $rc)" test "$rc" = "$want"
}

cat "$src"/data/samples/sotu/*.txt >"$tmp/sotu.txt"
pt=(pretrain --data.path "$tmp/sotu.txt" --model.seq_len 32 --pretrain.steps 20 --pretrain.batch_size 2
    --pretrain.eval_every 10 --pretrain.eval_rows 8 --run.threads 1 --out "$tmp/run")
"$bin" "${pt[@]}" 2>/dev/null
ck="$tmp/run/ckpt/pretrain_20.h5"

run 0 "$tmp/out" "$tmp/err" "$bin" inspect "$ck"
check "says it is a checkpoint" grep -q "^checkpoint $ck" "$tmp/out"
check "kind and step" grep -q "kind       pretrain, step 20" "$tmp/out"
check "seed, method, build" grep -qE "^  seed +1$" "$tmp/out"
check "method" grep -qE "^  method +pretrain$" "$tmp/out"
check "build" grep -qE "^  build +[0-9]" "$tmp/out"
check "model summary with checksum" grep -qE "^model: 65 tensors, 460,608 parameters, checksum [0-9a-f]{8}$" "$tmp/out"
check "experts summarised per layer" grep -q "experts 0..7, each: w1 \[128, 64\], w3 \[128, 64\], w2 \[64, 128\]" "$tmp/out"
check "server arrays" grep -qE "adam_m +f32 \[460608\]" "$tmp/out"
check "metrics summary" grep -q "^metrics: 3 rows" "$tmp/out"
check "config printed" grep -q "^  seq_len = 32" "$tmp/out"
run 0 "$tmp/out" "$tmp/err" "$bin" inspect --verify "$ck"
check "--verify passes on a good checkpoint" grep -q "^verify: .* all OK" "$tmp/out"

# A dataset file: described by the data layer.
if "$bin" prepare --prepare.corpus sotu --prepare.input "$src/data/samples/sotu" --prepare.seq_len 64 \
     --prepare.output "$tmp/sotu.h5" >/dev/null 2>&1; then
  run 0 "$tmp/out" "$tmp/err" "$bin" inspect "$tmp/sotu.h5" --verify
  check "dataset described" grep -q "^dataset $tmp/sotu.h5" "$tmp/out"
  check "dataset verified" grep -q "^verify: .* all OK" "$tmp/out"
fi

# Flip four bytes in the middle of the file (tensor data: HDF5 metadata sits at the ends).
cp "$ck" "$tmp/bad.h5"
size=$(stat -c %s "$tmp/bad.h5")
printf '\x5a\xa5\x5a\xa5' | dd of="$tmp/bad.h5" bs=1 seek=$((size / 2)) conv=notrunc status=none
run 2 "$tmp/out" "$tmp/err" "$bin" inspect --verify "$tmp/bad.h5"
check "--verify names the whole-file check" grep -q "^error: .*bad.h5: fails its whole-file crc32 check" "$tmp/err"
check "--verify: one error line, no 'all OK'" \
  bash -c "[[ \$(grep -c '^error:' '$tmp/err') == 1 ]] && ! grep -q 'all OK' '$tmp/out'"

# Resume from the damaged checkpoint: one error naming the dataset; nothing overwritten.
cp "$tmp/bad.h5" "$ck"
sum=$(md5sum <"$ck")
"$bin" "${pt[@]}" >/dev/null 2>"$tmp/err" && rc=0 || rc=$?
check "resume from a damaged checkpoint exits 2 (got $rc)" test "$rc" = 2
check "the error names the crc check" grep -q "^error: .*fails its whole-file crc32 check" "$tmp/err"
check "the damaged file is left as it was" test "$(md5sum <"$ck")" = "$sum"

# A truncated checkpoint: one clear error.
head -c $((size / 2)) "$tmp/bad.h5" >"$ck"
"$bin" "${pt[@]}" >/dev/null 2>"$tmp/err" && rc=0 || rc=$?
check "resume from a truncated checkpoint exits 2 (got $rc)" test "$rc" = 2
check "truncation: one error line naming the file" grep -q "^error: .*pretrain_20.h5.*truncated" "$tmp/err"

# Something else entirely.
run 2 "$tmp/out" "$tmp/err" "$bin" inspect "$src/README.md"
check "a text file: not HDF5" grep -q "^error: .*is not an HDF5 file" "$tmp/err"
run 2 "$tmp/out" "$tmp/err" "$bin" inspect
check "no file: usage error" grep -q "^error: inspect needs a file" "$tmp/err"

if ((failures > 0)); then
  echo "$failures inspect checks failed"
  exit 1
fi
echo "all inspect checks passed"
