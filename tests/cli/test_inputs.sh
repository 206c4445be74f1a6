#!/usr/bin/env bash
# Lesser inputs (issue 13, items 4 and 8): `prepare` never clobbers a file unasked and never
# its input; a configuration value config.ini cannot store, a folder given as --config or
# --fl.profiles, each one error line with exit 2 and nothing written; a byte-order mark at a
# config file's start is accepted; a checkpoint may be named by its run directory, its ckpt
# folder or ckpt/latest (eval, export, inspect, train.init); data/fetch.sh --help prints usage.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"

# ---- prepare: an existing output only with --prepare.force, never the input ----------------
prep=(prepare --prepare.corpus spam --prepare.seq_len 64 --prepare.clients 6)
"$bin" "${prep[@]}" --prepare.output "$tmp/spam.h5" >/dev/null 2>&1
sum=$(md5sum <"$tmp/spam.h5")
refused "prepare.output=$tmp/spam.h5 exists; pass --prepare.force" -- "$bin" "${prep[@]}" --prepare.output "$tmp/spam.h5" --prepare.seed 2
check "prepare: the existing dataset is left as it was" test "$(md5sum <"$tmp/spam.h5")" = "$sum"
"$bin" "${prep[@]}" --prepare.output "$tmp/spam.h5" --prepare.seed 2 --prepare.force >/dev/null 2>&1 || true
check "prepare --prepare.force replaces it" test "$(md5sum <"$tmp/spam.h5")" != "$sum"
printf '{"text": "one", "label": "a"}\n' >"$tmp/in.jsonl"
ln -s "$tmp/in.jsonl" "$tmp/link.jsonl"
refused "is the input file" -- "$bin" prepare --prepare.corpus jsonl --prepare.input "$tmp/in.jsonl" \
  --prepare.output "$tmp/link.jsonl" --prepare.force
check "prepare: the input is left as it was" grep -q '"one"' "$tmp/in.jsonl"
refused "prepare.output=$tmp is a folder" -- "$bin" "${prep[@]}" --prepare.output "$tmp" --prepare.force

# ---- configuration values and files ------------------------------------------------------------
printf '[model]\npreset = tiny\nn_classes = 2\nseq_len = 64\n[fl]\nrounds = 1\nclients_per_round = 3\n[train]\nlocal_steps = 1\n' >"$tmp/job.cfg"
job=(train --config "$tmp/job.cfg" --data.path "$tmp/spam.h5" --run.threads 1)
refused "run.job_name holds a '#' or a line break" -- "$bin" "${job[@]}" --run.job_name "a#b" --out "$tmp/hash"
refused "out holds a '#' or a line break" -- "$bin" "${job[@]}" --out "$tmp/new
line"
check "a value config.ini cannot store: nothing written" test ! -e "$tmp/hash"
refused "$tmp is a folder, not a file" -- "$bin" train --config "$tmp" --data.path "$tmp/spam.h5" --out "$tmp/cfgdir"
refused "$tmp is a folder, not a file" -- "$bin" "${job[@]}" --fl.profiles "$tmp" --out "$tmp/profdir"
check "a folder as --config or --fl.profiles: nothing written" test ! -e "$tmp/cfgdir" -a ! -e "$tmp/profdir"
{ printf '\xef\xbb\xbf'; cat "$tmp/job.cfg"; } >"$tmp/bom.cfg"
check "a config file starting with a byte-order mark runs" \
  "$bin" train --config "$tmp/bom.cfg" --data.path "$tmp/spam.h5" --run.threads 1 --out "$tmp/run" 2>/dev/null
{ printf '\xef\xbb\xbf'; cat "$src/jobs/profiles/default.csv"; } >"$tmp/bom.csv"
check "a profiles CSV starting with a byte-order mark runs" \
  "$bin" "${job[@]}" --fl.profiles "$tmp/bom.csv" --out "$tmp/run-bom" 2>/dev/null

# ---- a checkpoint by its run directory, ckpt folder or ckpt/latest --------------------------------
ck="$tmp/run/ckpt/train_1.h5"
checksum() { "$bin" inspect "$1" 2>/dev/null | sed -n 's/^model: .*checksum \([0-9a-f]*\)$/\1/p'; }
want=$(checksum "$ck")
check "inspect: the checkpoint itself ($want)" test -n "$want"
for name in "$tmp/run" "$tmp/run/ckpt" "$tmp/run/ckpt/latest"; do
  check "inspect $name: the checkpoint latest names" test "$(checksum "$name")" = "$want"
  "$bin" export --export.checkpoint "$name" --export.out "$tmp/m.safetensors" 2>/dev/null
  check "export --export.checkpoint $name writes safetensors" test -s "$tmp/m.safetensors"
  rm -f "$tmp/m.safetensors"
  check "eval --eval.checkpoint $name" \
    "$bin" eval --eval.checkpoint "$name" --data.path "$tmp/spam.h5" --eval.rows 4 --run.threads 1 --eval.out "$tmp/e.json" 2>/dev/null
done
"$bin" "${job[@]}" --train.init "$tmp/run" --out "$tmp/init" 2>"$tmp/init.log" >/dev/null
check "train --train.init RUN_DIR starts from the checkpoint latest names" grep -q "initial model from $ck" "$tmp/init.log"
refused "eval.checkpoint=$tmp/init/.. is a folder with no checkpoint" -- \
  "$bin" eval --eval.checkpoint "$tmp/init/.." --data.path "$tmp/spam.h5"

# ---- data/fetch.sh --help --------------------------------------------------------------------------
check "data/fetch.sh --help prints usage and exits 0" bash -c "bash '$src/data/fetch.sh' --help | grep -q '^usage: data/fetch.sh'"
refused "unknown option --bogus" -- bash "$src/data/fetch.sh" --bogus

echo "$((failures == 0 ? 1 : 0)) passed, $failures failed"
exit $((failures > 0))
