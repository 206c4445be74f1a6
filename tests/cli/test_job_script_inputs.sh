#!/usr/bin/env bash
# The job scripts refuse values that would reach a command line or `rm -rf` unchecked: the
# Slurm templates' HFEDMOE_BACKEND (a value like "cpu --fresh" would pass --fresh and delete
# the run) and HFEDMOE_RUN_NAME (a path would escape the output root), and scripts/slurm_local.sh
# up's SLURM_LOCAL_DIR (it empties that folder: only one it made, or a new or empty one).
# Needs neither Slurm nor the binary. Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

inputs() {  # inputs VAR=VALUE...: hf_check_inputs of slurm/common.sh with these variables set
  env -u HFEDMOE_BACKEND -u HFEDMOE_RUN_NAME "$@" bash -c 'source "$1/slurm/common.sh" && hf_check_inputs' _ "$src" \
    >"$tmp/inputs.out" 2>&1
}
refused() { ! inputs "$1" && grep -qF "${1%%=*}='${1#*=}'" "$tmp/inputs.out"; }  # refused VAR=VALUE
check "HFEDMOE_BACKEND unset passes" inputs
check "HFEDMOE_BACKEND=cuda passes" inputs HFEDMOE_BACKEND=cuda
check "HFEDMOE_BACKEND='cpu --fresh' is refused, naming the value" refused "HFEDMOE_BACKEND=cpu --fresh"
check "HFEDMOE_RUN_NAME=demo-2 passes" inputs HFEDMOE_RUN_NAME=demo-2
check "HFEDMOE_RUN_NAME=../elsewhere is refused" refused "HFEDMOE_RUN_NAME=../elsewhere"
check "HFEDMOE_RUN_NAME=.. is refused" refused "HFEDMOE_RUN_NAME=.."

up() {  # up DIR: scripts/slurm_local.sh up with SLURM_LOCAL_DIR=DIR; the exit code
  local rc=0
  SLURM_LOCAL_DIR=$1 "$src/scripts/slurm_local.sh" up >"$tmp/up.out" 2>&1 || rc=$?
  echo "$rc"
}
refuses_dir() { [[ $(up "$1") == 2 ]] && grep -q "SLURM_LOCAL_DIR='$1'" "$tmp/up.out"; }
check "SLURM_LOCAL_DIR=/ is refused (exit 2)" refuses_dir /
check "SLURM_LOCAL_DIR=/tmp is refused (exit 2)" refuses_dir /tmp
check "SLURM_LOCAL_DIR=/tmp/../etc is refused (exit 2)" refuses_dir /tmp/../etc
check "a relative SLURM_LOCAL_DIR is refused (exit 2)" refuses_dir relative/dir
mkdir -p "$tmp/theirs" && echo keep >"$tmp/theirs/data.txt"
check "an existing folder it did not make is refused (exit 2)" refuses_dir "$tmp/theirs"
check "... and left as it was" grep -q keep "$tmp/theirs/data.txt"

if ((failures > 0)); then
  echo "$failures job-script input checks failed"
  exit 1
fi
echo "all job-script input checks passed"
