#!/usr/bin/env bash
# Everything a session with a GPU should run, in one call, so scarce GPU time goes to running
# rather than typing. Build here (no GPU needed), carry the build folder, run there:
#
#   cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
#         -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DCMAKE_CUDA_ARCHITECTURES=90 \
#         -DHFEDMOE_SENTENCEPIECE=OFF     # the GPU machine has no libsentencepiece.so
#   ninja -C build-cuda -j2 hfedmoe hfedmoe_unit hfedmoe_mpi_tests bench_cuda_model bench_cuda_attention \
#         bench_aggregate
#   # copy build-cuda to the GPU machine, then there, from the repository root:
#   scripts/gpu_session.sh build-cuda "$OUT"
#
# Steps (each logs to OUT/<step>.log; a failing step does not stop the others):
#   1 unit        every CUDA and NCCL unit test (hfedmoe_unit --gtest_filter='Cuda*:Nccl*'); the fused
#                 attention test prints its measured errors against the reference kernels and the CPU
#   2 mpi         the exchange tests at 2 ranks: server + one executor on the GPU, so the NCCL
#                 path runs with a one-rank communicator and must give the MPI path's bits
#   3 commands    tests/cli/test_train_cuda.sh with the real binary: train, FedProx, pretrain,
#                 resume, eval on the GPU against the CPU
#   4 bench       bench_cuda_model, small and base, FP32 and TF32, and base at batch 16, seq 512 with
#                 the fused and the reference attention -> OUT/cuda_model.md
#   4b attention  bench_cuda_attention: fused vs reference attention forward + backward (one layer)
#                 at base, batch 16, seq 512 -> OUT/cuda_attention.md
#   5 exchange    bench_aggregate at 2 ranks over MPI and over NCCL -> OUT/exchange.log
#   5b clients    many clients per GPU: `tiny` with 100 and 1,000 clients per round on one GPU
#                 executor (server on the CPU), 3 rounds each; round 2's wall time per trained
#                 client and the peak device memory (nvidia-smi, sampled every 0.5 s), which
#                 must stay flat in the number of clients -> OUT/clients.md
#   6 torch       bench/torch_mixtral_gpu.py (HF MixtralForCausalLM, bf16 autocast, AdamW) at the
#                 same shapes -> OUT/torch_mixtral_gpu.md
# Then OUT/summary.txt: one line per step, the GPU, the date. Copy the .md files into
# bench/results/ and the summary into cuda/README.md's validation record.
set -uo pipefail
build=$(cd "${1:?usage: scripts/gpu_session.sh BUILD_DIR OUT_DIR}" && pwd)
out=${2:?usage: scripts/gpu_session.sh BUILD_DIR OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
mpi=(mpirun --oversubscribe --mca btl "self,vader" -np 2)
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
echo "gpu_session $(date -u +%FT%TZ) on ${gpu:-no GPU visible to nvidia-smi}; build $build" | tee "$out/summary.txt"

step() {  # step NAME COMMAND...: run, log, record pass/fail and seconds
  local name=$1; shift
  local t0=$SECONDS rc=0
  echo "== $name: $*" | tee -a "$out/summary.txt"
  "$@" >"$out/$name.log" 2>&1 || rc=$?
  local verdict="FAILED rc=$rc"
  [[ $rc == 0 ]] && verdict=ok
  [[ $rc == 77 ]] && verdict="skipped (no CUDA device)"
  printf '%-10s %s in %ds (log %s.log)\n' "$name" "$verdict" \
    $((SECONDS - t0)) "$name" | tee -a "$out/summary.txt"
  tail -3 "$out/$name.log" | sed 's/^/    /' | tee -a "$out/summary.txt"
}

step unit "$build/tests/hfedmoe_unit" --gtest_filter='Cuda*:Nccl*:GpuPinning*'
step mpi "${mpi[@]}" "$build/tests/hfedmoe_mpi_tests"
step commands env HFEDMOE_BIN="$build/hfedmoe" HFEDMOE_CUDA_BIN="$build/hfedmoe" HFEDMOE_SOURCE_DIR="$root" \
  MPIEXEC=mpirun MPIEXEC_FLAGS="--oversubscribe --mca btl self,vader" bash tests/cli/test_train_cuda.sh
bench() {
  "$build/bench_cuda_model" --preset all --out "$out/cuda_model.md" &&
    "$build/bench_cuda_model" --preset all --tf32 --out "$out/cuda_model.md" &&
    "$build/bench_cuda_model" --preset base --batch 16 --seq 512 --tf32 --out "$out/cuda_model.md" &&
    "$build/bench_cuda_model" --preset base --batch 16 --seq 512 --tf32 --attention reference \
      --out "$out/cuda_model.md"
}
step bench bench
step attention "$build/bench_cuda_attention" --preset base --batch 16 --seq 512 --out "$out/cuda_attention.md"
exchange() {
  for path in mpi nccl; do
    echo "--- --exchange $path"
    "${mpi[@]}" "$build/bench_aggregate" --preset small --clients 8 --reps 5 --exchange "$path" || return 1
  done
}
step exchange exchange
clients() {
  "$build/hfedmoe" prepare --prepare.corpus sotu --prepare.seq_len 16 --prepare.clients 1000 --prepare.partition iid \
    --prepare.output "$out/sotu1000.h5" || return 1
  echo "| clients per round | trained in round 2 | round 2 wall (s) | ms per client | peak device MiB |" >"$out/clients.md"
  echo "|---:|---:|---:|---:|---:|" >>"$out/clients.md"
  local K sampler rc
  for K in 100 1000; do
    (while sleep 0.5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1; done) \
      >"$out/clients_mem_$K.txt" &
    sampler=$!
    "${mpi[@]}" "$build/hfedmoe" train --run.backend cuda --model.preset tiny --model.seq_len 16 \
      --data.path "$out/sotu1000.h5" --fl.clients 0 --fl.clients_per_round "$K" --fl.overcommit 0 --fl.rounds 3 \
      --fl.eval_every 3 --fl.eval_rows 64 --train.local_steps 1 --out "$out/clients_$K"
    rc=$?
    kill "$sampler"
    [[ $rc == 0 ]] || return 1
    python3 - "$out/clients_$K/metrics.jsonl" "$K" "$(sort -n "$out/clients_mem_$K.txt" | tail -1)" >>"$out/clients.md" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
wall = rows[1]["wall_time_s"] - rows[0]["wall_time_s"]
ok = rows[1]["clients_ok"]
print(f"| {sys.argv[2]} | {ok} | {wall:.3f} | {1000 * wall / ok:.2f} | {sys.argv[3]} |")
PY
  done
  cat "$out/clients.md"
}
step clients clients
step torch python3 bench/torch_mixtral_gpu.py --preset all --out "$out/torch_mixtral_gpu.md"
echo "done $(date -u +%FT%TZ)" | tee -a "$out/summary.txt"
