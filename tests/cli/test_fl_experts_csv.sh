#!/usr/bin/env bash
# <run>/experts.csv (src/fl/experts_csv.h): one row per (round, device class, layer, expert) with
# the number of the round's clients of that class that trained the expert. Checks, on a 3-round
# tiny run: the header and row count (rounds x classes x L x E), every count within
# [0, clients_ok], each round's total == experts_trained_mean * clients_ok * L of its metrics row,
# the file is the same
# with 2 executor ranks as in-process (the counts travel in the exact reduction), and a resumed
# run rewrites it to the uninterrupted run's rows. The 2-executor run goes through
# bench/rank_usage.sh (when GNU time is installed), and scripts/collect_results must draw the
# heat map from experts.csv (same totals) and list every rank's CPU and peak RSS. The round
# model's bytes must be the run's (scripts/round_model).
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"

"$bin" prepare --prepare.corpus spam --prepare.seq_len 64 --prepare.clients 12 --prepare.partition iid \
  --prepare.output "$tmp/spam.h5" >/dev/null
# tiny's 8 experts pinned (jobs/demo.cfg has the base's 16): the checks below count L x E = 2 x 8.
job=(train --config jobs/demo.cfg --data.path "$tmp/spam.h5" --model.n_experts 8 --model.d_ff 128 --model.seq_len 64 --fl.clients 12
  --fl.clients_per_round 8 --fl.overcommit 0 --train.local_steps 2 --train.batch_size 4 --fl.eval_every 3
  --run.threads 1 --run.ckpt_every 0)
"$bin" "${job[@]}" --fl.rounds 3 --out "$tmp/np1" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
launch=("$bin")
[[ -x /usr/bin/time ]] && launch=(env "HFEDMOE_REAL_BIN=$bin" "$src/bench/rank_usage.sh")
"$mpiexec" "${mpi_flags[@]}" -np 3 "${launch[@]}" "${job[@]}" --fl.rounds 3 --out "$tmp/np3" >/dev/null 2>"$tmp/err" ||
  { cat "$tmp/err"; exit 1; }
"$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${job[@]}" --fl.rounds 2 --out "$tmp/resumed" >/dev/null 2>&1
"$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${job[@]}" --fl.rounds 3 --out "$tmp/resumed" >/dev/null 2>&1

failures=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi; }
check "experts.csv: in-process == 2 executor ranks" 'cmp -s "$tmp/np1/experts.csv" "$tmp/np3/experts.csv"'
check "experts.csv: resumed after round 2 == uninterrupted" 'cmp -s "$tmp/np3/experts.csv" "$tmp/resumed/experts.csv"'
python3 - "$tmp/np3" <<'PY' || failures=$((failures + 1))
import csv, json, re, sys
from collections import defaultdict
run = sys.argv[1]
config = open(f"{run}/config.ini").read()
L, E = (int(re.search(rf"^{key}\s*=\s*(\d+)", config, re.M).group(1)) for key in ("n_layers", "n_experts"))
classes = ["edge", "midrange", "workstation"]
rows = list(csv.DictReader(open(f"{run}/experts.csv")))
metrics = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
bad = []
if list(rows[0].keys()) != ["round", "class", "layer", "expert", "clients"]:
    bad.append(f"header {list(rows[0].keys())}")
if len(rows) != 3 * len(classes) * L * E:
    bad.append(f"{len(rows)} rows, expected {3 * len(classes) * L * E}")
total = defaultdict(int)
for r in rows:
    n = int(r["clients"])
    ok = metrics[int(r["round"]) - 1]["clients_ok"]
    if not 0 <= n <= ok:
        bad.append(f"count {n} outside [0, {ok}]: {r}")
    total[int(r["round"])] += n
for m in metrics:
    want = m["experts_trained_mean"] * m["clients_ok"] * L
    if abs(total[m["round"]] - want) > 1e-6:
        bad.append(f"round {m['round']}: experts.csv sums to {total[m['round']]}, metrics give {want}")
    print(f"round {m['round']}: {total[m['round']]} (class, expert) trainings == experts_trained_mean "
          f"{m['experts_trained_mean']:.3f} x clients_ok {m['clients_ok']} x L {L}")
if sum(total.values()) == 0:
    bad.append("no expert was trained")
for b in bad:
    print("FAIL: " + b)
if not bad:
    print("ok: counts within [0, clients_ok], each round's total matches experts_trained_mean")
sys.exit(1 if bad else 0)
PY
# The round model's bytes (scripts/round_model, docs/benchmarks.md) are the exchange's own:
# every round of the 2-executor run, from its plan slots and touched experts.
python3 - "$tmp/np3" "$src/scripts/round_model" <<'PY' || failures=$((failures + 1))
import json, subprocess, sys
run, model = sys.argv[1:]
bad = 0
for m in (json.loads(line) for line in open(f"{run}/metrics.jsonl")):
    slots = m["clients_ok"] + m["clients_failed"]
    out = subprocess.run([model, "--preset", "tiny", "--executors", "2", "--clients", "8", "--online", f"{slots / 8}",
                          "--touched", f"{m['experts_changed'] / 16}", "--t-client", "1"],
                         check=True, capture_output=True, text=True).stdout.splitlines()[-1]
    up, down = (int(x) for x in out.strip("| ").split(" | ")[-2:])
    ok = (up, down) == (m["bytes_up"], m["bytes_down"])
    bad += not ok
    print(f"{'ok' if ok else 'FAIL'}: round {m['round']}: round_model bytes up/down {up}/{down}, "
          f"metrics {m['bytes_up']}/{m['bytes_down']}")
sys.exit(1 if bad else 0)
PY
python3 "$src/scripts/collect_results" "$tmp/np3" --out "$tmp/results" >/dev/null 2>&1 ||
  { echo "FAIL: collect_results"; failures=$((failures + 1)); }
sum_csv=$(awk -F, 'NR > 1 { s += $5 } END { print s }' "$tmp/np3/experts.csv")
if command -v gnuplot >/dev/null; then
  check "heat map drawn from experts.csv" '[[ -s "$tmp/results/expert_heatmap.png" ]]'
  check "heat map data sums to experts.csv's total ($sum_csv)" \
    '[[ $(awk "{ s += \$3 } END { print s }" "$tmp/results/expert_heatmap.dat") == "$sum_csv" ]]'
fi
if [[ -x /usr/bin/time ]]; then
  check "rank_usage.sh wrote every rank's usage" \
    '(for r in 0 1 2; do grep -Eq "^max_rss_kb [1-9]" "$tmp/np3/rank_usage/rank$r.txt" || exit 1; done)'
  check "results.md lists every rank's CPU and peak RSS" 'grep -Eq "r0 .*; r1 .*; r2 " "$tmp/results/results.md"'
fi
[[ $failures == 0 ]] || { echo "$failures failure(s)"; exit 1; }
echo "all experts.csv checks passed"
