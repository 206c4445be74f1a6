#!/usr/bin/env bash
# Bad input gives one clear line and a non-zero exit, on one process and under mpirun -np 3
# (where every rank must stop within seconds). Env from ctest: HFEDMOE_BIN, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
bin=${HFEDMOE_BIN:?set HFEDMOE_BIN to the hfedmoe binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect CODE PATTERN -- command...: exit code CODE, exactly one stderr line starting with
# "error:" that matches PATTERN.
expect() {
  local code=$1 pattern=$2; shift 3
  local rc=0
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  local errors
  errors=$(grep -c '^error:' "$tmp/err" || true)
  if [[ $rc != "$code" ]] || [[ $errors != 1 ]] || ! grep -q -- "$pattern" "$tmp/err"; then
    echo "FAIL: $* -> exit $rc (want $code), $errors error lines (want 1), pattern '$pattern'"
    sed 's/^/  | /' "$tmp/err" | head -20
    failures=$((failures + 1))
  else
    echo "ok: $* -> $(grep '^error:' "$tmp/err")"
  fi
}

expect 2 "unknown command 'bogus'" -- "$bin" bogus
expect 2 "no-such-option" -- "$bin" train --no-such-option
printf '[fl]\nrounds = many\n' >"$tmp/bad_value.cfg"
expect 2 "fl.rounds" -- "$bin" train --config "$tmp/bad_value.cfg"
printf '[fl]\nrounds = -3\n' >"$tmp/bad_range.cfg"
expect 2 "fl.rounds=-3 is out of range" -- "$bin" train --config "$tmp/bad_range.cfg"
printf '[fl]\nno_such_key = 1\n' >"$tmp/bad_key.cfg"
expect 2 "no_such_key" -- "$bin" train --config "$tmp/bad_key.cfg"
expect 2 "cannot read config file" -- "$bin" train --config "$tmp/missing.cfg"
expect 2 "model preset 'huge' is unknown" -- "$bin" train --data.path "$tmp/none.h5" --model.preset huge
expect 2 "run.backend" -- "$bin" train --run.backend tpu
expect 2 "run.precision=tf32 applies to the CUDA backend only" -- "$bin" train --run.precision tf32
expect 2 "run.server_gpu needs run.backend=cuda" -- "$bin" pretrain --run.server_gpu true
expect 2 "fl.memory_check" -- "$bin" train --fl.memory_check sometimes
expect 2 "fl.budget_scope" -- "$bin" train --fl.budget_scope network
expect 2 "fl.reselect" -- "$bin" train --fl.reselect epoch
expect 2 "fl.tau=often is neither auto nor a number" -- "$bin" train --fl.tau often
expect 2 "fl.tau=1.5 is out of range" -- "$bin" train --fl.tau 1.5
expect 2 "fl.val_fraction=0.9 is out of range" -- "$bin" train --fl.val_fraction 0.9
expect 2 "fl.eval_last=0 is out of range" -- "$bin" train --fl.eval_last 0

# Under mpirun every rank stops, quickly, with the one line printed once.
read -r -a mpi_flags <<<"${MPIEXEC_FLAGS:-}"
start=$(date +%s)
expect 2 "no-such-option" -- "${MPIEXEC:-mpiexec}" "${mpi_flags[@]}" -np 3 "$bin" train --no-such-option
expect 2 "fl.rounds=-3 is out of range" -- "${MPIEXEC:-mpiexec}" "${mpi_flags[@]}" -np 3 "$bin" train --config "$tmp/bad_range.cfg"
elapsed=$(($(date +%s) - start))
if ((elapsed > 30)); then
  echo "FAIL: mpirun error cases took ${elapsed}s; every rank must stop within seconds"
  failures=$((failures + 1))
fi

# --help documents options with defaults and exits 0.
if "$bin" train --help >"$tmp/help" 2>&1 && grep -q "fl.rounds" "$tmp/help" && grep -q "(=" "$tmp/help"; then
  echo "ok: train --help lists options with defaults"
else
  echo "FAIL: train --help"; failures=$((failures + 1))
fi

echo "$((failures == 0 ? 1 : 0)) passed, $failures failed"
exit $((failures > 0))
