#!/usr/bin/env bash
# scripts/collect_results on synthetic run directories (no hfedmoe binary needed): a sweep of
# 3 methods x 2 seeds with a sweep.json, plus scaling runs over ranks and clients per round,
# and per-class expert columns. Checks the CSV/Markdown numbers (final/best accuracy, rounds
# and virtual time to target, bytes per round) and that every PNG is drawn when gnuplot is
# present. Env from ctest: HFEDMOE_SOURCE_DIR.
set -euo pipefail
src=${HFEDMOE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$tmp" <<'PY'
import json, os, sys
root = sys.argv[1]
def run(d, method, rounds, acc_fn, ranks=3, k=10, bytes_up=1000, heat=False, cfg_extra=""):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.ini"), "w") as f:
        f.write(f"[fl]\nmethod = {method}\ntarget_acc = 0.7\nclients_per_round = {k}\n{cfg_extra}")
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for r in range(1, rounds + 1):
            row = dict(round=r, method=method, test_acc=acc_fn(r), virtual_time_s=10.0 * r,
                       wall_time_s=r * (2.0 / (ranks - 1)) * k / 10, bytes_up=bytes_up, bytes_down=500)
            if heat:
                for c, n in (("edge", 2), ("workstation", 8)):
                    for l in range(2):
                        for e in range(8):
                            row[f"experts_trained_{c}_l{l}_e{e}"] = (1 if e < n else 0) * (3 if c == "edge" else 1)
            f.write(json.dumps(row) + "\n")
    open(os.path.join(d, "summary.txt"), "w").write(f"method {method}\n")
sweep = os.path.join(root, "sw", "cmp")
cells = []
for i, (m, s) in enumerate((m, s) for m in ("hfedmoe", "fedavg", "fedmoe") for s in (1, 2)):
    name = f"method-{m}_seed-{s}"
    slope = {"hfedmoe": 0.1, "fedavg": 0.04, "fedmoe": 0.07}[m]
    run(os.path.join(sweep, name), m, 10, lambda r, sl=slope, s=s: min(0.95, 0.1 + sl * r + 0.01 * s),
        bytes_up={"hfedmoe": 1000, "fedavg": 4000, "fedmoe": 2000}[m], heat=(m == "hfedmoe"))
    cells.append(dict(index=i, name=name, ranks=3, values={"fl.method": m, "run.seed": str(s)},
                      run_dir=os.path.join(sweep, name)))
json.dump(dict(sweep="cmp", cells=cells), open(os.path.join(sweep, "sweep.json"), "w"))
for ranks in (2, 3, 5, 9):
    run(os.path.join(root, "sc", f"ranks-{ranks}"), "hfedmoe", 3, lambda r: 0.5, ranks=ranks,
        cfg_extra="")
    json.dump(dict(sweep="sc", cells=[dict(index=i, name=f"ranks-{x}", ranks=x, values={"ranks": str(x)},
                                           run_dir=os.path.join(root, "sc", f"ranks-{x}"))
                                      for i, x in enumerate((2, 3, 5, 9))]),
              open(os.path.join(root, "sc", "sweep.json"), "w"))
for k in (10, 100, 1000):
    run(os.path.join(root, "kc", f"k{k}"), "hfedmoe", 3, lambda r: 0.5, k=k)
PY

out=$tmp/results
python3 "$src/scripts/collect_results" "$tmp/sw" "$tmp/sc" "$tmp/kc" --out "$out" >"$tmp/log" 2>&1 ||
  { cat "$tmp/log"; echo "FAIL: collect_results exited non-zero"; exit 1; }
failures=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi; }
row() { grep "^$1," "$out/results.csv"; }
field() { python3 -c "import csv,sys; r=[x for x in csv.DictReader(open('$out/results.csv')) if x['run']=='$1'][0]; print(r['$2'])"; }

check "13 runs in results.csv" '[[ $(($(wc -l <"$out/results.csv") - 1)) == 13 ]]'
# hfedmoe seed 1: acc = 0.11 + 0.1 r -> first >= 0.7 at r = 6 (0.71), virtual time 60 s
check "hfedmoe seed 1 reaches 0.7 in round 6" '[[ $(field method-hfedmoe_seed-1 rounds_to_target) == 6 ]]'
check "hfedmoe seed 1 virtual time to target 60 s" '[[ $(field method-hfedmoe_seed-1 vtime_to_target_s) == 60.000 ]]'
check "hfedmoe final acc capped at 0.95" '[[ $(field method-hfedmoe_seed-1 final_acc) == 0.9500 ]]'
# fedavg seed 1: 0.11 + 0.04 r -> 0.51 at r = 10, never reaches 0.7
check "fedavg seed 1 never reaches the target" '[[ -z $(field method-fedavg_seed-1 rounds_to_target) ]]'
check "fedavg best acc 0.51" '[[ $(field method-fedavg_seed-1 best_acc) == 0.5100 ]]'
check "fedavg bytes per round 4500" '[[ $(field method-fedavg_seed-1 bytes_per_round) == 4500 ]]'
check "method comes from the metrics" '[[ $(field method-fedmoe_seed-2 method) == fedmoe ]]'
check "ranks come from sweep.json" '[[ $(field ranks-9 ranks) == 9 ]]'
check "Markdown has the seed-mean table" 'grep -q "Mean over seeds" "$out/results.md"'
check "Markdown says never for a missed target" 'grep -q "| never |" "$out/results.md"'
if command -v gnuplot >/dev/null; then
  for png in acc_vs_round acc_vs_vtime bytes_per_round scaling_executors scaling_clients expert_heatmap; do
    check "$png.png drawn" '[[ -s "$out/$png.png" ]] && [[ $(head -c 4 "$out/$png.png" | od -An -c | tr -d " ") == "211PNG" ]]'
  done
else
  echo "note: gnuplot absent; PNG checks skipped (tables only)"
  check "plots.txt says gnuplot is missing" 'grep -q "gnuplot is not installed" "$out/plots.txt"'
fi
# Without per-class columns the heat map is explained, not drawn.
python3 "$src/scripts/collect_results" "$tmp/kc" --out "$tmp/r2" >/dev/null 2>&1
check "missing heat-map data is explained" 'grep -q "expert_heatmap.png: not drawn: the metrics carry no per-class expert counts" "$tmp/r2/plots.txt"'
# No runs: a clear error.
check "no runs -> error" '! python3 "$src/scripts/collect_results" "$tmp/r2" --out "$tmp/r3" 2>"$tmp/err" && grep -q "no run directories" "$tmp/err"'

[[ -n "${KEEP_RESULTS:-}" ]] && cp -r "$out" "$KEEP_RESULTS"
if ((failures)); then echo "test_collect_results: $failures check(s) failed"; exit 1; fi
echo "test_collect_results: all checks passed"
