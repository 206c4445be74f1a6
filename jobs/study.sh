#!/usr/bin/env bash
# The study on this machine (issue 11, item 5), end to end, in order:
#   1 prepare   the datasets the grids name (data/study/<task>_<partition>.h5) that are missing
#   1b          the pretrained base the grids name (train.init), by jobs/base.sh, when missing
#   2 lr        jobs/sweeps/study_lr.grid: every method at the same 3 learning rates, 1 seed
#               (--adapter lora: study_lora_lr.grid, 4 learning rates)
#   3 select    scripts/select_lr: per (task, method) the lr of the best mean last-k validation
#               accuracy -> <root>/<lr sweep>/selection/lr_choice.tsv (+ .md with every lr's score)
#   4 main      jobs/sweeps/study_local.grid (--adapter lora: study_lora.grid), each method at its
#               chosen lr (jobs/sweep --overrides)
#   5 ablation  jobs/sweeps/study_ablation.grid, hfedmoe at its chosen lr (not with --adapter lora)
#   6 collect   scripts/collect_results --study -> <results>/main, <results>/ablation, the lr
#               choice in <results>/lr, and <results>/README.md (machine, commit, binary, times)
# Every stage skips what is done (a finished cell is never rerun; an interrupted one resumes from
# its checkpoint), so rerunning the script continues where it stopped. Each stage prints its
# progress and its elapsed time.
#
#   jobs/study.sh                        # everything, 2 cells at a time
#   jobs/study.sh --jobs 1 --stages "main ablation collect"
#   jobs/study.sh --dry-run              # print the commands of every stage, run nothing
#   jobs/study.sh --adapter lora         # the study with rank-8 LoRA over an nf4 base
# Options: --jobs N (cells at a time, default 2: each cell is 1 process with 1 thread),
#   --root DIR (run directories, default runs), --results DIR (tables and plots, default
#   bench/results/study, with --adapter lora bench/results/study/lora), --stages "LIST"
#   (default: prepare lr select main ablation collect; with --adapter lora no ablation),
#   --adapter none|lora (lora: jobs/sweeps/study_lora_lr.grid and study_lora.grid, the same
#   stages on spam3 with budgets in LoRA's bytes), --dry-run.
# Environment: HFEDMOE_BIN (default build/hfedmoe), MPIEXEC / MPIEXEC_FLAGS (jobs/sweep; default
#   flags --oversubscribe, + --allow-run-as-root as root), STUDY_CLIENTS (clients of a Dirichlet
#   partition, default 30), STUDY_SEQ_LEN (tokens per row, default 128 = jobs/demo.cfg's
#   model.seq_len), STUDY_SPAM_INPUT / STUDY_SOTU_INPUT (corpus folders; default data/cache/<name>
#   after data/fetch.sh, else the committed sample), STUDY_PREPARE_ARGS (more prepare options).
# Exit: 0 done; 1 a stage failed (failed cells: the later stages still run, on what finished);
#   2 usage; 75 interrupted at a checkpoint (run again to resume).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
BIN=${HFEDMOE_BIN:-build/hfedmoe}
export HFEDMOE_BIN=$BIN
if [[ -z "${MPIEXEC_FLAGS:-}" ]]; then
  MPIEXEC_FLAGS="--oversubscribe"
  [[ $(id -u) == 0 ]] && MPIEXEC_FLAGS+=" --allow-run-as-root"
  export MPIEXEC_FLAGS
fi
JOBS=2 ROOT=runs RESULTS="" STAGES="" DRY=0 ADAPTER=none
while (($#)); do
  case "$1" in
    --jobs) JOBS=$2; shift 2 ;;
    --adapter) ADAPTER=$2; shift 2 ;;
    --root) ROOT=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --stages) STAGES=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "study: error: unknown argument '$1' (see jobs/study.sh --help)" >&2; exit 2 ;;
  esac
done
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "study: error: --jobs $JOBS: give a positive integer" >&2; exit 2; }
# The grids of each study: name = <sweep name> in each decides its run folder under ROOT.
case $ADAPTER in
  none) LR_GRID=jobs/sweeps/study_lr.grid MAIN_GRID=jobs/sweeps/study_local.grid
        ABLATION_GRID=jobs/sweeps/study_ablation.grid ALL_STAGES="prepare lr select main ablation collect"
        : "${RESULTS:=bench/results/study}" ;;
  lora) LR_GRID=jobs/sweeps/study_lora_lr.grid MAIN_GRID=jobs/sweeps/study_lora.grid
        ABLATION_GRID="" ALL_STAGES="prepare lr select main collect"
        : "${RESULTS:=bench/results/study/lora}" ;;
  *) echo "study: error: --adapter $ADAPTER: give none or lora" >&2; exit 2 ;;
