#!/usr/bin/env bash
# shellcheck disable=SC2016  # the check conditions are single-quoted on purpose (eval'd by check)
# The study tooling on synthetic run directories written by hand (no hfedmoe binary needed):
#   * scripts/studylib.py: Student t quantiles against table values
#   * scripts/select_lr: the lr of the best mean last-k validation accuracy per (task, method),
#     never test accuracy, ties to the smaller lr, a diverged seed disqualifies its lr, unequal
#     lr grids refused; its table drives jobs/sweep --overrides (train.lr per method)
#   * scripts/collect_results --study: last-k means (k from config.ini), mean and 95% CI over
#     seeds, best-val-chosen test accuracy, failed-client rate, rounds to target, paired
#     differences against hfedmoe with their CIs and readings, per-task tables and plots;
#     unfinished runs left out; old runs without the new columns still collected
# Every expected number is computed by hand in the comments. Env from ctest: HFEDMOE_SOURCE_DIR.
set -euo pipefail
src=${HFEDMOE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi; }
# near VALUE EXPECTED [TOL]: |VALUE - EXPECTED| <= TOL (default 1e-6)
near() { python3 -c "import sys; v, e, t = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]); sys.exit(0 if v and abs(float(v) - e) <= t else 1)" "$1" "$2" "${3:-1e-6}"; }

# ---- Student t quantiles (two-sided 95%: p = 0.975) against the usual table ----------------
tq() { python3 -c "import sys; sys.dont_write_bytecode = True; sys.path.insert(0, '$src/scripts'); import studylib; print(studylib.t_quantile($1, $2))"; }
check "t_0.975,1 = 12.706" 'near "$(tq 0.975 1)" 12.7062 1e-4'
check "t_0.975,4 = 2.776" 'near "$(tq 0.975 4)" 2.77645 1e-5'
check "t_0.975,9 = 2.262" 'near "$(tq 0.975 9)" 2.26216 1e-5'
check "t_0.975,30 = 2.042" 'near "$(tq 0.975 30)" 2.04227 1e-5'
check "t_0.95,5 = 2.015" 'near "$(tq 0.95 5)" 2.01505 1e-5'
check "t_0.975,1000 -> 1.962 (near the normal 1.960)" 'near "$(tq 0.975 1000)" 1.96234 1e-5'
check "t_0.025,4 = -2.776 (symmetry)" 'near "$(tq 0.025 4)" -2.77645 1e-5'

# ---- synthetic runs --------------------------------------------------------------------------
python3 - "$tmp" <<'PY'
import json, os, sys
root = sys.argv[1]

def write_run(d, cfg, rows, finished=True):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.ini"), "w") as f:
        for sec, kv in cfg.items():
            f.write(f"[{sec}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()))
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r).replace("NaN", "null") + "\n")
    if finished:
        open(os.path.join(d, "summary.txt"), "w").write(f"method {cfg['fl']['method']}\n")

def sweep_json(folder, cells):
    json.dump(dict(sweep=os.path.basename(folder), cells=cells), open(os.path.join(folder, "sweep.json"), "w"))

# ---- the main study: task spam3 (5 seeds) and sotu_era (2 seeds) ----
# 8 rounds, evaluated on even rounds (null in odd ones), fl.eval_last = 2: the last-k means
# are over rounds 6 and 8. Run with headline x: test_acc r2 0.50, r4 0.55, r6 x-0.01, r8 x+0.01
# (so the last-2 mean is x; with the default k = 5 it would not be); val_acc r2..r8 = 0.6, 0.9,
# 0.9, 0.8 (best val: the first 0.9, round 4, whose test_acc is 0.55); client_acc_p10 = x - 0.2
# in rounds 6 and 8; clients ok/failed per round = 10/0 (fedavg 8/2: failed rate 0.2);
# bytes 1000 up + 500 down.
hf = {1: 0.80, 2: 0.82, 3: 0.84, 4: 0.86, 5: 0.88}
arms = {
    "hfedmoe": hf,
    "fedavg": {s: hf[s] - d for s, d in zip(range(1, 6), (0.05, 0.03, 0.04, 0.06, 0.02))},
    "random_moe": {s: hf[s] + e for s, e in zip(range(1, 6), (0.02, -0.03, 0.01, -0.01, 0.01))},
    "fedavg_unbounded": {s: hf[s] + 0.05 + e for s, e in zip(range(1, 6), (0.01, -0.01, 0.0, 0.01, -0.01))},
}

