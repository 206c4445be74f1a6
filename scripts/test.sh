#!/usr/bin/env bash
# The whole test suite from a clean clone: installs what is missing, builds, runs ctest.
#   scripts/test.sh              the suite on the Release build (build/)
#   scripts/test.sh --sanitize   then the unit and MPI tests again under ASan+UBSan (build-asan/)
# ctest runs MPI tests through mpiexec (oversubscribed; as root with --allow-run-as-root).
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenMP threads spin while waiting by default; with more ranks than cores (CI, several
# executors per node) spinning ranks starve each other (measured 2.5x slower on `small`).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
scripts/setup.sh --test
# mpirun's listener binds every address; a private network namespace keeps the many MPI jobs
# of the suite on loopback when we may create one (root), and costs nothing otherwise.
run_isolated() {
  if [[ $(id -u) == 0 ]] && unshare --net true 2>/dev/null; then
    unshare --net bash -c 'ip link set lo up && "$@"' _ "$@"
  else
    "$@"
  fi
}
run_isolated ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900
if [[ ${1:-} == --sanitize ]]; then
  scripts/setup.sh --sanitize
  # Open MPI keeps allocations alive until exit by design; leaks are checked elsewhere.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    run_isolated ctest --test-dir build-asan --output-on-failure -j "$(nproc)" --timeout 1800 -R '^(H5|Mpi|mpi_|Model|Ops|HfedmoeMath|Profiles|Fl|Dataset|Data|Checkpoint|Options|Cli)'
fi
