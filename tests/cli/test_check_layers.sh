#!/usr/bin/env bash
# scripts/check_layers on small trees written here: a tree in order passes; an include of a
# folder above fails naming file:line (from src/, mpi/ and cuda/), so does a folder the order
# does not name; then the repository itself follows the order. Includes of the same folder,
# of folders below and of headers without a folder pass. The binary is not used.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

tree() {  # tree NAME: a tree in order (model includes itself and util, cuda includes ops)
  mkdir -p "$tmp/$1/src/util" "$tmp/$1/src/model" "$tmp/$1/mpi" "$tmp/$1/cuda"
  printf '#pragma once\n' >"$tmp/$1/src/util/check.h"
  printf '#include "model/a.h"\n#include "util/check.h"\n#include <vector>\n#include "version.h"\n' >"$tmp/$1/src/model/a.cpp"
  printf '#pragma once\n' >"$tmp/$1/src/model/a.h"
  printf '#include "ops/ops.h"\n' >"$tmp/$1/cuda/k.cu"
  printf '#include "commands/commands.h"\n' >"$tmp/$1/src/main.cpp"
}
passes() { python3 "$src/scripts/check_layers" "$tmp/$1" >"$tmp/$1.out" 2>&1; }
fails_at() {  # fails_at TREE LINE: the check fails and prints LINE (a regex) first on a line
  ! passes "$1" && grep -q "^$2" "$tmp/$1.out"
}

tree good
check "a tree in order passes" passes good

tree up
printf '#pragma once\n\n#include "data/dataset.h"\n' >"$tmp/up/src/model/a.h"
check "model/ including data/ fails, naming file:line and the include" fails_at up 'src/model/a.h:3: #include "data/dataset.h"'

tree mpi_up
printf '#include "cli/run_dir.h"\n' >"$tmp/mpi_up/mpi/runtime.cpp"
check "mpi/ including cli/ fails" fails_at mpi_up 'mpi/runtime.cpp:1:'

tree cuda_up
printf '#include "model/model.h"\n' >"$tmp/cuda_up/cuda/k.cu"
check "cuda/ including model/ fails" fails_at cuda_up 'cuda/k.cu:1:'

tree unknown
mkdir -p "$tmp/unknown/src/extra" && printf '#pragma once\n' >"$tmp/unknown/src/extra/x.h"
check "a folder outside the order fails" fails_at unknown 'src/extra/x.h: folder extra/'

if python3 "$src/scripts/check_layers" "$src" >"$tmp/repo.out" 2>&1; then
  echo "ok: this repository follows the order"
else
  cat "$tmp/repo.out"; echo "FAIL: this repository follows the order"; failures=$((failures + 1))
fi

if ((failures > 0)); then
  echo "$failures check_layers checks failed"
  exit 1
fi
echo "all check_layers checks passed"