def study_rows(method, x, failed=0):
    rows = []
    for r in range(1, 9):
        ev = r % 2 == 0
        test = {2: 0.50, 4: 0.55, 6: x - 0.01, 8: x + 0.01}.get(r, float("nan"))
        val = {2: 0.6, 4: 0.9, 6: 0.9, 8: 0.8}.get(r, float("nan"))
        rows.append(dict(round=r, method=method, test_acc=test, val_acc=val, train_loss=1.0,
                         client_acc_mean=(x - 0.1 if r >= 6 else 0.0) if ev else float("nan"),
                         client_acc_p10=(x - 0.2 if r >= 6 else 0.0) if ev else float("nan"),
                         expert_load_cv=0.3 if ev else float("nan"),
                         virtual_time_s=10.0 * r, bytes_up=1000, bytes_down=500,
                         clients_ok=10 - failed, clients_failed=failed))
    return rows

folder = os.path.join(root, "study", "main")
cells = []
def add(method, seed, x, task="spam3", finished=True):
    data = f"data/study/{task}_dir0.1.h5"
    name = f"path-{task}-dir0.1_method-{method}_seed-{seed}"
    values = {"data.path": data, "fl.profiles": "jobs/sweeps/mix_even.csv", "fl.method": method, "run.seed": str(seed)}
    write_run(os.path.join(folder, name),
              {"fl": {"method": method, "eval_last": 2, "target_acc": 0.85}, "data": {"path": data},
               "run": {"seed": seed}, "train": {"lr": 0.002}},
              study_rows(method, x, failed=2 if method == "fedavg" else 0), finished)
    cells.append(dict(index=len(cells), name=name, ranks=1, values=values, run_dir=os.path.join(folder, name)))
for m, xs in arms.items():
    for s, x in xs.items():
        add(m, s, x)
add("fedavg", 6, 0.10, finished=False)  # unfinished: must not enter the study (it would move fedavg's mean)
for m, xs in (("hfedmoe", {1: 0.5, 2: 0.6}), ("fedavg", {1: 0.45, 2: 0.5})):
    for s, x in xs.items():
        add(m, s, x, task="sotu_era")
sweep_json(folder, cells)

# An old run (before val_acc and the other new columns): still collected.
old = os.path.join(root, "old", "run1")
write_run(old, {"fl": {"method": "fedavg"}}, [dict(round=r, method="fedavg", test_acc=0.5 + 0.1 * r,
                                                     virtual_time_s=r, bytes_up=10, bytes_down=10) for r in (1, 2, 3)])

# ---- the lr sweep: task spam3, methods hfedmoe and fedavg, lr 0.001/0.002/0.004, seeds 1 and 2 ----
# 6 evaluated rounds, k = 5 (default): round 1 has val_acc 0.99 (outside the last 5; with a wrong
# k it would win), rounds 2..6 the run's score v. Test accuracy 0.99 at lr 0.004 (a selection on
# test would pick it).
#   hfedmoe: 0.001 -> (0.70, 0.72) mean 0.71; 0.002 -> (0.74, 0.76) mean 0.75; 0.004 -> (0.80, diverged)
#            -> NaN. Chosen: 0.002 (0.004 has a seed without any val_acc).
#   fedavg:  0.001 -> (0.60, 0.70) mean 0.65; 0.002 -> (0.66, 0.64) mean 0.65 (a tie within 1e-12);
#            0.004 -> (0.50, 0.50). Chosen: 0.001 (tie -> the smaller lr).
lr_folder = os.path.join(root, "lr", "study_lr")
scores = {("hfedmoe", 0.001): (0.70, 0.72), ("hfedmoe", 0.002): (0.74, 0.76), ("hfedmoe", 0.004): (0.80, None),
          ("fedavg", 0.001): (0.60, 0.70), ("fedavg", 0.002): (0.66, 0.64), ("fedavg", 0.004): (0.50, 0.50)}
