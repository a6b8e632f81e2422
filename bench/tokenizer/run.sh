#!/usr/bin/env bash
# Encode throughput (MB per CPU second, one thread) of the llama3 and mistral tokenizers: dpo.cpp
# against @huggingface/tokenizers on the same HH-style text and machine; prints both and the ratio.
# usage: bench/tokenizer/run.sh [ROWS]   (needs node + npm install in scripts/tokenizer-diff)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=$("$here/build.sh")
(cd "$root/scripts/tokenizer-diff" && [[ -d node_modules/@huggingface/tokenizers ]] || npm install --no-audit --no-fund >/dev/null)
node "$here/make_hh.mjs" "${1:-3000}"
for name in llama3 mistral; do
  dir=$root/tests/fixtures/tokenizers/$name
  ours=$("$bench" "$dir" "$here/out/hh.jsonl")
  peer=$(node "$here/bench_js.mjs" "$dir" "$here/out/hh.jsonl")
  echo "$ours"
  echo "$peer"
  node -e '
    const [a, b] = process.argv.slice(1, 3).map(JSON.parse);
    if (a.tokens !== b.tokens) console.log(`WARNING: token counts differ (${a.tokens} vs ${b.tokens})`);
    console.log(`${process.argv[3]}: dpo.cpp ${a.warm_mb_s.toFixed(2)} MB/s vs @huggingface/tokenizers ${b.warm_mb_s.toFixed(2)} MB/s (warm, per CPU second): ${(a.warm_mb_s / b.warm_mb_s).toFixed(1)}x; cold ${(a.cold_mb_s / b.cold_mb_s).toFixed(1)}x`);
  ' "$ours" "$peer" "$name"
done
