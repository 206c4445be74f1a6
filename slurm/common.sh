# slurm/common.sh — functions shared by the sbatch templates in this folder. Sourced, not run.
#
# The templates find this file through HFEDMOE_SLURM_DIR (set it when you copy a template
# elsewhere); by default they ask Slurm where the submitted script lives (Slurm runs a copy
# from its spool directory, so `dirname $0` would point there).
#
# What it provides:
#   hf_log / hf_die           messages prefixed with the job id and time
#   hf_prepare                input checks (HFEDMOE_BACKEND, HFEDMOE_RUN_NAME), module loads,
#                             binary check, OpenMP defaults
#   hf_run NTASKS CMD...      runs CMD as NTASKS MPI ranks with $HFEDMOE_LAUNCHER (mpirun or
#                             srun --mpi=pmix) in the background, forwards SIGUSR1 from the batch
#                             shell to the launcher, and returns the step's exit code
#   hf_finish_or_resume RC    the auto-resume protocol: 0 -> done; 75 -> requeue or chain; else fail
#   hf_backend_args           --run.backend for the allocation (cuda with GPUs; HFEDMOE_BACKEND overrides)
#
# Exit-code protocol of `hfedmoe train` (see slurm/README.md):
#   0   the run completed (summary.txt written)
#   75  EX_TEMPFAIL: stopped early on SIGUSR1/SIGTERM after checkpointing; resume me
#   *   a real failure
# shellcheck shell=bash

HF_EXIT_REQUEUE=75

hf_log() { echo "[hfedmoe-slurm ${SLURM_JOB_ID:-nojob} $(date -u +%H:%M:%S)] $*"; }
hf_die() { hf_log "error: $*" >&2; exit 1; }

# hf_backend_args: "--run.backend cuda" when the allocation has GPUs, "--run.backend X" when
# HFEDMOE_BACKEND=X is set, else nothing (the job config's [run] backend, default cpu, applies).
# HFEDMOE_BACKEND is the override: --run.backend in HFEDMOE_ARGS as well would be given twice.
# (It runs in $(...), where hf_die could not stop the job: hf_prepare checks HFEDMOE_BACKEND.)
hf_backend_args() {
  if [[ -n "${HFEDMOE_BACKEND:-}" ]]; then echo "--run.backend $HFEDMOE_BACKEND"
  elif ((${SLURM_GPUS_ON_NODE:-0} > 0)); then echo "--run.backend cuda"
  fi
}

# hf_check_inputs: the variables that reach a command line or a path unquoted hold only what
# they may (HFEDMOE_BACKEND="cpu --fresh" would otherwise pass --fresh and delete the run).
hf_check_inputs() {
  case "${HFEDMOE_BACKEND:-}" in
    "" | cpu | cuda) ;;
    *) hf_die "HFEDMOE_BACKEND='$HFEDMOE_BACKEND' is not cpu or cuda (other options go in HFEDMOE_ARGS)" ;;
  esac
  if [[ -n "${HFEDMOE_RUN_NAME+set}" ]] && ! [[ $HFEDMOE_RUN_NAME =~ ^[A-Za-z0-9._-]+$ && $HFEDMOE_RUN_NAME != . && $HFEDMOE_RUN_NAME != .. ]]; then
    hf_die "HFEDMOE_RUN_NAME='$HFEDMOE_RUN_NAME' is not a plain run name (letters, digits, '.', '_' or '-'; not '.' or '..')"
  fi
}

