#!/usr/bin/env bash
# The memory rule (fl/memory_model.h), end to end. Every round reports the largest step's bytes
# (client_mem_peak_gb) and how many clients counted although their step exceeded their device's
# memory (clients_over_memory). Under the default fl.memory_check=enforce no such client counts,
# for any method but the exempt upper bound fedavg_unbounded: hfedmoe and random_moe drop experts
# by their own order until the step fits, a method that cannot shrink (FedAvg, FedProx, strict
# routing) fails the client as a device out of memory would. The over-memory case is forced with
# fl.budget = E (every expert chosen, ignoring what the profile's memory allows).
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"

"$bin" prepare --prepare.corpus spam --prepare.seq_len 32 --prepare.clients 8 --prepare.output "$tmp/spam.h5" >/dev/null
# The demo model at batch 4 x 32: fixed 0.00496 GB + 0.000393 GB per expert trained in both
# layers; 0.0058 GB gives C_budget = 2, and every expert trained (FedAvg) needs 0.01125 GB.
printf 'name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share\ntight,1,0.0058,10,10,1,1\n' >"$tmp/tight.csv"
printf 'name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share\nbig,1,1,10,10,1,1\n' >"$tmp/big.csv"
job=(train --config jobs/demo.cfg --data.path "$tmp/spam.h5" --model.seq_len 32 --fl.clients 8 --fl.clients_per_round 4
  --fl.overcommit 0 --train.local_steps 3 --train.batch_size 4 --fl.rounds 2 --run.threads 1)
column() {  # column CSV NAME: the values of one metrics column, space-separated
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } { printf "%s ", $c }' "$1"
}
run() {  # run NAME OPTIONS...: one job into $tmp/NAME
  local name=$1; shift
  "$bin" "${job[@]}" "$@" --out "$tmp/$name" >/dev/null 2>"$tmp/$name.err" || { cat "$tmp/$name.err"; exit 1; }
}
run big --fl.budget 16 --fl.profiles "$tmp/big.csv"
run report --fl.budget 16 --fl.profiles "$tmp/tight.csv" --fl.memory_check report
for method in hfedmoe random_moe fedmoe fedavg fedprox fedavg_unbounded; do
  run "enforce-$method" --fl.method $method --fl.profiles "$tmp/tight.csv"
done
run forced-hfedmoe --fl.budget 16 --fl.profiles "$tmp/tight.csv"
run forced-random_moe --fl.method random_moe --fl.budget 16 --fl.profiles "$tmp/tight.csv"
run forced-strict --fl.budget 16 --fl.budget_mode strict --fl.profiles "$tmp/tight.csv"
run batch-hfedmoe --fl.reselect batch --fl.profiles "$tmp/tight.csv"

peak=$(column "$tmp/big/metrics.csv" client_mem_peak_gb)
check "the peak step memory is reported and lies between 0.0058 and 1 GB ($peak)" \
  awk -v v="$peak" 'BEGIN { n = split(v, a, " "); for (i = 1; i <= n; i++) if (!(a[i] > 0.0058 && a[i] < 1)) exit 1; exit n != 2 }'
check "enough memory: no client over it" test "$(column "$tmp/big/metrics.csv" clients_over_memory)" = "0 0 "
check "report: all 4 clients over memory, counted, not failed" \
  test "$(column "$tmp/report/metrics.csv" clients_over_memory)/$(column "$tmp/report/metrics.csv" clients_failed)" = "4 4 /0 0 "
check "report: the same peak as with enough memory (memory does not change training)" \
  test "$(column "$tmp/report/metrics.csv" client_mem_peak_gb)" = "$peak"

# Under enforce, no counted client is over memory, for any bounded method, whatever it chose.
for name in enforce-hfedmoe enforce-random_moe enforce-fedmoe enforce-fedavg enforce-fedprox forced-hfedmoe \
  forced-random_moe forced-strict batch-hfedmoe; do
  check "$name: no client that did not fit counts" test "$(column "$tmp/$name/metrics.csv" clients_over_memory)" = "0 0 "
done
for name in enforce-hfedmoe enforce-random_moe enforce-fedmoe forced-hfedmoe forced-random_moe batch-hfedmoe; do
  e=$tmp/$name/metrics.csv
  check "$name: every client trains, within 0.0058 GB" \
    awk -v ok="$(column "$e" clients_ok)" -v peak="$(column "$e" client_mem_peak_gb)" \
    'BEGIN { split(ok, o, " "); split(peak, p, " "); for (i = 1; i <= 2; i++) if (o[i] != 4 || !(p[i] <= 0.0058)) exit 1 }'
done
for name in forced-hfedmoe forced-random_moe; do
  check "$name: it shrank from 16 to at most its 2 experts per layer" \
    awk -v ex="$(column "$tmp/$name/metrics.csv" experts_trained_mean)" \
    'BEGIN { split(ex, x, " "); for (i = 1; i <= 2; i++) if (!(x[i] > 0 && x[i] <= 2)) exit 1 }'
done
for name in enforce-fedavg enforce-fedprox forced-strict; do
  e=$tmp/$name/metrics.csv
  check "$name: the 4 clients fail in each round" test "$(column "$e" clients_failed)/$(column "$e" clients_ok)" = "4 4 /0 0 "
  check "$name: no client trains, so nothing changes" test "$(column "$e" experts_changed)" = "0 0 "
done
e=$tmp/enforce-fedavg_unbounded/metrics.csv
check "fedavg_unbounded is exempt: all 4 train and count over memory" \
  test "$(column "$e" clients_ok)/$(column "$e" clients_over_memory)" = "4 4 /4 4 "

[[ $failures -eq 0 ]] || { echo "$failures check(s) failed"; exit 1; }
echo "all memory checks passed"
