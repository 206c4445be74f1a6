#!/usr/bin/env bash
# shellcheck disable=SC2034  # variables read inside the eval'd strings of check()
# jobs/sweep: grid expansion, cell naming, never rerunning a finished cell, resuming a partial
# one, failure exit codes, and the Slurm array it would submit (dry run). Uses the mock
# binary (slurm/tools/mock_hfedmoe, same exit-code protocol) for the protocol checks, then,
# when HFEDMOE_BIN can train, a real 2-cell sweep of the tiny job collected by
# scripts/collect_results. Also checks that every committed grid in jobs/sweeps expands.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
src=${HFEDMOE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
sweep=$src/jobs/sweep
real_bin=${HFEDMOE_BIN:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi; }
export MPIEXEC=${MPIEXEC:-mpirun}
if [[ $(id -u) == 0 && -z ${MPIEXEC_FLAGS:-} ]]; then MPIEXEC_FLAGS="--allow-run-as-root --oversubscribe --mca btl self,vader"; fi
export MPIEXEC_FLAGS=${MPIEXEC_FLAGS:-}

# ---- every committed grid expands --------------------------------------------------------
for g in "$src"/jobs/sweeps/*.grid; do
  check "$(basename "$g") expands" '"$sweep" list "$g" --out-root "$tmp/none" >"$tmp/list" && grep -q "cells" "$tmp/list"'
done
check "compare_paper: 6 methods x 3 seeds = 18 cells" \
  '"$sweep" list "$src/jobs/sweeps/compare_paper.grid" --out-root "$tmp/none" >"$tmp/list3" && [[ $(grep -c " new " "$tmp/list3") == 18 ]]'

# ---- protocol with the mock binary --------------------------------------------------------
printf '[fl]\nrounds = 3\n' >"$tmp/m.cfg"
printf '%s\n' '[sweep]' 'name = t' "config = $tmp/m.cfg" 'ranks = 1' '[fixed]' 'fl.rounds = 3' \
  '[grid]' 'fl.method = a b' 'run.seed = 1 2' >"$tmp/t.grid"
export HFEDMOE_BIN=$src/slurm/tools/mock_hfedmoe MOCK_ROUND_S=0
root=$tmp/runs
check "run: 4 cells finish" \
  '"$sweep" run "$tmp/t.grid" --out-root "$root" >"$tmp/run1.log" 2>&1 && [[ $(ls "$root"/t/*/summary.txt | wc -l) == 4 ]]'
check "cells are named by their grid values" '[[ -d $root/t/method-a_seed-1 && -d $root/t/method-b_seed-2 ]]'
check "the cell options reach the binary" 'grep -q -- "--fl.method b --run.seed 2" "$tmp/run1.log"'
check "cells.tsv and sweep.json written" '[[ $(wc -l <"$root/t/cells.tsv") == 4 && -s $root/t/sweep.json ]]'
check "rerun: nothing reruns" \
  '"$sweep" run "$tmp/t.grid" --out-root "$root" >"$tmp/run2.log" 2>&1 && grep -q "4 of 4 cells finished, running 0" "$tmp/run2.log" && ! grep -q "mock_hfedmoe: round" "$tmp/run2.log"'
rm "$root/t/method-b_seed-1/summary.txt"
check "list shows the partial cell" '"$sweep" list "$tmp/t.grid" --out-root "$root" >"$tmp/list2" && grep -q "partial .*method-b_seed-1" "$tmp/list2"'
check "rerun: only the partial cell runs, resuming" \
  '"$sweep" run "$tmp/t.grid" --out-root "$root" >"$tmp/run3.log" 2>&1 && grep -q "running 1" "$tmp/run3.log" && grep -q "resuming from" "$tmp/run3.log"'
rm -rf "$root/t/method-a_seed-2" "$root/t/method-b_seed-2"
rc=0
SBATCH=sbatch "$sweep" submit "$tmp/t.grid" --out-root "$root" --max-parallel 2 --dry-run -- --time=5 >"$tmp/sub.log" 2>&1 || rc=$?
check "submit --dry-run: one array of the 2 unfinished cells, %2, extra sbatch args" \
  '[[ $rc == 0 ]] && grep -q -- "--array=1,3%2 --ntasks=1" "$tmp/sub.log" && grep -q -- "--time=5" "$tmp/sub.log"'
rc=0
MOCK_FAIL_AT=1 "$sweep" run "$tmp/t.grid" --out-root "$root" >"$tmp/fail.log" 2>&1 || rc=$?
check "a failing cell: exit 1, named" '[[ $rc == 1 ]] && grep -q "cell method-a_seed-2 FAILED" "$tmp/fail.log"'
check "a job config is refused as a grid" '! "$sweep" list "$tmp/m.cfg" 2>"$tmp/err" && grep -q "no \[sweep\] section" "$tmp/err"'

# ---- a real sweep with hfedmoe, collected ------------------------------------------------
if [[ -n $real_bin && -x $real_bin ]] && "$real_bin" train --help >/dev/null 2>&1; then
  export HFEDMOE_BIN=$real_bin
  "$real_bin" prepare --prepare.corpus spam --prepare.input "$src/data/samples/spam-assassin" \
    --prepare.output "$tmp/spam.h5" --prepare.clients 8 --prepare.seq_len 64 >"$tmp/prep.log" 2>&1 ||
    { cat "$tmp/prep.log"; echo "FAIL: hfedmoe prepare"; exit 1; }
  printf '%s\n' '[model]' 'n_classes = 2' '[data]' "path = $tmp/spam.h5" '[fl]' 'clients_per_round = 4' \
    'eval_rows = 16' "profiles = $src/jobs/profiles/default.csv" '[train]' 'local_steps = 1' 'batch_size = 4' \
    '[run]' 'threads = 1' >"$tmp/tiny.cfg"
  printf '%s\n' '[sweep]' 'name = real' "config = $tmp/tiny.cfg" 'ranks = 3' '[fixed]' 'fl.rounds = 3' \
    '[grid]' 'fl.method = hfedmoe fedavg' >"$tmp/real.grid"
  check "real sweep: 2 cells of hfedmoe train finish" \
    '"$sweep" run "$tmp/real.grid" --out-root "$root" >"$tmp/real.log" 2>&1 && [[ $(ls "$root"/real/*/summary.txt | wc -l) == 2 ]]'
  check "collect: one row per method" \
    '"$sweep" collect "$tmp/real.grid" --out-root "$root" >"$tmp/col.log" 2>&1 && [[ $(grep -c "^method-" "$root/real/results/results.csv") == 2 ]] && grep -q ",fedavg," "$root/real/results/results.csv"'
  check "collect: accuracy plot drawn" '! command -v gnuplot >/dev/null || [[ -s $root/real/results/acc_vs_round.png ]]'
  if ((failures)); then tail -n 30 "$tmp/real.log" "$tmp/col.log"; fi
else
  echo "note: HFEDMOE_BIN cannot train here; the real-binary part is skipped"
fi

if ((failures)); then echo "test_sweep: $failures check(s) failed"; exit 1; fi
echo "test_sweep: all checks passed"
