#!/usr/bin/env bash
# shellcheck disable=SC2034  # variables read inside the eval'd strings of check()
# test_slurm_e2e.sh — auto-resume under a real (local, one-node) Slurm.
#
# What it does:
#   1. brings up munged + slurmctld + slurmd in a private loopback-only network namespace
#      (scripts/slurm_local.sh, state in a temp folder); a trap tears them down by pid;
#   2. prepares a small dataset and a tiny job (preset tiny, a few rounds, checkpoint every
#      round) and runs it once, uninterrupted, as `sbatch --wait slurm/autoresume.sbatch`
#      (the reference);
#   3. submits the same job again and, once a round has been checkpointed, sends the
#      pre-timeout signal with `scancel --signal=USR1 --batch <job>`: SIGUSR1 to the batch
#      shell only, which is exactly what `#SBATCH --signal=B:USR1@N` does at N seconds before
#      the time limit (waiting for a real time limit would cost minutes: Slurm's minimum
#      limit is 1 minute and it checks limits periodically). The script forwards it to
#      mpirun, hfedmoe checkpoints and exits 75, the script runs `scontrol requeue`;
#      Slurm holds a requeued job ~2 minutes (BeginTime), so the test releases it with
#      `scontrol update JobId=<job> StartTime=now`;
#   4. checks: the first instance stopped early with exit 75 and requeued itself (job log),
#      the job restarted once (Restarts=1) and ended COMPLETED with exit 0, summary.txt exists,
#      and the final checkpoint's /model (every tensor, via h5dump) is identical to the
#      reference run's, as are the accuracies in metrics.jsonl;
#   5. the same in chain mode (HFEDMOE_RESUME_MODE=chain: a successor job with
#      --dependency=afterany, which keeps the job's command-line --output and --time), and a
#      real failure (a bad option) must end the job FAILED without a requeue;
#   6. a plain `scancel` mid-round (SIGTERM to every process of the job, as at preemption or
#      a time limit without warning), under mpirun and under srun: the ranks checkpoint within
#      KillWait and exit 75, the script says so and does not resubmit, and submitting again
#      resumes to the same model as an uninterrupted run (slower rounds, no periodic
#      checkpoints: the only checkpoint is the stop's);
#   7. one_node.sbatch as shipped (3 tasks x --cpus-per-task=2, no GPUs) completes with 2
#      threads per rank; multi_node.sbatch on one node; allocations that do not fit are
#      refused before launch with one line.
# Prints "SKIP: ..." and exits 0 where it cannot run: not root, no `ip netns`, the Slurm/munge
# packages missing (apt-get install -y --no-install-recommends slurm-wlm slurmctld slurmd
# munge), no h5dump (hdf5-tools), or a binary without `train`.
# Runtime: about 2-3 minutes on the 2-core development machine (Debian 12, slurm-wlm 22.05).
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR (MPIEXEC/MPIEXEC_FLAGS are not used: the job
# runs mpirun inside Slurm). HFEDMOE_E2E_MOCK=1 runs the protocol with slurm/tools/mock_hfedmoe
# instead of the real binary (for developing the scripts).
set -euo pipefail

src=${HFEDMOE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${HFEDMOE_BIN:-$src/build/hfedmoe}
mock=${HFEDMOE_E2E_MOCK:-0}
ROUNDS=${E2E_ROUNDS:-20}         # rounds of the tiny job (~0.3 s each here)
RANKS=3                          # 1 server + 2 executors
T0=$SECONDS

skip() { echo "SKIP: test_slurm_e2e: $*"; exit 0; }
say() { echo "[e2e +$((SECONDS - T0))s] $*"; }

[[ $(id -u) == 0 ]] || skip "needs root (network namespace, SlurmUser=root)"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || skip "'ip netns' does not work here"
command -v nsenter >/dev/null || skip "nsenter missing (util-linux)"
for c in munged mungekey slurmctld slurmd sbatch; do
  command -v $c >/dev/null || skip "$c missing: apt-get install -y --no-install-recommends slurm-wlm slurmctld slurmd munge"
done
if [[ $mock == 1 ]]; then
  bin=$src/slurm/tools/mock_hfedmoe RANKS=1
else
  [[ -x $bin ]] || skip "HFEDMOE_BIN=$bin is not an executable"
  command -v h5dump >/dev/null || skip "h5dump missing (apt-get install hdf5-tools)"
  "$bin" train --help >/dev/null 2>&1 || skip "$bin train --help fails (train not built in this binary)"
fi

tmp=$(mktemp -d /tmp/hfedmoe-slurm-e2e.XXXXXX)
chmod 755 "$tmp"
# 8 CPUs on the 2-core machine: the templates' shipped shapes (3 tasks x 2 CPUs) fit as on a real node.
export SLURM_LOCAL_DIR=$tmp/cluster SLURM_LOCAL_NETNS=hfm-e2e-$$ SLURM_LOCAL_CPUS=8
cluster=$src/scripts/slurm_local.sh
cleanup() {
  local rc=$?
  "$cluster" down >/dev/null 2>&1 || echo "warning: slurm_local.sh down failed; state in $tmp"
  if [[ $rc == 0 && -z ${KEEP_E2E:-} ]]; then rm -rf "$tmp"; else echo "test_slurm_e2e: files kept in $tmp"; fi
}
trap cleanup EXIT
sl() { "$cluster" exec "$@"; }

# ---- the job -----------------------------------------------------------------------------
cfg=$tmp/tiny.cfg
if [[ $mock == 1 ]]; then
  ROUNDS=6
  printf '[fl]\nrounds = %s\n' "$ROUNDS" >"$cfg"
  export MOCK_ROUND_S=1
else
  say "preparing a dataset"
  "$bin" prepare --prepare.corpus spam --prepare.output "$tmp/spam.h5" --prepare.clients 8 \
    --prepare.input "$src/data/samples/spam-assassin" --prepare.seq_len 64 --prepare.seed 1 >"$tmp/prepare.log" 2>&1 ||
    { cat "$tmp/prepare.log"; echo "FAIL: hfedmoe prepare failed"; exit 1; }
  cat >"$cfg" <<EOF
# tiny federated job for the Slurm auto-resume test
[model]
preset = tiny
n_classes = 2
[data]
path = $tmp/spam.h5
[fl]
method = hfedmoe
rounds = $ROUNDS
clients_per_round = 4
eval_every = 1
eval_rows = 32
profiles = $src/jobs/profiles/default.csv
[train]
local_steps = 2
batch_size = 4
[run]
seed = 7
ckpt_every = 1
ckpt_keep = 100
EOF
  # Rounds of a few seconds, for a scancel to land mid-round; no periodic checkpoint.
  sed -e "s/^rounds = .*/rounds = 5/" -e "s/^local_steps = .*/local_steps = 24/" -e "s/^ckpt_every = .*/ckpt_every = 0/" \
    "$cfg" >"$tmp/slow.cfg"
fi

# ---- the cluster ---------------------------------------------------------------------------
rc=0
"$cluster" up >"$tmp/up.log" 2>&1 || rc=$?
if [[ $rc == 3 ]]; then skip "$(tail -n 2 "$tmp/up.log" | tr '\n' ' ')"; fi
[[ $rc == 0 ]] || { cat "$tmp/up.log"; echo "FAIL: local Slurm did not come up"; exit 1; }
say "local Slurm up ($(sl sinfo -h -o '%c CPUs, %T'))"

# Environment the jobs inherit (sbatch exports the submitter's environment).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
export HFEDMOE_BIN=$bin HFEDMOE_OUT_ROOT=$tmp/runs HFEDMOE_CONFIG=$cfg
unset HFEDMOE_ARGS HFEDMOE_RESUME_MODE
submit() {  # submit NAME [sbatch args...]: prints the job id
  local name=$1; shift
  HFEDMOE_RUN_NAME=$name sl sbatch --parsable --overcommit --ntasks=$RANKS --chdir="$tmp" \
    --output="$tmp/$name.out" "$@" "$src/slurm/autoresume.sbatch"
}
submit_template() {  # submit_template NAME TEMPLATE [sbatch args...]: the template's own shape
  local name=$1 template=$2; shift 2
  HFEDMOE_RUN_NAME=$name sl sbatch --parsable --chdir="$tmp" --output="$tmp/$name.out" "$@" "$src/slurm/$template"
}
job_field() { sl scontrol show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }
failures=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi; }

# Model digest: every tensor under /model of the run's final checkpoint (h5dump text without
# its first line, which names the file).
final_digest() {
  local out=$tmp/runs/$1 f
  f=$out/ckpt/$(cat "$out/ckpt/latest")
  if [[ $mock == 1 ]]; then sed -n 's/^model=//p' "$f"; return; fi
  h5dump -g /model "$f" >"$tmp/$1.model.txt" 2>&1 || { echo "h5dump-failed-$1"; return; }
  # Guard against comparing two empty dumps: the group must hold the tiny model's tensors.
  (($(grep -c 'DATASET "' "$tmp/$1.model.txt") >= 10)) || { echo "no-tensors-in-$1"; return; }
  tail -n +2 "$tmp/$1.model.txt" | sha256sum | cut -c1-16
}
accuracies() {  # the test_acc column of metrics.jsonl, one per line
  python3 -c "import json,sys; [print(json.loads(l).get('test_acc')) for l in open(sys.argv[1]) if l.strip()]" \
    "$tmp/runs/$1/metrics.jsonl"
}

# ---- helpers: signal a running job, wait for jobs to end ----------------------------------
interrupt() {  # interrupt NAME JOBID: signal once the first round is checkpointed
  local name=$1 job=$2 i
  for ((i = 0; i < 600; i++)); do
    [[ -f $tmp/runs/$name/ckpt/latest ]] && break
    [[ $(job_field "$job" JobState) =~ ^(RUNNING|PENDING|CONFIGURING)$ ]] || break
    sleep 0.2
  done
  [[ -f $tmp/runs/$name/ckpt/latest ]] || { cat "$tmp/$name.out"; echo "FAIL: no checkpoint appeared"; exit 1; }
  say "job $job checkpointed $(cat "$tmp/runs/$name/ckpt/latest"); scancel --signal=USR1 --batch $job"
  sl scancel --signal=USR1 --batch "$job"
}
declare -A last_state=()
wait_gone() {  # wait_gone JOBID...: until every job is in a final state (releasing requeue holds)
  local j st busy deadline=$((SECONDS + 180))
  while ((SECONDS < deadline)); do
    busy=0
    for j in "$@"; do
      st=$(job_field "$j" JobState || true)
      [[ $st == "${last_state[$j]:-}" ]] || { say "job $j: ${st:-?}"; last_state[$j]=$st; }
      case $st in
        COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) ;;
        PENDING)
          busy=1
          if [[ $(job_field "$j" Reason) == BeginTime ]]; then
            # slurmd revokes the old instance's credential with a 1 s timestamp; a relaunch
            # within the same second is refused ("Job credential revoked") and the job FAILS.
            # Slurm's own hold avoids this; when shortening it, wait 2 s first.
            sleep 2
            say "job $j requeued and held (BeginTime); releasing it with scontrol update StartTime=now"
            sl scontrol update JobId="$j" StartTime=now
          fi ;;
        *) busy=1 ;;   # running, completing, requeued, or a transient scontrol failure
      esac
    done
    ((busy)) || return 0
    sleep 0.2
  done
  echo "FAIL: jobs $* still not finished after 180 s"; sl squeue; return 1
}

