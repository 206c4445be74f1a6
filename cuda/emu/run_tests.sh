#!/usr/bin/env bash
# Builds the CUDA backend's kernels and its tests (tests/unit/test_cuda_*.cpp) against the CPU
# emulation in cuda/emu/ and runs them twice (threads in order, then in reverse): no GPU and
# no nvcc needed.
#   cuda/emu/run_tests.sh BUILD_DIR [--asan] [gtest arguments]
# BUILD_DIR is any built configuration of this repository (with or without CUDA): its
# libhfedmoe_core.a provides the CPU reference and the model. The binary goes to
# BUILD_DIR/cuda_emu/. --asan adds AddressSanitizer to the kernels: device memory is host
# memory here, so an out-of-bounds access in a kernel is reported with its line.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: cuda/emu/run_tests.sh BUILD_DIR [--asan] [gtest arguments]}" && pwd)
shift
san=""
if [[ "${1:-}" == "--asan" ]]; then
  san="-fsanitize=address -fno-omit-frame-pointer"
  shift
fi
out="$build/cuda_emu"
mkdir -p "$out"
flags="-O1 -g -std=c++17 -fopenmp -DHFEDMOE_HAVE_CUDA=1 -DOMPI_SKIP_MPICXX=1 -Wall -Wno-unused-parameter"
inc="-I$root/cuda/emu -I$root/src -I$root -I$root/tests/unit -I$build/generated"
objs=()
pids=()
compile() {  # source, object, extra flags; in the background
  g++ $flags $3 $inc -c "$1" -o "$2" &
  pids+=($!)
}
for cu in "$root"/cuda/*.cu; do
  name=$(basename "$cu" .cu)
  [[ "$name" == device ]] && continue  # replaced by emu_runtime.cc
  python3 "$root/cuda/emu/rewrite_launches.py" "$cu" > "$out/$name.cpp"
  compile "$out/$name.cpp" "$out/$name.o" "$san"
  objs+=("$out/$name.o")
done
compile "$root/cuda/emu/emu_runtime.cc" "$out/emu_runtime.o" "$san"
compile "$root/src/cli/backend.cpp" "$out/backend.o" ""  # with the CUDA branch, whatever BUILD_DIR has
objs+=("$out/emu_runtime.o" "$out/backend.o")
for t in "$root"/tests/unit/test_cuda_*.cpp; do
  compile "$t" "$out/$(basename "$t" .cpp).o" ""
  objs+=("$out/$(basename "$t" .cpp).o")
done
for p in "${pids[@]}"; do wait "$p"; done
g++ -fopenmp $san -o "$out/hfedmoe_cuda_emu_tests" "${objs[@]}" "$build/libhfedmoe_core.a" -lgtest -lgtest_main \
  -lopenblas -pthread
# Twice: blocks and threads scheduled in order, then in reverse (HF_EMU_REVERSE, emu.h): a
# kernel whose result depends on that order has a race.
"$out/hfedmoe_cuda_emu_tests" --gtest_filter='Cuda*' "$@"
HF_EMU_REVERSE=1 "$out/hfedmoe_cuda_emu_tests" --gtest_filter='Cuda*' "$@"
