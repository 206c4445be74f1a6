# slurm/common.sh — functions shared by the sbatch templates in this folder. Sourced, not run.
#
# The templates find this file through HFEDMOE_SLURM_DIR (set it when you copy a template
# elsewhere); by default they ask Slurm where the submitted script lives (Slurm runs a copy
# from its spool directory, so `dirname $0` would point there).
#
# What it provides:
#   hf_defaults               the knobs' defaults (slurm/README.md, "Knobs"), for every template
#   hf_log / hf_die           messages prefixed with the job id and time
#   hf_prepare                input checks (HFEDMOE_BACKEND, HFEDMOE_RUN_NAME), module loads,
#                             binary check, OpenMP defaults, the site's KillWait
#   hf_check_one_node WANT_GPUS / hf_check_multi_node WANT_GPUS
#                             the allocation fits the run (one line saying what is wrong if not)
#   hf_train_one_node / hf_train_multi_node
#                             the templates' bodies: check, launch, report
#   hf_run NTASKS CMD...      runs CMD as NTASKS MPI ranks with $HFEDMOE_LAUNCHER (mpirun or
#                             srun --mpi=pmix) in the background, forwards SIGUSR1 from the batch
#                             shell to the launcher, and returns the step's exit code
#   hf_report RC OUT          says truthfully how the run ended (complete, checkpointed after
#                             SIGUSR1 or SIGTERM, killed before its checkpoint, failed)
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

# hf_slurm_config KEY: a value of `scontrol show config` (empty when it cannot be read).
hf_slurm_config() {
  scontrol show config 2>/dev/null | sed -n "s/^$1 *= *//p" | head -n1
}

# hf_defaults: every knob a template reads, defaulted from the environment (sbatch passes the
# submitting shell's environment by default). The templates' headers list the ones to set.
hf_defaults() {
  HFEDMOE_BIN=${HFEDMOE_BIN:-$SLURM_SUBMIT_DIR/build/hfedmoe}
  HFEDMOE_LAUNCH_BIN=${HFEDMOE_LAUNCH_BIN:-$(dirname "$HFEDMOE_BIN")/hfedmoe-launch}
  HFEDMOE_OUT_ROOT=${HFEDMOE_OUT_ROOT:-$SLURM_SUBMIT_DIR/runs}
  HFEDMOE_CONFIG=${HFEDMOE_CONFIG:-jobs/demo.cfg}
  HFEDMOE_RUN_NAME=${HFEDMOE_RUN_NAME:-$(basename "$HFEDMOE_CONFIG" .cfg)}
  HFEDMOE_ARGS=${HFEDMOE_ARGS:-}
  HFEDMOE_MODULES=${HFEDMOE_MODULES:-}
  HFEDMOE_LAUNCHER=${HFEDMOE_LAUNCHER:-mpirun}
  # mpirun reads the allocation from Slurm; --bind-to none leaves thread placement to OpenMP.
  HFEDMOE_MPIRUN_FLAGS=${HFEDMOE_MPIRUN_FLAGS---bind-to none}
  # srun binds each rank to its --cpus-per-task cores, where the site's task plugin can
  # (with TaskPlugin=task/none srun would only warn that it cannot).
  if [[ -z ${HFEDMOE_SRUN_FLAGS+set} ]]; then
    HFEDMOE_SRUN_FLAGS=--cpu-bind=cores
    [[ $(hf_slurm_config TaskPlugin) == task/none ]] && HFEDMOE_SRUN_FLAGS=
  fi
  HFEDMOE_RESUME_MODE=${HFEDMOE_RESUME_MODE:-requeue}
  HFEDMOE_MAX_RESTARTS=${HFEDMOE_MAX_RESTARTS:-50}
  export HFEDMOE_BIN HFEDMOE_LAUNCH_BIN HFEDMOE_OUT_ROOT HFEDMOE_LAUNCHER HFEDMOE_MPIRUN_FLAGS \
    HFEDMOE_SRUN_FLAGS HFEDMOE_RESUME_MODE HFEDMOE_MAX_RESTARTS HFEDMOE_MODULES
}

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
  case "${HFEDMOE_LAUNCHER:-mpirun}" in
    mpirun | srun) ;;
    *) hf_die "HFEDMOE_LAUNCHER='$HFEDMOE_LAUNCHER' is neither mpirun nor srun" ;;
  esac
}