esac
: "${STAGES:=$ALL_STAGES}"
for s in $STAGES; do
  [[ " $ALL_STAGES " == *" $s "* ]] ||
    { echo "study: error: --stages: unknown stage '$s' for --adapter $ADAPTER ($ALL_STAGES)" >&2; exit 2; }
done
if ((!DRY)) && [[ " $STAGES " == *" prepare "* || " $STAGES " == *" lr "* || " $STAGES " == *" main "* || " $STAGES " == *" ablation "* ]]; then
  [[ -x $BIN ]] || { echo "study: error: $BIN not found; build first (cmake -B build && ninja -C build) or set HFEDMOE_BIN" >&2; exit 2; }
fi

sweep_name() { sed -n 's/^name *= *//p' "$1"; }
GRIDS=("$LR_GRID" "$MAIN_GRID" $ABLATION_GRID)
LR_ROOT=$ROOT/$(sweep_name "$LR_GRID") MAIN_ROOT=$ROOT/$(sweep_name "$MAIN_GRID") ABLATION_ROOT=""
[[ -n $ABLATION_GRID ]] && ABLATION_ROOT=$ROOT/$(sweep_name "$ABLATION_GRID")
CHOICE=$LR_ROOT/selection/lr_choice.tsv
SWEEP_FLAGS=(--out-root "$ROOT" --jobs "$JOBS" --keep-going)
((DRY)) && SWEEP_FLAGS+=(--dry-run)
rc_all=0 t_all=$(date +%s) n_stage=0 times=()
n_stages=$(wc -w <<<"$STAGES")

run() {  # run CMD...: print it, run it unless --dry-run
  echo "+ $*"
  ((DRY)) || "$@"
}

prepare_one() {  # prepare_one data/study/<task>_<partition>.h5
  local path=$1 stem task part input=() args=() sample=()
  stem=$(basename "$path" .h5); task=${stem%_*}; part=${stem##*_}
  case $task in
    spam3) input=(--prepare.input "${STUDY_SPAM_INPUT:-data/cache/spam-assassin}") ;;
    sotu_era) input=(--prepare.input "${STUDY_SOTU_INPUT:-data/cache/sotu}")
      sample=(--prepare.max_samples 6000) ;;  # a seeded subset of the ~80k era rows keeps evaluation cheap
    *) echo "study: error: $path: unknown task '$task' (spam3 or sotu_era)" >&2; return 1 ;;
  esac
  case $part in
    dir*) args=(--prepare.partition dirichlet --prepare.alpha "${part#dir}" --prepare.clients "${STUDY_CLIENTS:-30}") ;;
    natural) args=(--prepare.partition natural --prepare.clients 0) ;;
    iid) args=(--prepare.partition iid --prepare.clients "${STUDY_CLIENTS:-30}") ;;
    *) echo "study: error: $path: unknown partition '$part' (dir<alpha>, natural or iid)" >&2; return 1 ;;
  esac
  if [[ ! -d ${input[1]} ]]; then  # no corpus folder: prepare reads the committed sample
    echo "study: note: ${input[1]} missing: $task from the committed sample in data/samples (data/fetch.sh gets the full corpus)"
    input=()
  fi
  run mkdir -p "$(dirname "$path")"
  # shellcheck disable=SC2086  # STUDY_PREPARE_ARGS is a list of options
  run "$BIN" prepare --prepare.corpus "$task" "${input[@]}" "${args[@]}" "${sample[@]}" \
    --prepare.seq_len "${STUDY_SEQ_LEN:-128}" ${STUDY_PREPARE_ARGS:-} --prepare.output "$path"
}

stage_prepare() {
  local paths p missing=0
  paths=$(grep -ho 'data/study/[A-Za-z0-9_.]*\.h5' "${GRIDS[@]}" | sort -u)
  for p in $paths; do
    if [[ -f $p ]]; then echo "study: $p exists"; else missing=$((missing + 1)); prepare_one "$p" || return 1; fi
  done
  echo "study: $missing of $(wc -w <<<"$paths") datasets prepared"
  # The pretrained base the grids fine-tune (train.init): jobs/base.sh when it is missing.
  local base
  for base in $(grep -ho '^train.init *= *[^ ;]*' "${GRIDS[@]}" | sed 's/.*= *//' | sort -u); do
    if [[ -f $base ]]; then echo "study: base $base exists"; else run env HFEDMOE_BIN="$BIN" jobs/base.sh || return 1; fi
    ((DRY)) || [[ -f $base ]] || { echo "study: error: jobs/base.sh did not write $base" >&2; return 1; }
  done
}

