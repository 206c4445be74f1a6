#!/usr/bin/env bash
# `hfedmoe train` on bad input: one clear line, exit 2, nothing run; under mpirun -np 3 every
# rank stops within seconds with the line printed once.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"

# expect CODE PATTERN -- command...: exit code CODE, exactly one "error:" line matching PATTERN.
expect() {
  local code=$1 pattern=$2; shift 3
  local rc=0 start=$(date +%s)
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  local took=$(($(date +%s) - start)) errors
  errors=$(grep -c '^error:' "$tmp/err" || true)
  if [[ $rc != "$code" ]] || [[ $errors != 1 ]] || ! grep -q -- "$pattern" "$tmp/err" || ((took > 30)); then
    echo "FAIL: $* -> exit $rc (want $code), $errors error lines (want 1), ${took}s, pattern '$pattern'"
    sed 's/^/  | /' "$tmp/err" | head -20
    failures=$((failures + 1))
  else
    echo "ok: $(grep '^error:' "$tmp/err")"
  fi
}

"$bin" prepare --prepare.corpus spam --prepare.seq_len 64 --prepare.clients 6 --prepare.output "$tmp/spam.h5" >/dev/null 2>&1
printf '[model]\npreset = tiny\nn_classes = 2\nseq_len = 64\n[fl]\nrounds = 1\n[train]\nlocal_steps = 1\n' >"$tmp/job.cfg"
base=(train --config "$tmp/job.cfg" --run.threads 1)
printf 'name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share\nwatch,0.1,0.001,1,1,1,1\n' >"$tmp/tiny.csv"
printf 'name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share\nedge,fast,0.02,5,20,0.6,1\n' >"$tmp/bad.csv"
mpi=("$mpiexec" "${mpi_flags[@]}" -np 3)

for launch in single mpi; do
  pre=()
  [[ $launch == mpi ]] && pre=("${mpi[@]}")
  expect 2 "leaves no memory for even one expert" -- "${pre[@]}" "$bin" "${base[@]}" --data.path "$tmp/spam.h5" --fl.clients_per_round 3 --fl.profiles "$tmp/tiny.csv" --out "$tmp/r1"
  expect 2 "fl.clients=50 but dataset" -- "${pre[@]}" "$bin" "${base[@]}" --data.path "$tmp/spam.h5" --fl.clients 50 --out "$tmp/r2"
  expect 2 "$tmp/bad.csv" -- "${pre[@]}" "$bin" "${base[@]}" --data.path "$tmp/spam.h5" --fl.clients_per_round 3 --fl.profiles "$tmp/bad.csv" --out "$tmp/r3"
  expect 2 "no-such.h5" -- "${pre[@]}" "$bin" "${base[@]}" --data.path "$tmp/no-such.h5" --out "$tmp/r4"
  expect 2 "has 2 classes but model.n_classes=3" -- "${pre[@]}" "$bin" "${base[@]}" --data.path "$tmp/spam.h5" --fl.clients_per_round 3 --model.n_classes 3 --out "$tmp/r5"
  expect 2 "C_budget=2 < top_k=3" -- "${pre[@]}" "$bin" "${base[@]}" --data.path "$tmp/spam.h5" --fl.clients_per_round 3 --fl.method fedmoe --model.top_k 3 --fl.budget 2 --out "$tmp/r6"
  expect 2 "fl.method=magic is not a valid choice" -- "${pre[@]}" "$bin" "${base[@]}" --data.path "$tmp/spam.h5" --fl.method magic --out "$tmp/r7"
  expect 2 "fl.clients_per_round=9 exceeds the 6 clients" -- "${pre[@]}" "$bin" "${base[@]}" --data.path "$tmp/spam.h5" --fl.clients_per_round 9 --out "$tmp/r8"
done
# more executors than clients: 1 + 4 ranks for 3 clients
expect 2 "4 executor ranks but only 3 clients" -- "$mpiexec" "${mpi_flags[@]}" -np 5 "$bin" "${base[@]}" \
  --data.path "$tmp/spam.h5" --fl.clients 3 --fl.clients_per_round 2 --out "$tmp/r9"

echo "$((failures == 0 ? 1 : 0)) passed, $failures failed"
exit $((failures > 0))
