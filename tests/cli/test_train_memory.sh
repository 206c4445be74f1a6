#!/usr/bin/env bash
# Device memory of a client step (fl/profiles.h MemoryModel): every round reports the largest
# step's bytes (client_mem_peak_gb) and how many clients went over their profile's memory_gb
# (clients_over_memory). With fl.memory_check=enforce, HFedMoE (mask mode) drops its
# lowest-scored experts until the step fits; a method that cannot shrink its selection (FedAvg,
# HFedMoE in strict mode) fails the client, as a device out of memory would. The over-memory case
# is forced with fl.budget = E (every expert trained, ignoring what the profile's memory allows)
# on a profile with too little memory.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"

"$bin" prepare --prepare.corpus spam --prepare.seq_len 32 --prepare.clients 8 --prepare.output "$tmp/spam.h5" >/dev/null
# tiny (8 experts of d_ff 128, pinned: jobs/demo.cfg has the base's 16 x 64) at batch 4 x 32: a step
# with every expert trained holds ~0.011 GB; 0.008 GB does not hold it
printf 'name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share\nsmall,1,0.008,10,10,1,1\n' >"$tmp/small.csv"
printf 'name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share\nbig,1,1,10,10,1,1\n' >"$tmp/big.csv"
job=(train --config jobs/demo.cfg --data.path "$tmp/spam.h5" --model.n_experts 8 --model.d_ff 128 --model.seq_len 32 --fl.clients 8 --fl.clients_per_round 4
  --fl.overcommit 0 --train.local_steps 2 --train.batch_size 4 --fl.rounds 2 --fl.budget 8 --run.threads 1)
column() {  # column CSV NAME: the values of one metrics column, space-separated
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } { printf "%s ", $c }' "$1"
}
"$bin" "${job[@]}" --fl.profiles "$tmp/big.csv" --out "$tmp/big" >/dev/null 2>&1
"$bin" "${job[@]}" --fl.profiles "$tmp/small.csv" --out "$tmp/report" >/dev/null 2>&1
for variant in hfedmoe strict fedavg; do
  case $variant in
    hfedmoe) extra=() ;;
    strict) extra=(--fl.budget_mode strict) ;;
    fedavg) extra=(--fl.method fedavg) ;;
  esac
  "$bin" "${job[@]}" --fl.profiles "$tmp/small.csv" --fl.memory_check enforce "${extra[@]}" --out "$tmp/enforce-$variant" \
    >/dev/null 2>&1
done

peak=$(column "$tmp/big/metrics.csv" client_mem_peak_gb)
check "the peak step memory is reported and lies between 0.008 and 1 GB ($peak)" \
  awk -v v="$peak" 'BEGIN { n = split(v, a, " "); for (i = 1; i <= n; i++) if (!(a[i] > 0.008 && a[i] < 1)) exit 1; exit n != 2 }'
check "enough memory: no client over it" test "$(column "$tmp/big/metrics.csv" clients_over_memory)" = "0 0 "
check "report: all 4 clients over memory, counted, not failed" \
  test "$(column "$tmp/report/metrics.csv" clients_over_memory)/$(column "$tmp/report/metrics.csv" clients_failed)" = "4 4 /0 0 "
check "report: the same peak as with enough memory (memory does not change training)" \
  test "$(column "$tmp/report/metrics.csv" client_mem_peak_gb)" = "$peak"
e=$tmp/enforce-hfedmoe/metrics.csv
check "enforce, hfedmoe: every client trains, within 0.008 GB, with fewer than the 8 experts per layer" \
  awk -v ok="$(column "$e" clients_ok)" -v peak="$(column "$e" client_mem_peak_gb)" -v ex="$(column "$e" experts_trained_mean)" \
  'BEGIN { split(ok, o, " "); split(peak, p, " "); split(ex, x, " ")
           for (i = 1; i <= 2; i++) if (o[i] != 4 || !(p[i] <= 0.008) || !(x[i] > 0 && x[i] < 8)) exit 1 }'
for variant in strict fedavg; do
  e=$tmp/enforce-$variant/metrics.csv
  check "enforce, $variant: the 4 clients fail in each round, counted as over memory" \
    test "$(column "$e" clients_failed)/$(column "$e" clients_ok)/$(column "$e" clients_over_memory)" = "4 4 /0 0 /4 4 "
  check "enforce, $variant: no client trains, so nothing changes" test "$(column "$e" experts_changed)" = "0 0 "
done

[[ $failures -eq 0 ]] || { echo "$failures check(s) failed"; exit 1; }
echo "all memory checks passed"