# hf_prepare: checks the inputs, loads modules, checks the binary, sets OpenMP placement defaults.
hf_prepare() {
  hf_check_inputs
  if [[ -n "${HFEDMOE_MODULES:-}" ]]; then
    type module >/dev/null 2>&1 || hf_die "HFEDMOE_MODULES='$HFEDMOE_MODULES' is set but this shell has no 'module' command (source your site's modules init, or empty HFEDMOE_MODULES)"
    # shellcheck disable=SC2086  # a list of module names
    module load $HFEDMOE_MODULES
  fi
  [[ -x "$HFEDMOE_BIN" ]] || hf_die "HFEDMOE_BIN='$HFEDMOE_BIN' is not an executable file (build it with scripts/setup.sh, or set HFEDMOE_BIN)"
  # Threads per rank: Slurm's --cpus-per-task when given; else hfedmoe divides the node's
  # cores. No OMP_PROC_BIND default: under `mpirun --bind-to none` every rank would pin its
  # first thread to the same core (measured: a 3-rank job 6x slower on 2 cores).
  if [[ -n "${SLURM_CPUS_PER_TASK:-}" ]]; then
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$SLURM_CPUS_PER_TASK}
  fi
  # Idle OpenMP threads sleep instead of spinning, so oversubscribed ranks do not starve
  # each other (measured 2.5x faster on `small` with more ranks than cores).
  export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
}

HF_TRAPPED=0
HF_GOT_TERM=0
HF_STEP_PID=""
_hf_on_usr1() {
  HF_TRAPPED=1
  hf_log "SIGUSR1 received (pre-timeout warning or a user's scancel --signal=USR1 --batch); forwarding to the job step (pid ${HF_STEP_PID:-none})"
  [[ -n "$HF_STEP_PID" ]] && kill -USR1 "$HF_STEP_PID" 2>/dev/null || true
}
_hf_on_term() {
  HF_TRAPPED=1 HF_GOT_TERM=1
  # Slurm sends TERM to every process of the job at the time limit, on scancel and on
  # preemption; the ranks get it themselves, so it is not forwarded (a second signal would
  # make hfedmoe exit without its checkpoint).
  hf_log "SIGTERM received: the job is ending (time limit, scancel or preemption); the ranks checkpoint on their own TERM"
}

# hf_run NTASKS CMD...: launch, wait (through trapped signals), return the step's exit code.
hf_run() {
  local ntasks=$1; shift
  local launch=()
  case "${HFEDMOE_LAUNCHER:-mpirun}" in
    mpirun)
      # shellcheck disable=SC2206  # flags are a word list by design
      launch=(mpirun -np "$ntasks" ${HFEDMOE_MPIRUN_FLAGS:-}) ;;
    srun)
      # --kill-on-bad-exit: a crashed rank takes the step down instead of leaving it hanging.
      # shellcheck disable=SC2206
      launch=(srun --ntasks="$ntasks" --mpi="${HFEDMOE_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 ${HFEDMOE_SRUN_FLAGS:-}) ;;
    *) hf_die "HFEDMOE_LAUNCHER='$HFEDMOE_LAUNCHER' is neither mpirun nor srun" ;;
  esac
  hf_log "launch: ${launch[*]} $*"
  trap _hf_on_usr1 USR1
  trap _hf_on_term TERM
  "${launch[@]}" "$@" &
  HF_STEP_PID=$!
  local rc prev=""
  while :; do
    HF_TRAPPED=0 rc=0
    wait "$HF_STEP_PID" || rc=$?
    ((HF_TRAPPED)) || break          # the step ended
    prev=$rc                          # a trap interrupted `wait`: the step still runs, wait again
    if ! kill -0 "$HF_STEP_PID" 2>/dev/null; then
      rc=0; wait "$HF_STEP_PID" || rc=$?
      [[ $rc == 127 ]] && rc=$prev    # already reaped by the interrupted wait
      break
    fi
  done
  trap - USR1 TERM
  HF_STEP_PID=""
  hf_log "job step exited with code $rc"
  return "$rc"
}

# hf_restart_index: how many times this run has been resumed by Slurm so far.
hf_restart_index() {
  if [[ "${HFEDMOE_RESUME_MODE:-requeue}" == chain ]]; then echo "${HFEDMOE_SEGMENT:-0}"
  else echo "${SLURM_RESTART_COUNT:-0}"; fi
}

# hf_original_script: the path the job was submitted from (Slurm runs a spool copy).
hf_original_script() {
  if [[ -n "${HFEDMOE_SCRIPT:-}" ]]; then echo "$HFEDMOE_SCRIPT"; return; fi
  scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/^ *Command=\([^ ]*\).*/\1/p' | head -n1
}