# ---- 1. the reference: uninterrupted ------------------------------------------------------
say "reference run ($ROUNDS rounds, $RANKS ranks)"
t=$SECONDS
ref=$(submit ref)   # (not sbatch --wait: it polls with a growing interval, ~30 s late here)
wait_gone "$ref"
[[ $(job_field "$ref" JobState) == COMPLETED ]] || { cat "$tmp/ref.out"; echo "FAIL: the reference job failed"; exit 1; }
ref_s=$((SECONDS - t))
say "reference job $ref done in ${ref_s}s"
check "reference completed" '[[ -f $tmp/runs/ref/summary.txt ]]'

# ---- 2. interrupted by the pre-timeout signal, resumed by requeue -------------------------
say "interrupted run, requeue mode"
t=$SECONDS
job=$(submit requeue)
interrupt requeue "$job"
wait_gone "$job"
say "requeue chain done in $((SECONDS - t))s"
log=$tmp/requeue.out  # the job log of the requeued run
check "first instance stopped with exit 75" 'grep -q "job step exited with code 75" "$log"'
check "and requeued its job" 'grep -q "requeueing job $job" "$log"'
check "it stopped before the last round" '[[ $(grep -o "checkpointed (train_[0-9]*" "$log" | head -n1 | grep -o "[0-9]*$") -lt $ROUNDS ]]'
check "the job restarted once (Restarts=1)" '[[ $(job_field "$job" Restarts) == 1 ]]'
check "the job ended COMPLETED, exit 0:0" '[[ $(job_field "$job" JobState) == COMPLETED && $(job_field "$job" ExitCode) == 0:0 ]]'
check "the resumed instance reported completion" 'grep -q "run complete" "$log"'
check "summary.txt written" '[[ -f $tmp/runs/requeue/summary.txt ]]'
ref_digest=$(final_digest ref)
check "final /model identical to the uninterrupted run ($ref_digest)" '[[ $(final_digest requeue) == "$ref_digest" ]]'
check "test accuracies identical to the uninterrupted run" '[[ "$(accuracies requeue)" == "$(accuracies ref)" ]]'
if [[ $mock == 0 ]]; then
  final=$tmp/runs/requeue/ckpt/$(cat "$tmp/runs/requeue/ckpt/latest")
  check "final checkpoint is round $ROUNDS" '[[ $(basename "$final") == train_$ROUNDS.h5 ]]'
  check "hfedmoe inspect --verify accepts it (crc32 of every dataset)" '"$bin" inspect "$final" --verify >"$tmp/inspect.log" 2>&1'
