#!/usr/bin/env bash
# The commands on the CUDA backend (run.backend=cuda) against the same commands on the CPU
# reference: a federated run in-process and with an executor rank (server on the CPU), FedProx
# (its proximal term runs on the device), pretrain + eval, and a pretrain resumed on the device
# bit-identical to an uninterrupted one (the AdamW moments go to and from the checkpoint).
#
# HFEDMOE_CUDA_BIN is the binary that runs the CUDA backend: a CUDA build on a GPU machine, or
# tests/hfedmoe_emu (the CUDA kernels on the CPU emulation, cuda/emu/), which is how CI runs this
# without a GPU. Exits 77 (skipped) when that binary finds no CUDA device.
#
# Tolerances: each op agrees with its CPU twin to ~1e-6 relative (tests/unit/test_cuda_*.cpp);
# after a few optimizer steps the losses agree to ~1e-5, so 1e-3 relative on losses and 1/16 on
# accuracy (one test row of the 16 evaluated) flag a wrong code path, not rounding.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS, HFEDMOE_CUDA_BIN.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cuda_bin=${HFEDMOE_CUDA_BIN:?set HFEDMOE_CUDA_BIN to a CUDA build of hfedmoe or to tests/hfedmoe_emu}
cd "$src"

"$bin" prepare --prepare.corpus spam --prepare.seq_len 16 --prepare.clients 6 --prepare.partition dirichlet \
  --prepare.output "$tmp/spam.h5" >/dev/null
"$bin" prepare --prepare.corpus sotu --prepare.seq_len 32 --prepare.output "$tmp/sotu.h5" >/dev/null 2>&1 ||
  { echo "prepare sotu failed"; exit 1; }
small=(--model.d_model 32 --model.d_ff 64 --model.n_layers 2 --run.threads 1)

# Skip when the CUDA binary has no device (a CUDA build on a machine without a GPU).
if ! "$cuda_bin" pretrain "${small[@]}" --model.seq_len 32 --data.path "$tmp/sotu.h5" --pretrain.steps 1 \
  --pretrain.batch_size 2 --pretrain.eval_rows 2 --run.backend cuda --out "$tmp/probe" >/dev/null 2>"$tmp/probe.err"; then
  if grep -q "CUDA device\|not in this build" "$tmp/probe.err"; then
    echo "skipped: $(grep -o 'error.*' "$tmp/probe.err" | head -1)"
    exit 77
  fi
  cat "$tmp/probe.err"
  exit 1
fi

# close A.csv B.csv COLUMN RTOL ATOL: every row's COLUMN agrees (|a - b| <= rtol |b| + atol; "null" == "null")
close() {
  awk -F, -v col="$3" -v rtol="$4" -v atol="$5" '
    FNR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    NR == FNR { a[FNR] = $c; next }
    { rows++; x = a[FNR]; y = $c
      if (x == "null" || y == "null") { if (x != y) bad++; next }
      d = x - y; if (d < 0) d = -d; t = y < 0 ? -y : y
      if (d > rtol * t + atol) { bad++; printf "  row %d: %s %s vs %s\n", FNR - 1, col, x, y } }
    END { exit (c == 0 || rows == 0 || bad > 0) }' "$1" "$2"
}
run() {  # run OUTPUT_NAME COMMAND...: quiet, but a failure shows its log and stops the test
  local name=$1; shift
  "$@" >/dev/null 2>"$tmp/$name.err" || { echo "FAIL: $*"; tail -20 "$tmp/$name.err"; exit 1; }
}
compare() {  # compare CPU_RUN CUDA_RUN WHAT
  check "$3: train_loss" close "$1/metrics.csv" "$2/metrics.csv" train_loss 1e-3 0
  check "$3: test_loss" close "$1/metrics.csv" "$2/metrics.csv" test_loss 1e-3 0
  check "$3: test_acc" close "$1/metrics.csv" "$2/metrics.csv" test_acc 0 0.0625
  check "$3: clients_ok" close "$1/metrics.csv" "$2/metrics.csv" clients_ok 0 0
}

job=(train --config jobs/demo.cfg --data.path "$tmp/spam.h5" "${small[@]}" --model.seq_len 16 --fl.clients 6
  --fl.clients_per_round 3 --fl.overcommit 0 --train.local_steps 2 --train.batch_size 4 --fl.rounds 2
  --fl.eval_every 1 --fl.eval_rows 16 --run.ckpt_every 0)