# hf_finish_or_resume RC OUTDIR: exits the batch script according to the protocol.
hf_finish_or_resume() {
  local rc=$1 out=$2
  if [[ $rc == 0 ]]; then
    if [[ -f "$out/summary.txt" ]]; then
      hf_log "run complete: $out/summary.txt"
    else
      hf_log "warning: exit code 0 but no $out/summary.txt"
    fi
    exit 0
  fi
  if [[ $rc != "$HF_EXIT_REQUEUE" ]]; then
    hf_log "error: hfedmoe failed with exit code $rc; not resuming (see the output above and $out/log.txt)" >&2
    exit "$rc"
  fi
  local latest
  latest=$(cat "$out/ckpt/latest" 2>/dev/null || echo none)
  if ((HF_GOT_TERM)); then
    # Time limit without an earlier USR1, scancel, or preemption: Slurm is ending the job
    # and (with PreemptMode=REQUEUE) requeues it itself; a user's scancel must stick.
    hf_log "checkpointed ($latest) after SIGTERM; not resubmitting (resubmit this script to resume)"
    exit "$HF_EXIT_REQUEUE"
  fi
  local n
  n=$(hf_restart_index)
  if ((n >= ${HFEDMOE_MAX_RESTARTS:-50})); then
    hf_log "error: stopped at checkpoint $latest after $n restarts (HFEDMOE_MAX_RESTARTS=${HFEDMOE_MAX_RESTARTS:-50}); resubmit to continue" >&2
    exit 1
  fi
  case "${HFEDMOE_RESUME_MODE:-requeue}" in
    requeue)
      hf_log "checkpointed ($latest); requeueing job $SLURM_JOB_ID (restart $((n + 1)))"
      scontrol requeue "$SLURM_JOB_ID" || hf_die "scontrol requeue $SLURM_JOB_ID failed (the job needs --requeue, and the cluster JobRequeue or the user's permission)"
      # slurmctld now ends this instance; wait for that instead of racing it with an exit.
      sleep 60
      hf_die "job $SLURM_JOB_ID was not ended by its requeue within 60 s"
      ;;
    chain)
      local script
      script=$(hf_original_script)
      [[ -r "$script" ]] || hf_die "cannot find the submitted script to chain (got '$script'); set HFEDMOE_SCRIPT"
      # Options given on the original sbatch command line are not in the script; carry the
      # shape of this allocation over (GPUs etc.: #SBATCH lines or HFEDMOE_CHAIN_SBATCH_FLAGS).
      local same=(--job-name="$SLURM_JOB_NAME" --nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_NTASKS")
      [[ -n "${SLURM_CPUS_PER_TASK:-}" ]] && same+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
      [[ -n "${SLURM_JOB_PARTITION:-}" ]] && same+=(--partition="$SLURM_JOB_PARTITION")
      [[ "${SLURM_OVERCOMMIT:-0}" == 1 ]] && same+=(--overcommit)
      local limit
      limit=$(squeue -h -j "$SLURM_JOB_ID" -o %l 2>/dev/null || true)
      [[ -n "$limit" && "$limit" != UNLIMITED ]] && same+=(--time="$limit")
      local next
      # shellcheck disable=SC2086  # extra sbatch flags are a word list
      next=$(sbatch --parsable --dependency="afterany:$SLURM_JOB_ID" "${same[@]}" ${HFEDMOE_CHAIN_SBATCH_FLAGS:-} \
        --export="ALL,HFEDMOE_SEGMENT=$((n + 1)),HFEDMOE_SCRIPT=$script" "$script") ||
        hf_die "sbatch of the successor failed"
      hf_log "checkpointed ($latest); successor job $next submitted (afterany:$SLURM_JOB_ID, segment $((n + 1)))"
      exit 0
      ;;
    *) hf_die "HFEDMOE_RESUME_MODE='${HFEDMOE_RESUME_MODE}' is neither requeue nor chain" ;;
  esac
}
