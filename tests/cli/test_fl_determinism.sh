#!/usr/bin/env bash
# docs/design.md, section 9: the same job gives bit-identical final parameters whatever the number of
# executor ranks (in-process, R = 1, 2, 4) and across repeated runs, and a resumed run ends
# bit-identical to an uninterrupted one. The thread count changes no bit either (the CPU
# kernels split work in fixed chunks): the repeated run and the resumed halves use 2 threads.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"

"$bin" prepare --prepare.corpus spam --prepare.seq_len 64 --prepare.clients 12 --prepare.partition dirichlet \
  --prepare.output "$tmp/spam.h5" >/dev/null
job_threads_any=(train --config jobs/demo.cfg --data.path "$tmp/spam.h5" --model.seq_len 64 --fl.clients 12
  --fl.clients_per_round 5 --fl.overcommit 0.4 --train.local_steps 2 --train.batch_size 4 --fl.eval_every 1
  --run.ckpt_every 0)
job=("${job_threads_any[@]}" --run.threads 1)
failures=0
same() {  # same A B WHAT: the /model groups of two checkpoints are bit-identical
  if h5diff "$1" "$2" /model /model >/dev/null; then
    echo "ok: $3"
  else
    echo "FAIL: $3 ($1 vs $2)"
    h5diff -r "$1" "$2" /model /model | head -5
    failures=$((failures + 1))
  fi
}

# Every method, and HFedMoE / random_moe under each selection option (name:method:options).
variants=(hfedmoe fedavg fedavg_unbounded fedprox random_moe fedmoe
  "hfedmoe-batch:hfedmoe:--fl.reselect batch" "hfedmoe-model:hfedmoe:--fl.budget_scope model"
  "random-batch-model:random_moe:--fl.reselect batch --fl.budget_scope model"
  "hfedmoe-report-tau:hfedmoe:--fl.memory_check report --fl.tau 0.2 --fl.val_fraction 0.3")
for variant in "${variants[@]}"; do
  IFS=: read -r name method opts <<<"$variant"
  method=${method:-$name}
  read -r -a extra <<<"${opts:-}"
  nps=(2 3 5)
  [[ $name == "$method" ]] || nps=(3)  # the option variants at one rank count
  "$bin" "${job[@]}" --fl.method "$method" "${extra[@]}" --fl.rounds 3 --out "$tmp/$name-np1" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err"; exit 1; }
  for np in "${nps[@]}"; do
    "$mpiexec" "${mpi_flags[@]}" -np "$np" "$bin" "${job[@]}" --fl.method "$method" "${extra[@]}" --fl.rounds 3 \
      --out "$tmp/$name-np$np" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
    same "$tmp/$name-np1/ckpt/train_3.h5" "$tmp/$name-np$np/ckpt/train_3.h5" \
      "$name: in-process == $((np - 1)) executor rank(s)"
    # metrics agree too, except the machine's (wall time, CPU, memory) and the MPI byte counts,
    # which depend on R
    # shellcheck disable=SC2086
    if diff <(without_columns "$tmp/$name-np1/metrics.csv" $machine_columns bytes_up bytes_down dense_bytes_equiv) \
      <(without_columns "$tmp/$name-np$np/metrics.csv" $machine_columns bytes_up bytes_down dense_bytes_equiv) >/dev/null; then
      echo "ok: $name metrics (accuracy, losses, virtual time) equal at np=$np"
    else
      echo "FAIL: $name metrics differ at np=$np"
      failures=$((failures + 1))
    fi
  done
done

# the machine's columns: every rank's peak memory, the executors' idle time (none in one process)
usage_ok() {  # usage_ok CSV EXECUTORS: rank_peak_rss_mb > 0; idle mean <= max, both >= 0, or null without executors
  awk -F, -v executors="$2" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { rss = $col["rank_peak_rss_mb"]; mean = $col["executor_idle_s_mean"]; max = $col["executor_idle_s_max"]
      if (!(rss > 0)) bad = 1
      if (executors == 0 && (mean != "null" || max != "null")) bad = 1
      if (executors > 0 && !(mean >= 0 && mean <= max)) bad = 1
      rows++ }
    END { exit !(rows > 0 && !bad) }' "$1"
}
check "usage columns in one process" usage_ok "$tmp/hfedmoe-np1/metrics.csv" 0
check "usage columns with 2 executors" usage_ok "$tmp/hfedmoe-np3/metrics.csv" 2

# run twice, the second time with 2 threads per rank: same bits
"$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${job_threads_any[@]}" --run.threads 2 --fl.rounds 3 --out "$tmp/again" >/dev/null 2>&1
same "$tmp/hfedmoe-np3/ckpt/train_3.h5" "$tmp/again/ckpt/train_3.h5" "hfedmoe: a second run with 2 threads gives the same bits"

# resume: 2 rounds, then continue to 3 in the same run directory == 3 rounds straight
for variant in "hfedmoe:" "hfedmoe-batch:--fl.reselect batch" "random-batch-model:--fl.method random_moe --fl.reselect batch --fl.budget_scope model"; do
  IFS=: read -r name opts <<<"$variant"
  read -r -a extra <<<"${opts:-}"
  "$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${job[@]}" "${extra[@]}" --fl.rounds 2 --out "$tmp/resumed-$name" >/dev/null 2>&1
  "$mpiexec" "${mpi_flags[@]}" -np 3 "$bin" "${job_threads_any[@]}" --run.threads 2 "${extra[@]}" --fl.rounds 3 --out "$tmp/resumed-$name" >/dev/null 2>&1
  same "$tmp/$name-np3/ckpt/train_3.h5" "$tmp/resumed-$name/ckpt/train_3.h5" "$name: resumed after round 2 (with 2 threads) == uninterrupted"
  # shellcheck disable=SC2086
  if diff <(without_columns "$tmp/$name-np3/metrics.csv" $machine_columns) \
    <(without_columns "$tmp/resumed-$name/metrics.csv" $machine_columns) >/dev/null; then
    echo "ok: $name: resumed metrics rows equal the uninterrupted run's (except the machine's columns)"
  else
    echo "FAIL: $name: resumed metrics differ"
    failures=$((failures + 1))
  fi
done

# a different seed must differ (the comparison can fail)
"$bin" "${job[@]}" --fl.rounds 3 --run.seed 7 --out "$tmp/seed7" >/dev/null 2>&1
if h5diff "$tmp/hfedmoe-np1/ckpt/train_3.h5" "$tmp/seed7/ckpt/train_3.h5" /model /model >/dev/null; then
  echo "FAIL: another seed gave the same model"
  failures=$((failures + 1))
else
  echo "ok: another seed gives another model"
fi
[[ $failures == 0 ]] || { echo "$failures failure(s)"; exit 1; }
echo "all determinism checks passed"