for method in hfedmoe fedprox; do
  run "$method-cpu" "$bin" "${job[@]}" --fl.method $method --out "$tmp/$method-cpu"
  run "$method-cuda" "$cuda_bin" "${job[@]}" --fl.method $method --run.backend cuda --out "$tmp/$method-cuda"
  compare "$tmp/$method-cpu" "$tmp/$method-cuda" "$method in-process, cuda vs cpu"
done
# SLURM_LOCALID=0 in every rank, as when mpirun runs inside an sbatch step: pinning must not trust it.
run np2-cuda env SLURM_LOCALID=0 "$mpiexec" "${mpi_flags[@]}" -np 2 "$cuda_bin" "${job[@]}" --run.backend cuda \
  --out "$tmp/np2-cuda"
compare "$tmp/hfedmoe-cpu" "$tmp/np2-cuda" "hfedmoe with one executor rank on the device, cuda vs cpu"
check "the executor logged its GPU" grep -q "rank 1: local rank 1 -> GPU 0" "$tmp/np2-cuda.err"
run np2-server-gpu "$mpiexec" "${mpi_flags[@]}" -np 2 "$cuda_bin" "${job[@]}" --run.backend cuda --run.server_gpu true \
  --out "$tmp/np2-server-gpu"
compare "$tmp/hfedmoe-cpu" "$tmp/np2-server-gpu" "hfedmoe with the server evaluating on the device, cuda vs cpu"
check "the server logged its GPU" grep -q "rank 0: local rank 0 -> GPU 0" "$tmp/np2-server-gpu.err"

# pretrain + eval; a resumed pretrain equals an uninterrupted one, bit for bit, on the device
pre=(pretrain "${small[@]}" --model.seq_len 32 --data.path "$tmp/sotu.h5" --pretrain.batch_size 2
  --pretrain.eval_every 2 --pretrain.eval_rows 4 --pretrain.log_every 1 --pretrain.steps 4 --run.ckpt_every 2)
run pre-cpu "$bin" "${pre[@]}" --out "$tmp/pre-cpu"
run pre-cuda "$cuda_bin" "${pre[@]}" --run.backend cuda --out "$tmp/pre-cuda"
mkdir -p "$tmp/pre-resumed/ckpt"  # as if the device run had stopped after its step-2 checkpoint
cp "$tmp/pre-cuda/config.ini" "$tmp/pre-resumed/"
cp "$tmp/pre-cuda/ckpt/pretrain_2.h5" "$tmp/pre-resumed/ckpt/"
echo pretrain_2.h5 >"$tmp/pre-resumed/ckpt/latest"
run pre-resumed "$cuda_bin" "${pre[@]}" --run.backend cuda --out "$tmp/pre-resumed"
check "pretrain: train_loss, cuda vs cpu" close "$tmp/pre-cpu/metrics.csv" "$tmp/pre-cuda/metrics.csv" train_loss 1e-3 0
check "pretrain: test_loss, cuda vs cpu" close "$tmp/pre-cpu/metrics.csv" "$tmp/pre-cuda/metrics.csv" test_loss 1e-3 0
check "pretrain on the device: resumed at step 2 == uninterrupted (bitwise)" \
  h5diff "$tmp/pre-cuda/ckpt/pretrain_4.h5" "$tmp/pre-resumed/ckpt/pretrain_4.h5" /model /model
for b in cpu cuda; do
  run_bin=$bin
  [[ $b == cuda ]] && run_bin=$cuda_bin
  run "eval-$b" "$run_bin" eval --eval.checkpoint "$tmp/pre-cpu/ckpt/pretrain_4.h5" --data.path "$tmp/sotu.h5" \
    --eval.rows 8 --run.backend $b --run.threads 1 --eval.out "$tmp/eval-$b.json"
done
eval_loss() { grep -oE '"loss": [-0-9.e+]+' "$1" | cut -d' ' -f2; }
check "eval: test loss, cuda vs cpu" awk -v a="$(eval_loss "$tmp/eval-cpu.json")" -v b="$(eval_loss "$tmp/eval-cuda.json")" \
  'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-4 * (b < 0 ? -b : b)) }' 

[[ $failures -eq 0 ]] || { echo "$failures check(s) failed"; exit 1; }
echo "all CUDA-backend command checks passed ($cuda_bin)"
