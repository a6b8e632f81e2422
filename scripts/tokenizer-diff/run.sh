#!/usr/bin/env bash
# Differential test: dpo.cpp's tokenizer against @huggingface/tokenizers (npm, the JS port of HF
# tokenizers) on >= 10,000 varied strings, for the mistral, llama3 and qwen3 fixture tokenizers.
# Also lists where the JS port disagrees with the Python-made fixtures (the fixtures win).
#
# usage: scripts/tokenizer-diff/run.sh [DPO_BINARY]     (default: $DPO, else build/dpo)
#        DIFF_NO_SPECIAL=1 also compares encode(text, add_special_tokens=False).
# needs: node >= 18 and npm (first run: npm install, from the npm registry).
# Exit code 0 when every string gives identical ids for every tokenizer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dpo=${1:-${DPO:-$root/build/dpo}}
[[ -x "$dpo" ]] || { echo "run.sh: no dpo binary at $dpo (build it, or pass its path)" >&2; exit 2; }
cd "$here"
[[ -d node_modules/@huggingface/tokenizers ]] || npm install --no-audit --no-fund >/dev/null
mkdir -p out
[[ -s out/corpus.jsonl ]] || node make_corpus.mjs

node js_vs_fixtures.mjs "$root/tests/fixtures"
status=0
for name in mistral llama3 qwen3; do
  dir=$root/tests/fixtures/tokenizers/$name
  node js_encode.mjs "$dir" out/corpus.jsonl "out/js_$name.jsonl"
  "$dpo" tokenize --tokenizer "$dir" --file out/corpus.jsonl > "out/dpo_$name.jsonl"
  node compare.mjs "$name" out/corpus.jsonl "out/js_$name.jsonl" "out/dpo_$name.jsonl" 50 || status=1
  if [[ "${DIFF_NO_SPECIAL:-0}" == 1 ]]; then
    node js_encode.mjs "$dir" out/corpus.jsonl "out/js_ns_$name.jsonl" --no-special
    "$dpo" tokenize --tokenizer "$dir" --file out/corpus.jsonl --no-special > "out/dpo_ns_$name.jsonl"
    node compare.mjs "$name (no special)" out/corpus.jsonl "out/js_ns_$name.jsonl" "out/dpo_ns_$name.jsonl" 50 || status=1
  fi
done
exit $status