# hf_prepare: checks the inputs, loads modules, checks the binaries, sets OpenMP defaults.
hf_prepare() {
  hf_check_inputs
  if [[ -n "${HFEDMOE_MODULES:-}" ]]; then
    type module >/dev/null 2>&1 || hf_die "HFEDMOE_MODULES='$HFEDMOE_MODULES' is set but this shell has no 'module' command (source your site's modules init, or empty HFEDMOE_MODULES)"
    # shellcheck disable=SC2086  # a list of module names
    module load $HFEDMOE_MODULES
  fi
  [[ -x "$HFEDMOE_BIN" ]] || hf_die "HFEDMOE_BIN='$HFEDMOE_BIN' is not an executable file (build it with scripts/setup.sh, or set HFEDMOE_BIN)"
  if [[ ${HFEDMOE_LAUNCHER:-mpirun} == mpirun && ! -x ${HFEDMOE_LAUNCH_BIN:-} ]]; then
    hf_log "warning: HFEDMOE_LAUNCH_BIN='${HFEDMOE_LAUNCH_BIN:-}' is not an executable file: mpirun runs unshielded, and a SIGTERM (scancel, preemption) kills the ranks before they checkpoint (build it with scripts/setup.sh, or set HFEDMOE_LAUNCH_BIN)"
  fi
  # Threads per rank: hfedmoe takes them from OMP_NUM_THREADS, else SLURM_CPUS_PER_TASK,
  # else its affinity mask, and logs the choice. No OMP_PROC_BIND default: under
  # `mpirun --bind-to none` every rank would pin its first thread to the same core (measured:
  # a 3-rank job 6x slower on 2 cores).
  # Idle OpenMP threads sleep instead of spinning, so oversubscribed ranks do not starve
  # each other (measured 2.5x faster on `small` with more ranks than cores).
  export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
  HF_KILL_WAIT=$(hf_slurm_config KillWait | grep -o '^[0-9]*' || true)
}

# hf_fail_fit WHAT FIX: the allocation does not fit the run.
hf_fail_fit() { hf_die "the allocation does not fit: $1; $2"; }

# hf_check_gpus EXECUTORS_ON_NODE WANT_GPUS: GPUs against executors on one node.
hf_check_gpus() {
  local executors=$1 want=$2 gpus=${SLURM_GPUS_ON_NODE:-0}
  if ((want && gpus == 0)); then
    hf_fail_fit "this GPU template got no GPUs" "submit with --gpus-per-node=G (one executor per GPU, plus the server on the first node), or use the CPU template"
  fi
  ((gpus == 0)) && return 0
  if ((executors > gpus)); then
    hf_log "warning: $executors executors share $gpus GPU(s) on a node (round-robin; NCCL is off between sharers): for one executor per GPU give $((gpus + 1)) tasks on the first node"
  elif ((executors < gpus)); then
    hf_log "warning: $executors executor(s) leave $((gpus - executors)) of $gpus GPU(s) idle on a node: give one task per GPU plus one for the server"
  fi
}

# hf_check_one_node WANT_GPUS: one node, a server and at least one executor; GPUs if wanted.
hf_check_one_node() {
  local want=$1
  ((${SLURM_JOB_NUM_NODES:-1} == 1)) ||
    hf_fail_fit "a one-node template got $SLURM_JOB_NUM_NODES nodes" "submit with --nodes=1, or use multi_node.sbatch"
  ((${SLURM_NTASKS:-1} >= 2)) ||
    hf_fail_fit "--ntasks=${SLURM_NTASKS:-1} leaves no executor (rank 0 is the server)" "submit with --ntasks=2 or more (1 server + the executors)"
  hf_check_gpus $((SLURM_NTASKS - 1)) "$want"
}

