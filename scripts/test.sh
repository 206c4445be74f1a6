#!/usr/bin/env bash
# The whole test suite from a clean clone: installs what is missing, builds, runs ctest.
#   scripts/test.sh              the suite on the Release build (build/)
#   scripts/test.sh --sanitize   then the whole suite again under ASan+UBSan (build-asan/): every
#                                test that does not need a GPU (those skip with their reason)
# ctest runs MPI tests through mpiexec (oversubscribed; as root with --allow-run-as-root).
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenMP threads spin while waiting by default; with more ranks than cores (CI, several
# executors per node) spinning ranks starve each other (measured 2.5x slower on `small`).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
scripts/setup.sh --test
# The real vocabularies the tokenizer tests compare against (tests/unit/test_tokenizers_reference.cpp);
# without them those tests skip, which CI must not: there a failed fetch fails the run.
if ! data/fetch.sh tokenizer-gpt2 tokenizer-llama3 tokenizer-qwen1_5 tokenizer-deepseek_v3 tokenizer-llama2-sp; then
  [[ ${CI:-} == true ]] && { echo "error: data/fetch.sh of the tokenizer vocabularies failed in CI; check registry access" >&2; exit 1; }
  echo "warning: tokenizer vocabularies not fetched; their tests will skip" >&2
fi
# mpirun's listener binds every address; a private network namespace keeps the many MPI jobs
# of the suite on loopback when we may create one (root), and costs nothing otherwise.
run_isolated() {
  if [[ $(id -u) == 0 ]] && unshare --net true 2>/dev/null; then
    unshare --net bash -c 'ip link set lo up && "$@"' _ "$@"
  else
    "$@"
  fi
}
echo "== test pass 1: the Release build (build/)"
run_isolated ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900
if [[ ${1:-} == --sanitize ]]; then
  scripts/setup.sh --sanitize
  # Every test, new ones included by default. Left out: cuda_default_arch, which compiles the
  # kernels with nvcc for another architecture and runs none of our code (the sanitizer build
  # registers no CUDA-emulation tests: cuda/emu links its own flags, see tests/CMakeLists.txt).
  # Open MPI keeps allocations alive until exit by design; leaks are checked elsewhere.
  echo "== test pass 2: the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    run_isolated ctest --test-dir build-asan --output-on-failure -j "$(nproc)" --timeout 1800 -E '^cuda_default_arch$'
fi
