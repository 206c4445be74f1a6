#!/usr/bin/env bash
# Runs one MPI rank of hfedmoe under GNU time and writes <run dir>/rank_usage/rank<R>.txt with
# that rank's wall seconds, user and system CPU seconds and peak RSS (kB), the run directory
# taken from --out. CPU seconds do not grow when other processes share the cores, wall seconds
# do: on a shared machine they tell load from cost. Use it in place of the binary:
#   HFEDMOE_REAL_BIN=build/hfedmoe HFEDMOE_BIN=bench/rank_usage.sh jobs/sweep run GRID
#   mpiexec -np 3 env HFEDMOE_REAL_BIN=build/hfedmoe bench/rank_usage.sh train --config ... --out DIR
# scripts/collect_results reads the files (cpu_per_round_s, peak_rss_mb columns).
set -euo pipefail
bin=${HFEDMOE_REAL_BIN:?set HFEDMOE_REAL_BIN to the hfedmoe binary}
rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${SLURM_PROCID:-0}}}
out=""
args=("$@")
for ((i = 0; i < ${#args[@]} - 1; i++)); do
  [[ ${args[i]} == --out ]] && out=${args[i + 1]}
done
[[ -n $out ]] || exec "$bin" "$@"
mkdir -p "$out/rank_usage"
exec /usr/bin/time -f "wall_s %e
user_s %U
sys_s %S
max_rss_kb %M" -o "$out/rank_usage/rank$rank.txt" "$bin" "$@"