fi

# ---- 3. chain mode: a successor job with --dependency=afterany ----------------------------
say "interrupted run, chain mode"
t=$SECONDS
job=$(HFEDMOE_RESUME_MODE=chain submit chain --time=30)
interrupt chain "$job"
wait_gone "$job"
next=$(grep -o "successor job [0-9]*" "$tmp/chain.out" | head -n1 | grep -o "[0-9]*$" || true)
check "chain: a successor job was submitted" '[[ -n $next ]]'
[[ -n $next ]] && wait_gone "$next"
say "chain done in $((SECONDS - t))s"
check "chain: the successor depended on the first job" 'grep -q "afterany:$job" "$tmp/chain.out"'
check "chain: the successor ended COMPLETED" '[[ -n $next && $(job_field "$next" JobState) == COMPLETED ]]'
check "chain: final /model identical to the uninterrupted run" '[[ $(final_digest chain) == "$ref_digest" ]]'
check "chain: the successor kept the command line's --output" '[[ -n $next && $(job_field "$next" StdOut) == "$tmp/chain.out" ]]'
check "chain: the successor kept the command line's --time" '[[ -n $next && $(job_field "$next" TimeLimit) == 00:30:00 ]]'

# ---- 4. a real failure fails the job, no requeue --------------------------------------------
if [[ $mock == 1 ]]; then
  bad=$(MOCK_FAIL_AT=1 submit bad)
