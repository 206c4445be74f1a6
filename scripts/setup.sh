#!/usr/bin/env bash
# Installs what hfedmoe needs on Debian 12 (skipping what is present), configures and builds.
#   scripts/setup.sh            build dependencies, then a Release build in build/
#   scripts/setup.sh --test     also what the test suite needs (local Slurm, HDF5 tools, gnuplot)
#   scripts/setup.sh --sanitize an address+undefined sanitizer build in build-asan/ instead
# Environment: BUILD_DIR (default build or build-asan), CMAKE_ARGS (extra configure flags),
# HFEDMOE_JOBS (parallel build jobs, default: cores).
# As root it runs apt-get itself; otherwise it prints the command to run and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0 sanitize=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --sanitize) sanitize=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "error: unknown option '$arg'; see scripts/setup.sh --help" >&2; exit 2 ;;
  esac
done

packages=(cmake ninja-build g++ pkg-config libopenmpi-dev openmpi-bin libhdf5-dev
          libboost-program-options-dev libgtest-dev libopenblas-dev libsentencepiece-dev gnuplot-nox
          hdf5-tools)
if [[ $want_test == 1 ]]; then
  packages+=(slurm-wlm slurmctld slurmd munge iproute2 util-linux procps python3)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "error: missing Debian packages: ${missing[*]}; run as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ $sanitize == 1 ]]; then
  build=${BUILD_DIR:-build-asan}
  # Optimised with debug info: the sanitizers check the code as it ships, and the CLI tests'
  # training runs stay minutes, not the tens of minutes of an -O0 build.
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHFEDMOE_SANITIZE=address,undefined)
else
  build=${BUILD_DIR:-build}
  flags=(-DCMAKE_BUILD_TYPE=Release)
fi
if [[ -x /usr/local/cuda/bin/nvcc ]]; then
  flags+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
if [[ ! -f $build/build.ninja ]]; then
  echo "setup: configuring $build"
  cmake -S . -B "$build" -G Ninja "${flags[@]}" ${CMAKE_ARGS:-} >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log" >&2; echo "error: cmake failed (log above)" >&2; exit 1; }
  rm -f "$build.configure.log"
fi
out=$(ninja -C "$build" -j "${HFEDMOE_JOBS:-$(nproc)}" 2>&1) || { echo "$out" >&2; echo "error: build failed (output above)" >&2; exit 1; }
if grep -qE "Building|Linking" <<<"$out"; then echo "setup: built $build/hfedmoe"; fi
