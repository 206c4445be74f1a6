# shellcheck shell=bash
# shellcheck disable=SC2034  # bin, src, mpi_flags, mpiexec, tmp, machine_columns are read by the scripts that source this
# Common preamble of the CLI tests, sourced (not a test: tests/CMakeLists.txt registers only
# tests/cli/test_*.sh):  source "$(dirname "$0")/lib.sh"
# Needs HFEDMOE_BIN and HFEDMOE_SOURCE_DIR (ctest sets them, with MPIEXEC and MPIEXEC_FLAGS).
# Sets bin, src, mpi_flags (MPIEXEC_FLAGS split into an array), mpiexec, tmp (a temporary
# folder removed on exit) and failures=0, and defines check, refused, without_columns and
# machine_columns.
bin=${HFEDMOE_BIN:?set HFEDMOE_BIN to the hfedmoe binary}
src=${HFEDMOE_SOURCE_DIR:?set HFEDMOE_SOURCE_DIR to the source tree}
read -r -a mpi_flags <<<"${MPIEXEC_FLAGS:-}"
mpiexec=${MPIEXEC:-mpiexec}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

check() {  # check MESSAGE COMMAND...: run a condition, count a failure
  local msg=$1; shift
  if "$@"; then echo "ok: $msg"; else echo "FAIL: $msg"; failures=$((failures + 1)); fi
}

refused() {  # refused PATTERN -- COMMAND...: exit 2 with exactly one "error:" line matching PATTERN
  local pattern=$1; shift 2
  local rc=0 errors
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  errors=$(grep -c '^error:' "$tmp/err" || true)
  if [[ $rc != 2 ]] || [[ $errors != 1 ]] || ! grep -q -- "$pattern" "$tmp/err"; then
    echo "FAIL: $* -> exit $rc (want 2), $errors error lines (want 1), pattern '$pattern'"
    sed 's/^/  | /' "$tmp/err" | head -10
    failures=$((failures + 1))
  else
    echo "ok: $(grep '^error:' "$tmp/err")"
  fi
}

# The metrics columns that measure the machine rather than the run (wall and CPU time, idle
# time, memory): they differ between any two runs, so comparisons of runs leave them out.
machine_columns="wall_time_s server_cpu_s server_wait_s server_wait_cpu_s executor_idle_s_mean executor_idle_s_max rank_peak_rss_mb"
without_columns() {  # without_columns CSV NAME...: the CSV with the named columns removed
  local file=$1; shift
  awk -F, -v drop="$*" 'BEGIN { n = split(drop, d, " "); for (i = 1; i <= n; i++) skip[d[i]] = 1 }
    NR == 1 { for (i = 1; i <= NF; i++) keep[i] = !($i in skip) }
    { line = ""; for (i = 1; i <= NF; i++) if (keep[i]) line = line (line == "" ? "" : ",") $i; print line }' "$file"
}

rank_pid() {  # rank_pid LAUNCHER RANK: the launcher's child whose environment names that MPI rank
  local pid
  for pid in $(pgrep -P "$1"); do
    # (grep without -q: an early exit would SIGPIPE tr and fail the pipeline under pipefail)
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -E "^(OMPI_COMM_WORLD_RANK|PMIX_RANK)=$2\$" >/dev/null; then
      echo "$pid"
      return
    fi
  done
}
