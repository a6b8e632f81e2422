#!/usr/bin/env bash
# Builds bench_tokenizer against the tokenizer library of a build folder (default build-tok).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-tok}
ninja -C "$build" dpo_tokenizer dpo_util >/dev/null
mkdir -p "$build/bench"
g++ -O2 -std=c++17 -I"$root/src" "$root/bench/tokenizer/bench_tokenizer.cpp" \
  "$build/libdpo_tokenizer.a" "$build/libdpo_util.a" -lpcre2-8 -lfmt -lpthread \
  -o "$build/bench/bench_tokenizer"
echo "$build/bench/bench_tokenizer"