stage_sweep() {  # stage_sweep GRID [--overrides FILE]
  local rc=0
  run jobs/sweep run "$@" "${SWEEP_FLAGS[@]}" || rc=$?
  ((rc == 75)) && { echo "study: interrupted at a checkpoint; run jobs/study.sh again to resume" >&2; exit 75; }
  return $rc
}

stage_select() {
  run scripts/select_lr "$LR_ROOT" --out "$LR_ROOT/selection"
}

need_choice() {
  ((DRY)) || [[ -f $CHOICE ]] || { echo "study: error: $CHOICE missing: run the lr and select stages first" >&2; return 1; }
}

stage_collect() {
  local rc=0
  run mkdir -p "$RESULTS/lr"
  [[ -f $CHOICE ]] && run cp "$CHOICE" "${CHOICE%.tsv}.md" "$RESULTS/lr/"
  [[ -d $MAIN_ROOT ]] || ((DRY)) && { run scripts/collect_results --study "$MAIN_ROOT" --out "$RESULTS/main" || rc=1; }
  [[ -n $ABLATION_GRID ]] && { [[ -d $ABLATION_ROOT ]] || ((DRY)); } &&
    { run scripts/collect_results --study --compare-key variant --reference base "$ABLATION_ROOT" \
        --out "$RESULTS/ablation" || rc=1; }
  ((DRY)) || write_provenance
  return $rc
}

write_provenance() {
  local commit dirty
  commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
  dirty=$(git status --porcelain -- src mpi cuda jobs scripts 2>/dev/null | wc -l)
  {
    echo "# The study on this machine (jobs/study.sh)"
    echo
    echo "Regenerate: \`jobs/study.sh --adapter $ADAPTER --root $ROOT --results $RESULTS\` (stages: $STAGES; $JOBS cells at a time)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $commit$( ((dirty)) && echo " (with $dirty uncommitted change(s) in src/ mpi/ cuda/ jobs/ scripts/)")"
    echo "- binary: $("$BIN" --version 2>/dev/null | head -n1 || echo "$BIN")"
    echo "- machine: $(uname -srm), $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')"
    echo "- grids: ${GRIDS[*]} (the fixed options are at the top of each)"
    echo "- learning rates: lr/lr_choice.md (chosen on validation accuracy; lr/lr_choice.tsv)"
    echo "- tables: main/results.md (every method)$([[ -n $ABLATION_GRID ]] && echo ", ablation/results.md (hfedmoe variants against base)")"
    echo
    echo "Stage times (this invocation):"
    printf -- '- %s\n' "${times[@]}"
  } >"$RESULTS/README.md"
  echo "study: wrote $RESULTS/README.md"
}

for s in $STAGES; do
  n_stage=$((n_stage + 1))
  t0=$(date +%s)
  echo "== [$n_stage/$n_stages] $s ($(date +%H:%M:%S), study elapsed $(($(date +%s) - t_all)) s)"
  rc=0
  case $s in
    prepare) stage_prepare || rc=$? ;;
    lr) stage_sweep "$LR_GRID" || rc=$? ;;
    select) stage_select || rc=$? ;;
    main) { need_choice && stage_sweep "$MAIN_GRID" --overrides "$CHOICE"; } || rc=$? ;;
    ablation) { need_choice && stage_sweep "$ABLATION_GRID" --overrides "$CHOICE"; } || rc=$? ;;
    collect) stage_collect || rc=$? ;;
  esac
  dt=$(($(date +%s) - t0))
  [[ $s == collect ]] || times+=("$s: ${dt} s$( ((rc)) && echo ", exit $rc")")
  if ((rc)); then echo "== $s: FAILED (exit $rc) in ${dt} s"; else echo "== $s: done in ${dt} s"; fi
  if ((rc)); then
    rc_all=1
    # Without datasets or a learning-rate choice the later stages cannot run.
    [[ $s == prepare || $s == select ]] && { echo "study: stopping: the later stages need this one" >&2; break; }
  fi
done
echo "== study: $(if ((rc_all)); then echo "finished with failures"; else echo "done"; fi) in $(($(date +%s) - t_all)) s"
exit $rc_all