cells = []
for (m, lr), vs in scores.items():
    for seed, v in zip((1, 2), vs):
        name = f"path-spam3-dir0.5_method-{m}_lr-{lr:g}_seed-{seed}"
        rows = [dict(round=r, method=m, val_acc=(0.99 if r == 1 else v) if v is not None else None,
                     test_acc=0.99 if lr == 0.004 else 0.5) for r in range(1, 7)]
        write_run(os.path.join(lr_folder, name), {"fl": {"method": m}, "data": {"path": "data/study/spam3_dir0.5.h5"},
                                                  "train": {"lr": lr}, "run": {"seed": seed}}, rows)
        cells.append(dict(index=len(cells), name=name, ranks=1, run_dir=os.path.join(lr_folder, name),
                          values={"data.path": "data/study/spam3_dir0.5.h5", "fl.method": m, "train.lr": f"{lr:g}",
                                  "run.seed": str(seed)}))
sweep_json(lr_folder, cells)
# An unequal lr grid (fedavg never ran lr 0.004): refused.
bad = os.path.join(root, "lr_bad")
for m, lrs in (("hfedmoe", (0.001, 0.004)), ("fedavg", (0.001,))):
    for lr in lrs:
        write_run(os.path.join(bad, f"{m}-{lr}"), {"fl": {"method": m}, "data": {"path": "data/study/spam3_dir0.5.h5"},
                                                  "train": {"lr": lr}, "run": {"seed": 1}},
                  [dict(round=1, method=m, val_acc=0.5)])
PY

