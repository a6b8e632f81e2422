#!/usr/bin/env bash
# Builds bench_data against the libraries of a build folder (default build-data).
# usage: bash bench/data/build.sh && build-data/bench/bench_data tests/fixtures/tokenizers/mistral
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-data}
ninja -C "$build" dpo_data >/dev/null
mkdir -p "$build/bench"
g++ -O2 -std=c++17 -D_GLIBCXX_USE_CXX11_ABI=1 -I"$root/src" -isystem /usr/include/torch/csrc/api/include \
  "$root/bench/data/bench_data.cpp" \
  "$build/libdpo_data.a" "$build/libdpo_chat.a" "$build/libdpo_tokenizer.a" "$build/libdpo_io.a" \
  "$build/libdpo_util.a" -ltorch -ltorch_cpu -lc10 -lz -lpcre2-8 -lfmt -lpthread \
  -o "$build/bench/bench_data"
echo "$build/bench/bench_data"