# hf_tasks_per_node: the smallest task count Slurm gives a node ("5(x2)" or "5,4" -> 4).
hf_tasks_per_node() {
  echo "${SLURM_TASKS_PER_NODE:-${SLURM_NTASKS:-1}}" | tr ',' '\n' | sed 's/(x[0-9]*)//' | sort -n | head -n1
}

# hf_check_multi_node WANT_GPUS: sets HF_PER_NODE (executors per node) and HF_NODES, and checks
# that every node has a slot per executor plus one for the server on the first node.
hf_check_multi_node() {
  local want=$1 slots
  mapfile -t HF_NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
  slots=$(hf_tasks_per_node)
  if [[ -n ${HFEDMOE_EXECUTORS_PER_NODE:-} ]]; then
    [[ $HFEDMOE_EXECUTORS_PER_NODE =~ ^[1-9][0-9]*$ ]] ||
      hf_die "HFEDMOE_EXECUTORS_PER_NODE='$HFEDMOE_EXECUTORS_PER_NODE' is not a positive number"
    HF_PER_NODE=$HFEDMOE_EXECUTORS_PER_NODE
  elif ((${SLURM_GPUS_ON_NODE:-0} > 0)); then
    HF_PER_NODE=$SLURM_GPUS_ON_NODE
  else
    HF_PER_NODE=$((slots - 1))
  fi
  ((HF_PER_NODE >= 1)) ||
    hf_fail_fit "$slots task(s) per node leave no executor (the first node also runs the server)" "submit with --ntasks-per-node=2 or more"
  ((slots >= HF_PER_NODE + 1)) ||
    hf_fail_fit "$slots task slot(s) per node, but $HF_PER_NODE executors per node plus the server on the first node need $((HF_PER_NODE + 1))" \
      "submit with --ntasks-per-node=$((HF_PER_NODE + 1)), or set HFEDMOE_EXECUTORS_PER_NODE=$((slots - 1))"
  hf_check_gpus "$HF_PER_NODE" "$want"
  if [[ ${HFEDMOE_LAUNCHER:-mpirun} == mpirun ]] && ((${#HF_NODES[@]} > 1)); then
    hf_log "note: under mpirun the ranks of the other nodes run under Open MPI daemons that end them on SIGTERM; for runs that must survive scancel or preemption on several nodes use HFEDMOE_LAUNCHER=srun (time limits are covered by --signal=B:USR1@N either way)"
  fi
}

HF_TRAPPED=0
HF_GOT_TERM=0
HF_STEP_PID=""
_hf_on_usr1() {
  HF_TRAPPED=1
  hf_log "SIGUSR1 received (pre-timeout warning or a user's scancel --signal=USR1 --batch); forwarding to the job step (pid ${HF_STEP_PID:-none})"
  if [[ -n "$HF_STEP_PID" ]]; then kill -USR1 "$HF_STEP_PID" 2>/dev/null || true; fi
}
_hf_on_term() {
  HF_TRAPPED=1 HF_GOT_TERM=1
  # Slurm sends TERM to every process of the job; the ranks stop on their own copy. It is not
  # forwarded (a second signal makes hfedmoe exit at once), and mpirun runs under
  # hfedmoe-launch, which keeps it from killing the ranks first.
  hf_log "SIGTERM received: the job is ending (time limit, scancel or preemption); the ranks finish their round and checkpoint within KillWait=${HF_KILL_WAIT:-?} s, else Slurm kills them and the run resumes from its last checkpoint"
}

# hf_run NTASKS CMD...: launch, wait (through trapped signals), return the step's exit code.
hf_run() {
  local ntasks=$1; shift
  local launch=()
  case "${HFEDMOE_LAUNCHER:-mpirun}" in
    mpirun)
      [[ -x ${HFEDMOE_LAUNCH_BIN:-} ]] && launch=("$HFEDMOE_LAUNCH_BIN")
      # shellcheck disable=SC2206  # flags are a word list by design
      launch+=(mpirun -np "$ntasks" ${HFEDMOE_MPIRUN_FLAGS:-}) ;;
    srun)
      # --kill-on-bad-exit: a crashed rank takes the step down instead of leaving it hanging.
      # --cpus-per-task: since Slurm 22.05 srun does not take it from the batch job.
      # shellcheck disable=SC2206
      launch=(srun --ntasks="$ntasks" --mpi="${HFEDMOE_SRUN_MPI:-pmix}" --kill-on-bad-exit=1
        ${SLURM_CPUS_PER_TASK:+--cpus-per-task=$SLURM_CPUS_PER_TASK} ${HFEDMOE_SRUN_FLAGS:-}) ;;
  esac
  hf_log "launch: ${launch[*]} $*"
  hf_log "on SIGTERM (scancel, preemption, a time limit without warning) the run has KillWait=${HF_KILL_WAIT:-?} s to finish its round and checkpoint; --signal=B:USR1@N gives it N s before a time limit"
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

# hf_report RC OUT: one line on how the run ended, true to what happened.
hf_report() {
  local rc=$1 out=$2 latest
  latest=$(cat "$out/ckpt/latest" 2>/dev/null || echo none)
  if [[ $rc == 0 ]]; then
    if [[ -f "$out/summary.txt" ]]; then hf_log "run complete: $out/summary.txt"
    else hf_log "warning: exit code 0 but no $out/summary.txt"; fi
    return 0
  fi
  if [[ $rc == "$HF_EXIT_REQUEUE" ]]; then
    local why="the pre-timeout SIGUSR1"
    ((HF_GOT_TERM)) && why="SIGTERM (scancel, preemption or the time limit)"
    hf_log "stopped after $why and checkpointed $out/ckpt/$latest; starting the same run again resumes from it"
    if [[ ${HFEDMOE_LAUNCHER:-mpirun} == srun ]]; then
      hf_log "(srun's 'error: ... Exited with exit code 75' above is this planned stop, not a failure)"
    fi
    return 0
  fi
  if ((HF_GOT_TERM)); then
    hf_log "error: the job step ended with code $rc after SIGTERM, without the stop's checkpoint (the round and its checkpoint did not fit in KillWait=${HF_KILL_WAIT:-?} s, or a warning above says what else ended the ranks); starting the same run again resumes from $latest" >&2
  else
    hf_log "error: hfedmoe failed with exit code $rc; not resuming (see the output above and $out/log.txt)" >&2
  fi
}

# hf_train RANKS: the training command of the templates, reported; returns its exit code.
hf_train() {
  local ntasks=$1 rc=0
  local backend
  backend=$(hf_backend_args)
  hf_log "backend: ${backend:-run.backend of the config}${HFEDMOE_BACKEND:+ (from HFEDMOE_BACKEND)}"
  # shellcheck disable=SC2086  # HFEDMOE_ARGS and the backend are lists of options
  hf_run "$ntasks" "$HFEDMOE_BIN" train --config "$HFEDMOE_CONFIG" $backend $HFEDMOE_ARGS --out "$HF_OUT" || rc=$?
  return "$rc"
}

# hf_train_one_node WANT_GPUS: the body of one_node.sbatch (0) and one_node_gpu.sbatch (1).
hf_train_one_node() {
  hf_prepare
  hf_check_one_node "$1"
  HF_OUT="$HFEDMOE_OUT_ROOT/$HFEDMOE_RUN_NAME"
  mkdir -p "$HFEDMOE_OUT_ROOT"
  hf_log "run $HF_OUT: 1 server + $((SLURM_NTASKS - 1)) executors on $SLURM_JOB_NODELIST, ${SLURM_GPUS_ON_NODE:-0} GPU(s), launcher $HFEDMOE_LAUNCHER"
  local rc=0
  hf_train "$SLURM_NTASKS" || rc=$?
  hf_report "$rc" "$HF_OUT"
  exit "$rc"
}

# hf_train_multi_node WANT_GPUS: the body of multi_node.sbatch (0) and multi_node_gpu.sbatch (1).
# Slurm's block distribution cannot put G+1 ranks on the first node and G on the others, so
# the allocation has G+1 slots on every node and this places exactly 1+N*G ranks itself: a
# hostfile for mpirun ("host slots=k"), or SLURM_HOSTFILE with --distribution=arbitrary for srun.
hf_train_multi_node() {
  hf_prepare
  hf_check_multi_node "$1"
  HF_OUT="$HFEDMOE_OUT_ROOT/$HFEDMOE_RUN_NAME"
  mkdir -p "$HFEDMOE_OUT_ROOT"
  local g=$HF_PER_NODE ntasks=$((1 + ${#HF_NODES[@]} * HF_PER_NODE)) hosts i k t
  hosts="$HF_OUT.hosts.$SLURM_JOB_ID"
  : >"$hosts"
  for i in "${!HF_NODES[@]}"; do
    k=$g; ((i == 0)) && k=$((g + 1))
    if [[ $HFEDMOE_LAUNCHER == srun ]]; then
      for ((t = 0; t < k; t++)); do echo "${HF_NODES[$i]}" >>"$hosts"; done
    else
      echo "${HF_NODES[$i]} slots=$k" >>"$hosts"
    fi
  done
  if [[ $HFEDMOE_LAUNCHER == srun ]]; then
    export SLURM_HOSTFILE=$hosts
    HFEDMOE_SRUN_FLAGS="--distribution=arbitrary $HFEDMOE_SRUN_FLAGS"
  else
    HFEDMOE_MPIRUN_FLAGS="--hostfile $hosts $HFEDMOE_MPIRUN_FLAGS"
  fi
  hf_log "run $HF_OUT: 1 server + $((ntasks - 1)) executors on ${#HF_NODES[@]} nodes (${HF_NODES[*]}), $g per node"
  local rc=0
  hf_train "$ntasks" || rc=$?
  rm -f "$hosts"
  hf_report "$rc" "$HF_OUT"
  exit "$rc"
}

# hf_restart_index: how many times this run has been resumed by Slurm so far.
hf_restart_index() {
  if [[ "${HFEDMOE_RESUME_MODE:-requeue}" == chain ]]; then echo "${HFEDMOE_SEGMENT:-0}"
  else echo "${SLURM_RESTART_COUNT:-0}"; fi
}

# hf_original_script: the path the job was submitted from (Slurm runs a spool copy).
hf_original_script() {
  if [[ -n "${HFEDMOE_SCRIPT:-}" ]]; then echo "$HFEDMOE_SCRIPT"; return; fi
  local command
  command=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/^ *Command=\([^ ]*\).*/\1/p' | head -n1)
  # A relative path is relative to the submit directory, not to the job's --chdir.
  [[ $command == /* || -z $command ]] || command=$SLURM_SUBMIT_DIR/$command
  echo "$command"
}

# hf_successor_options: sbatch options, one per line, that give a chained successor this job's
# shape and settings: options given on the sbatch command line are not in the script, so they
# are read back from `scontrol show job` (name, partition, account, QOS, reservation,
# constraint, time limit, nodes, tasks, tasks per node, CPUs per task, generic resources such
# as GPUs, memory, output files) and the environment (overcommit). Slurm shows no job's
# --signal: give it as SBATCH_SIGNAL=B:USR1@N in the submitting environment (the successor's
# sbatch reads it too) or in the script's #SBATCH line. HFEDMOE_CHAIN_SBATCH_FLAGS adds more.
hf_successor_options() {
  local info key value
  declare -A f=()
  info=$(scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null) || hf_die "scontrol show job $SLURM_JOB_ID failed: cannot read this job's options for its successor"
  for key in JobName Partition Account QOS Reservation Features TimeLimit NumNodes NumTasks CPUs/Task \
    NtasksPerN:B:S:C TresPerNode MinMemoryNode MinMemoryCPU StdOut StdErr; do
    value=$(tr ' ' '\n' <<<"$info" | sed -n "s|^$key=||p" | head -n1)
    case $value in "" | "(null)" | N/A | UNLIMITED | 0 | 0:* | "*") continue ;; esac
    f[$key]=$value
  done
  [[ -n ${f[JobName]:-} ]] && echo "--job-name=${f[JobName]}"
  [[ -n ${f[Partition]:-} ]] && echo "--partition=${f[Partition]}"
  [[ -n ${f[Account]:-} ]] && echo "--account=${f[Account]}"
  [[ -n ${f[QOS]:-} ]] && echo "--qos=${f[QOS]}"
  [[ -n ${f[Reservation]:-} ]] && echo "--reservation=${f[Reservation]}"
  [[ -n ${f[Features]:-} ]] && echo "--constraint=${f[Features]}"
  [[ -n ${f[TimeLimit]:-} ]] && echo "--time=${f[TimeLimit]}"
  [[ -n ${f[NumNodes]:-} ]] && echo "--nodes=${f[NumNodes]}"
  [[ -n ${f[NumTasks]:-} ]] && echo "--ntasks=${f[NumTasks]}"
  [[ -n ${f[NtasksPerN:B:S:C]:-} ]] && echo "--ntasks-per-node=${f[NtasksPerN:B:S:C]%%:*}"
  [[ -n ${f[CPUs/Task]:-} ]] && echo "--cpus-per-task=${f[CPUs/Task]}"
  # "gres:gpu:4" (22.05) or "gres/gpu:4" (later releases) -> --gres=gpu:4
  [[ -n ${f[TresPerNode]:-} ]] && { local gres=${f[TresPerNode]//gres:/}; echo "--gres=${gres//gres\//}"; }
  [[ -n ${f[MinMemoryNode]:-} ]] && echo "--mem=${f[MinMemoryNode]}"
  [[ -n ${f[MinMemoryCPU]:-} ]] && echo "--mem-per-cpu=${f[MinMemoryCPU]}"
  # One log for the whole chain: the successor appends to this job's files.
  [[ -n ${f[StdOut]:-} ]] && echo "--output=${f[StdOut]}"
  [[ -n ${f[StdErr]:-} ]] && echo "--error=${f[StdErr]}"
  echo "--open-mode=append"
  [[ "${SLURM_OVERCOMMIT:-0}" == 1 ]] && echo "--overcommit"
  return 0
}

# hf_finish_or_resume RC OUTDIR: exits the batch script according to the protocol.
hf_finish_or_resume() {
  local rc=$1 out=$2
  hf_report "$rc" "$out"
  [[ $rc == 0 ]] && exit 0
  [[ $rc == "$HF_EXIT_REQUEUE" ]] || exit "$rc"
  local latest
  latest=$(cat "$out/ckpt/latest" 2>/dev/null || echo none)
  if ((HF_GOT_TERM)); then
    # Time limit without an earlier USR1, scancel, or preemption: Slurm is ending the job
    # and (with PreemptMode=REQUEUE) requeues it itself; a user's scancel must stick.
    hf_log "not resubmitting after SIGTERM (resubmit this script to resume)"
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
      local options same=()
      options=$(hf_successor_options) || exit 1
      mapfile -t same <<<"$options"
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