# ---- select_lr ---------------------------------------------------------------------------------
sel=$tmp/sel
python3 "$src/scripts/select_lr" "$tmp/lr" --out "$sel" >"$tmp/sel.log" 2>&1 || { cat "$tmp/sel.log"; echo "FAIL: select_lr exited non-zero"; exit 1; }
lr_of() { awk -F'\t' -v t="$1" -v m="$2" '$1 == t && $2 == m { print $3 }' "$sel/lr_choice.tsv"; }
col_of() { awk -F'\t' -v t="$1" -v m="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $1 == t && $2 == m { print $h[c] }' "$sel/lr_choice.tsv"; }
check "select_lr: header task/method/train.lr/val_score/n_seeds/lrs_tried" \
  '[[ $(head -n1 "$sel/lr_choice.tsv") == $(printf "task\tmethod\ttrain.lr\tval_score\tn_seeds\tlrs_tried") ]]'
check "select_lr: hfedmoe -> 0.002 (0.004 diverged on one seed; test accuracy ignored)" '[[ $(lr_of spam3 hfedmoe) == 0.002 ]]'
check "select_lr: hfedmoe score 0.75 over 2 seeds" 'near "$(col_of spam3 hfedmoe val_score)" 0.75 && [[ $(col_of spam3 hfedmoe n_seeds) == 2 ]]'
check "select_lr: fedavg tie 0.65 = 0.65 -> the smaller lr 0.001" '[[ $(lr_of spam3 fedavg) == 0.001 ]] && near "$(col_of spam3 fedavg val_score)" 0.65'
check "select_lr: the lrs tried are listed" '[[ $(col_of spam3 fedavg lrs_tried) == 0.001,0.002,0.004 ]]'
check "select_lr: Markdown shows every lr, the chosen one in bold" \
  'grep -q "| spam3 | hfedmoe | 0.7100 ± 0.0141 (2) | \*\*0.7500 ± 0.0141 (2)\*\* | n/a (2) | 0.002 |" "$sel/lr_choice.md"'
check "select_lr: unequal lr grids are refused" \
  '! python3 "$src/scripts/select_lr" "$tmp/lr_bad" --out "$tmp/sel_bad" 2>"$tmp/err" && grep -q "not run at the same lrs" "$tmp/err"'
check "select_lr: no runs -> error" '! python3 "$src/scripts/select_lr" "$tmp/old/none" --out "$tmp/x" 2>/dev/null'

# ---- the choice drives jobs/sweep --overrides -------------------------------------------------------
printf '[fl]\nmethod = hfedmoe\n[data]\npath = data/study/spam3_dir0.1.h5\n' >"$tmp/s.cfg"
printf '%s\n' '[sweep]' 'name = ov' "config = $tmp/s.cfg" 'ranks = 1' '[grid]' 'fl.method = hfedmoe fedavg' 'run.seed = 1' >"$tmp/ov.grid"
check "sweep --overrides: each method gets its chosen lr" \
  '"$src/jobs/sweep" list "$tmp/ov.grid" --out-root "$tmp/o" --overrides "$sel/lr_choice.tsv" >"$tmp/ov.log" &&
   grep -q "method-hfedmoe_seed-1 .*--train.lr 0.002" "$tmp/ov.log" && grep -q "method-fedavg_seed-1 .*--train.lr 0.001" "$tmp/ov.log"'
printf '%s\n' '[sweep]' 'name = ov2' "config = $tmp/s.cfg" '[grid]' 'fl.method = hfedmoe fedmoe' >"$tmp/ov2.grid"
check "sweep --overrides: a method without a row is an error naming the cell" \
  '! "$src/jobs/sweep" list "$tmp/ov2.grid" --out-root "$tmp/o" --overrides "$sel/lr_choice.tsv" 2>"$tmp/err" && grep -q "no row for cell method-fedmoe (task=spam3, method=fedmoe)" "$tmp/err"'

# ---- collect_results --study -------------------------------------------------------------------
out=$tmp/res
python3 "$src/scripts/collect_results" --study "$tmp/study" --out "$out" >"$tmp/col.log" 2>&1 ||
  { cat "$tmp/col.log"; echo "FAIL: collect_results --study exited non-zero"; exit 1; }
# stat TASK METHOD METRIC FIELD: a value of study.csv
stat() { python3 -c "import csv,sys; a=sys.argv[1:]; r=[x for x in csv.DictReader(open('$out/study.csv')) if x['task']==a[0] and x['method']==a[1] and x['metric']==a[2]]; print(r[0][a[3]] if len(r)==1 else 'rows=%d' % len(r))" "$@"; }
pstat() { python3 -c "import csv,sys; a=sys.argv[1:]; r=[x for x in csv.DictReader(open('$out/paired.csv')) if x['task']==a[0] and x['method']==a[1] and x['metric']==a[2]]; print(r[0][a[3]] if len(r)==1 else 'rows=%d' % len(r))" "$@"; }
# hfedmoe spam3: x = 0.80..0.88, mean 0.84, sd sqrt(0.004/4) = 0.0316228, half = 2.776445 * 0.0316228 / sqrt(5) = 0.0392647
check "hfedmoe headline: n 5, mean 0.84 (last-2 mean, k from config.ini)" '[[ $(stat spam3 hfedmoe test_acc_last n) == 5 ]] && near "$(stat spam3 hfedmoe test_acc_last mean)" 0.84'
check "hfedmoe headline: 95% CI half-width 0.039265 (t_0.975,4 = 2.776)" 'near "$(stat spam3 hfedmoe test_acc_last ci_half)" 0.0392647 2e-6'
check "hfedmoe headline: CI [0.800735, 0.879265]" 'near "$(stat spam3 hfedmoe test_acc_last ci_lo)" 0.8007353 2e-6 && near "$(stat spam3 hfedmoe test_acc_last ci_hi)" 0.8792647 2e-6'
check "unfinished fedavg seed 6 left out: n 5, mean 0.84 - 0.04 = 0.80" '[[ $(stat spam3 fedavg test_acc_last n) == 5 ]] && near "$(stat spam3 fedavg test_acc_last mean)" 0.80'
check "val acc last-2 mean (0.9 + 0.8) / 2 = 0.85" 'near "$(stat spam3 hfedmoe val_acc_last mean)" 0.85'
check "test acc at best val: the first best val (round 4) -> 0.55, CI 0 wide" 'near "$(stat spam3 hfedmoe test_at_best_val mean)" 0.55 && near "$(stat spam3 hfedmoe test_at_best_val ci_half)" 0'
check "client acc p10: 0.84 - 0.2 = 0.64" 'near "$(stat spam3 hfedmoe client_acc_p10 mean)" 0.64'
check "failed client rate: fedavg 2/10 = 0.2, hfedmoe 0" 'near "$(stat spam3 fedavg failed_rate mean)" 0.2 && near "$(stat spam3 hfedmoe failed_rate mean)" 0'
# target 0.85: seeds 4, 5 (x - 0.01 >= 0.85) in round 6, seed 3 (x + 0.01 = 0.85) in round 8 -> 3 of 5, mean 20/3
check "rounds to target: 3 of 5 reached, mean 6.667" '[[ $(stat spam3 hfedmoe rounds_to_target n) == 3 && $(stat spam3 hfedmoe rounds_to_target runs) == 5 ]] && near "$(stat spam3 hfedmoe rounds_to_target mean)" 6.6666667'
check "bytes per round 1500" 'near "$(stat spam3 hfedmoe bytes_per_round mean)" 1500'
# paired hfedmoe - fedavg: d = 0.05 0.03 0.04 0.06 0.02, mean 0.04, sd 0.0158114, half 2.776445 * 0.0158114 / sqrt(5) = 0.0196324
check "paired hfedmoe - fedavg: mean 0.04, CI [0.020368, 0.059632], excludes 0, hfedmoe higher" \
  'near "$(pstat spam3 fedavg test_acc_last mean_diff)" 0.04 && near "$(pstat spam3 fedavg test_acc_last ci_lo)" 0.0203676 2e-6 &&
   near "$(pstat spam3 fedavg test_acc_last ci_hi)" 0.0596324 2e-6 && [[ $(pstat spam3 fedavg test_acc_last excludes_zero) == yes && $(pstat spam3 fedavg test_acc_last reading) == "hfedmoe higher" ]]'
check "paired: the 5 seeds pair by seed" '[[ $(pstat spam3 fedavg test_acc_last seeds) == "1 2 3 4 5" && $(pstat spam3 fedavg test_acc_last n_pairs) == 5 ]]'
# hfedmoe - random_moe: -0.02 0.03 -0.01 0.01 -0.01, mean 0, sd 0.02, half 2.776445 * 0.02 / sqrt(5) = 0.0248333
check "paired hfedmoe - random_moe: mean 0, CI +-0.024833 includes 0: indistinguishable" \
  'near "$(pstat spam3 random_moe test_acc_last mean_diff)" 0 && near "$(pstat spam3 random_moe test_acc_last ci_hi)" 0.0248333 2e-6 &&
   [[ $(pstat spam3 random_moe test_acc_last excludes_zero) == no && $(pstat spam3 random_moe test_acc_last reading) == "no difference shown (CI includes 0)" ]]'
# hfedmoe - fedavg_unbounded: -0.06 -0.04 -0.05 -0.06 -0.04, mean -0.05, sd 0.01, half 0.0124166
check "paired hfedmoe - fedavg_unbounded: -0.05, CI [-0.062417, -0.037583]: hfedmoe lower" \
  'near "$(pstat spam3 fedavg_unbounded test_acc_last mean_diff)" -0.05 && near "$(pstat spam3 fedavg_unbounded test_acc_last ci_lo)" -0.0624166 2e-6 &&
   [[ $(pstat spam3 fedavg_unbounded test_acc_last reading) == "hfedmoe lower" ]]'
# sotu_era: hfedmoe 0.5, 0.6 -> mean 0.55, sd 0.0707107, half 12.7062 * 0.0707107 / sqrt(2) = 0.635310
check "task sotu_era kept apart: n 2, CI half 0.63531 (t_0.975,1)" '[[ $(stat sotu_era hfedmoe test_acc_last n) == 2 ]] && near "$(stat sotu_era hfedmoe test_acc_last ci_half)" 0.63531 1e-5'
check "results.md: one section per task" 'grep -q "^## Task spam3" "$out/results.md" && grep -q "^## Task sotu_era" "$out/results.md"'
check "results.md: setting = partition + profiles, method row with mean ± half" \
  'grep -q "^| partition=dir0.1 profiles=mix_even | hfedmoe | 5 | 0.8400 ± 0.0393 |" "$out/results.md"'
check "results.md: the worse case is shown in words" \
  'grep -q "| fedavg_unbounded | 5 | -0.0500 \[-0.0624, -0.0376\] | yes | hfedmoe lower |" "$out/results.md"'
check "results.md: headline tally (1 higher, 1 lower, 1 not distinguishable)" \
  'grep -q "Headline over 3 comparisons in task spam3: hfedmoe higher in 1, lower in 1, not distinguishable in 1." "$out/results.md"'
check "results.md: rounds to target with reached/runs" 'grep -q "6.7 ± [0-9.]* (3/5)" "$out/results.md"'
check "results.csv: new per-run columns" \
  'python3 -c "import csv; r=[x for x in csv.DictReader(open(\"$out/results.csv\")) if x[\"run\"]==\"path-spam3-dir0.1_method-hfedmoe_seed-1\"][0]; assert r[\"test_acc_last\"]==\"0.8000\" and r[\"best_val_round\"]==\"4\" and r[\"task\"]==\"spam3\" and r[\"partition\"]==\"dir0.1\", r"'
if command -v gnuplot >/dev/null; then
  for png in study_spam3 study_spam3_diff study_sotu_era; do
    check "$png.png drawn" '[[ -s "$out/$png.png" ]] && [[ $(head -c 4 "$out/$png.png" | od -An -c | tr -d " ") == "211PNG" ]]'
  done
fi
# Old runs (no val_acc, no eval_last): collected, the new columns empty, no crash.
check "old runs: collected with empty study columns" \
  'python3 "$src/scripts/collect_results" --study "$tmp/old" --out "$tmp/res_old" >/dev/null 2>&1 &&
   python3 -c "import csv; r=list(csv.DictReader(open(\"$tmp/res_old/results.csv\")))[0]; assert r[\"val_acc_last\"]==\"\" and r[\"test_acc_last\"]==\"0.7000\", r"'

# ---- jobs/study.sh: the stages in order (dry run: commands printed, nothing run) -------------------
"$src/jobs/study.sh" --dry-run --root "$tmp/sr" --results "$tmp/sres" --jobs 2 >"$tmp/study.log" 2>&1 || true
check "study.sh: 6 stages in order, each timed" \
  '[[ $(grep -o "^== \[[0-9]/6\] [a-z]*" "$tmp/study.log" | cut -d" " -f3 | tr "\n" " ") == "prepare lr select main ablation collect " ]] &&
   [[ $(grep -cE "^== (prepare|lr|select|main|ablation|collect): done in [0-9]+ s" "$tmp/study.log") == 6 ]] && grep -q "^== study: done in [0-9]* s" "$tmp/study.log"'
check "study.sh: the main grid and the ablations run at the chosen lrs, 2 cells at a time" \
  'grep -q "jobs/sweep run jobs/sweeps/study_local.grid --overrides $tmp/sr/study_lr/selection/lr_choice.tsv --out-root $tmp/sr --jobs 2" "$tmp/study.log" &&
   grep -q "jobs/sweep run jobs/sweeps/study_ablation.grid --overrides $tmp/sr/study_lr/selection/lr_choice.tsv" "$tmp/study.log"'
check "study.sh: ablations collected against the base variant" \
  'grep -q "collect_results --study --compare-key variant --reference base $tmp/sr/study_ablation" "$tmp/study.log"'
"$src/jobs/study.sh" --adapter lora --dry-run --root "$tmp/sl" --results "$tmp/slres" >"$tmp/study_lora.log" 2>&1 || true
check "study.sh --adapter lora: its own lr sweep, choice, main grid at the chosen lrs, and collect; no ablation" \
  '[[ $(grep -o "^== \[[0-9]/5\] [a-z]*" "$tmp/study_lora.log" | cut -d" " -f3 | tr "\n" " ") == "prepare lr select main collect " ]] &&
   grep -q "jobs/sweep run jobs/sweeps/study_lora_lr.grid --out-root $tmp/sl" "$tmp/study_lora.log" &&
   grep -q "scripts/select_lr $tmp/sl/study_lora_lr --out $tmp/sl/study_lora_lr/selection" "$tmp/study_lora.log" &&
   grep -q "jobs/sweep run jobs/sweeps/study_lora.grid --overrides $tmp/sl/study_lora_lr/selection/lr_choice.tsv" "$tmp/study_lora.log" &&
   grep -q "collect_results --study $tmp/sl/study_lora --out $tmp/slres/main" "$tmp/study_lora.log" &&
   ! grep -q ablation "$tmp/study_lora.log"'
check "study.sh: the ablation stage is refused with --adapter lora, and an unknown adapter too" \
  '"$src/jobs/study.sh" --adapter lora --stages ablation 2>"$tmp/err"; [[ $? == 2 ]] && grep -q "unknown stage .ablation. for --adapter lora" "$tmp/err" &&
   { "$src/jobs/study.sh" --adapter qlora 2>"$tmp/err"; [[ $? == 2 ]]; } && grep -q "give none or lora" "$tmp/err"'
check "study.sh: a bad --jobs is a usage error" '"$src/jobs/study.sh" --jobs 0 2>"$tmp/err"; [[ $? == 2 ]] && grep -q "give a positive integer" "$tmp/err"'

[[ -n "${KEEP_RESULTS:-}" ]] && cp -r "$out" "$KEEP_RESULTS"
if ((failures)); then echo "test_study_tools: $failures check(s) failed"; exit 1; fi
echo "test_study_tools: all checks passed"
