#!/usr/bin/env bash
# The build compiles the kernels for CMAKE_CUDA_ARCHITECTURES (90: the H100 test machine); this
# compiles every cuda/*.cu again for nvcc's own default architecture (the oldest it supports),
# so nothing sm_90-only enters the kernels unguarded and A100/V100-class clusters can build.
#   tests/cuda_default_arch.sh NVCC SOURCE_DIR
set -euo pipefail
nvcc=${1:?usage: tests/cuda_default_arch.sh NVCC SOURCE_DIR}
src=${2:?usage: tests/cuda_default_arch.sh NVCC SOURCE_DIR}
for cu in "$src"/cuda/*.cu; do
  "$nvcc" -I "$src/src" -I "$src" -O1 -std=c++17 -x cu -c "$cu" -o /dev/null
  echo "ok: $(basename "$cu") for nvcc's default architecture"
done