else
  bad=$(HFEDMOE_ARGS="--fl.method no_such_method" submit bad)
fi
wait_gone "$bad"
check "a failing run ends FAILED" '[[ $(job_field "$bad" JobState) == FAILED ]]'
check "and is not requeued" '[[ $(job_field "$bad" Restarts) == 0 ]] && ! grep -q requeueing "$tmp/bad.out"'

if [[ $mock == 0 ]]; then
  # ---- 6. plain scancel (SIGTERM) mid-round, under mpirun and under srun -----------------
  say "slow reference (rounds of a few seconds)"
  job=$(HFEDMOE_CONFIG=$tmp/slow.cfg submit slowref)
  wait_gone "$job"
  slow_digest=$(final_digest slowref)
  launchers=(mpirun)
  if sl srun --mpi=list 2>&1 | grep -qw pmix; then launchers+=(srun); else say "SKIP the srun part: no PMIx plugin in this Slurm"; fi
  for launcher in "${launchers[@]}"; do
    name=term-$launcher log=$tmp/term-$launcher.out
    job=$(HFEDMOE_CONFIG=$tmp/slow.cfg HFEDMOE_LAUNCHER=$launcher submit "$name")
    for ((i = 0; i < 600; i++)); do
      [[ -s $tmp/runs/$name/metrics.jsonl ]] && break
      [[ $(job_field "$job" JobState) =~ ^(RUNNING|PENDING|CONFIGURING)$ ]] || break
      sleep 0.2
    done
    sleep 0.5   # into round 2
    say "$launcher: round 1 done; plain scancel $job"
    sl scancel "$job"
    wait_gone "$job"
    check "$launcher, scancel: the ranks checkpointed on the stop" 'grep -q "a stop signal (SIGTERM or SIGUSR1) reached a rank: checkpointing round" "$log"'
    check "$launcher, scancel: the job step exited with code 75" 'grep -q "job step exited with code 75" "$log"'
    check "$launcher, scancel: the script says SIGTERM stopped it and does not resubmit" \
      'grep -q "stopped after SIGTERM" "$log" && grep -q "not resubmitting after SIGTERM" "$log" && [[ $(job_field "$job" Restarts) == 0 ]]'
    check "$launcher, scancel: a checkpoint before the last round" \
      '[[ -f $tmp/runs/$name/ckpt/latest && $(cat "$tmp/runs/$name/ckpt/latest") != train_5.h5 ]]'
    job=$(HFEDMOE_CONFIG=$tmp/slow.cfg HFEDMOE_LAUNCHER=$launcher submit "$name")
    wait_gone "$job"
    check "$launcher, scancel: submitted again, the run resumed and completed" \
      '[[ $(job_field "$job" JobState) == COMPLETED ]] && grep -q "resuming in" "$log" && [[ -f $tmp/runs/$name/summary.txt ]]'
    check "$launcher, scancel: final /model identical to the uninterrupted run" '[[ $(final_digest "$name") == "$slow_digest" ]]'
  done

  # ---- 7. the templates as shipped, and allocations that do not fit --------------------------
  say "one_node.sbatch as shipped"
  job=$(HFEDMOE_ARGS="--fl.rounds 3" submit_template shipped one_node.sbatch)
  wait_gone "$job"
  log=$tmp/shipped.out
  check "one_node.sbatch as shipped completes on a GPU-less node" '[[ $(job_field "$job" JobState) == COMPLETED ]] && grep -q "run complete" "$log"'
  check "--cpus-per-task=2 gives every rank 2 threads" \
    '[[ $(grep -c "[0-9]: 2 OpenMP thread(s), from SLURM_CPUS_PER_TASK" "$log") == 3 ]]'
  job=$(HFEDMOE_ARGS="--fl.rounds 3" submit_template multi multi_node.sbatch --nodes=1)
  wait_gone "$job"
  check "multi_node.sbatch on one node: 1 server + 2 executors from --ntasks-per-node=3" \
    '[[ $(job_field "$job" JobState) == COMPLETED ]] && grep -q "1 server + 2 executors on 1 nodes" "$tmp/multi.out"'
fi
job=$(submit_template lonely one_node.sbatch --ntasks=1)
job2=$(HFEDMOE_EXECUTORS_PER_NODE=3 submit_template crowded multi_node.sbatch --nodes=1)
wait_gone "$job" "$job2"
check "--ntasks=1 is refused before launch, in one line" \
  '[[ $(job_field "$job" JobState) == FAILED ]] && grep -q "does not fit: --ntasks=1 leaves no executor" "$tmp/lonely.out" && ! grep -q "launch:" "$tmp/lonely.out"'
check "more executors than task slots per node is refused before launch" \
  '[[ $(job_field "$job2" JobState) == FAILED ]] && grep -q "3 task slot(s) per node, but 3 executors per node plus the server" "$tmp/crowded.out"'

say "total ${SECONDS}s"
if ((failures)); then
  echo "test_slurm_e2e: $failures check(s) failed; job logs:"
  for f in "$tmp"/*.out; do echo "== $f"; tail -n 40 "$f"; done
  exit 1
fi
echo "test_slurm_e2e: all checks passed"
