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

# ---- [variants], --overrides tables, --jobs -------------------------------------------------
printf '%s\n' '[sweep]' 'name = v' "config = $tmp/m.cfg" 'ranks = 1' '[fixed]' 'fl.rounds = 2' 'fl.beta = 0.1' \
  '[variants]' 'base =' 'beta0 = fl.beta=0' 'two = fl.lambda=1 fl.reselect=batch' '[grid]' 'run.seed = 1 2' >"$tmp/v.grid"
"$sweep" list "$tmp/v.grid" --out-root "$tmp/vr" >"$tmp/v.list"
check "variants: 3 variants x 2 seeds = 6 cells, named variant-<name>_seed-<s>" \
  '[[ $(grep -c " new " "$tmp/v.list") == 6 ]] && grep -q "variant-beta0_seed-2" "$tmp/v.list"'
check "variants: a variant's options replace [fixed] ones" \
  'grep "variant-beta0_seed-1 " "$tmp/v.list" | grep -q -- "--fl.beta 0 " && grep "variant-base_seed-1 " "$tmp/v.list" | grep -q -- "--fl.beta 0.1"'
check "variants: several options in one variant" 'grep "variant-two_seed-1 " "$tmp/v.list" | grep -q -- "--fl.lambda 1 --fl.reselect batch"'
printf '%s\n' '[sweep]' "config = $tmp/m.cfg" '[variants]' 'x = fl.beta' >"$tmp/vbad.grid"
check "variants: a token without =value is refused" '! "$sweep" list "$tmp/vbad.grid" 2>"$tmp/err" && grep -q "is not section.key=value" "$tmp/err"'
# overrides: a task table (model.n_classes per task) in the grid and an lr table on the command line
printf 'task\tmodel.n_classes\nspam3\t3\nsotu_era\t4\n' >"$tmp/tasks.tsv"
printf '# chosen lrs\ntask\tmethod\ttrain.lr\tval_score\n*\ta\t0.001\t0.5\nsotu_era\tb\t0.004\t0.6\nspam3\tb\t0.002\t0.7\n' >"$tmp/lr.tsv"
printf '%s\n' '[sweep]' 'name = o' "config = $tmp/m.cfg" 'ranks = 1' "overrides = $tmp/tasks.tsv" '[grid]' \
  'data.path = data/study/spam3_dir0.1.h5 data/study/sotu_era_natural.h5' 'fl.method = a b' >"$tmp/o.grid"
"$sweep" list "$tmp/o.grid" --out-root "$tmp/or" --overrides "$tmp/lr.tsv" >"$tmp/o.list"
check "overrides: per task and per (task, method), * matches any task" \
  'grep "path-sotu-era-natural_method-b " "$tmp/o.list" | grep -q -- "--model.n_classes 4 --train.lr 0.004" &&
   grep "path-spam3-dir0.1_method-b " "$tmp/o.list" | grep -q -- "--model.n_classes 3 --train.lr 0.002" &&
   grep "path-sotu-era-natural_method-a " "$tmp/o.list" | grep -q -- "--train.lr 0.001"'
"$sweep" run "$tmp/o.grid" --out-root "$tmp/or" --overrides "$tmp/lr.tsv" --dry-run >/dev/null
check "overrides: recorded per cell in sweep.json" \
  'python3 -c "import json; c=json.load(open(\"$tmp/or/o/sweep.json\"))[\"cells\"][0]; assert c[\"overrides\"]=={\"model.n_classes\": \"3\", \"train.lr\": \"0.001\"}, c"'
printf 'task\tmethod\ttrain.lr\n*\t*\t0.001\nspam3\ta\t0.002\n' >"$tmp/amb.tsv"
check "overrides: two matching rows are an error" \
  '! "$sweep" list "$tmp/o.grid" --out-root "$tmp/or" --overrides "$tmp/amb.tsv" 2>"$tmp/err" && grep -q "both match cell" "$tmp/err"'
printf 'method\tmodel.n_classes\n*\t2\n' >"$tmp/dup.tsv"
check "overrides: two tables setting the same option are an error" \
  '! "$sweep" list "$tmp/o.grid" --out-root "$tmp/or" --overrides "$tmp/dup.tsv" 2>"$tmp/err" && grep -q "which another overrides table sets too" "$tmp/err"'
printf 'method\tfl.method\n*\tc\n' >"$tmp/grid.tsv"
check "overrides: a table may not set a [grid] key" \
  '! "$sweep" list "$tmp/o.grid" --out-root "$tmp/or" --overrides "$tmp/grid.tsv" 2>"$tmp/err" && grep -q "which the grid varies" "$tmp/err"'
# --jobs 2: two cells run at once (the second starts before the first ends), logs per cell
MOCK_ROUND_S=0.3 "$sweep" run "$tmp/v.grid" --out-root "$tmp/vr" --jobs 2 >"$tmp/j.log" 2>&1 || true
check "--jobs 2: all 6 cells finish, each with its log" \
  '[[ $(ls "$tmp"/vr/v/*/summary.txt | wc -l) == 6 && $(ls "$tmp"/vr/v/logs/*.log | wc -l) == 6 ]] && grep -q "\[6/6\] cell" "$tmp/j.log"'
check "--jobs 2: the second cell starts before the first finishes" \
  'awk "/^sweep: cell 1 /{s=NR} /finished in/{if(!f)f=NR} END{exit !(s && f && s < f)}" "$tmp/j.log"'
check "--jobs 2: the cell output goes to its log" 'grep -q "mock_hfedmoe: done" "$tmp/vr/v/logs/variant-base_seed-1.log"'

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
