#!/usr/bin/env bash
# Configures and builds dpo.cpp into ./build (Release). Extra arguments go to cmake's configure
# step, e.g. scripts/build.sh -DCMAKE_PREFIX_PATH=/path/to/libtorch for a CUDA libtorch.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${DPO_BUILD_DIR:-build}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
elif [[ $# -gt 0 ]]; then
  cmake -S . -B "$build_dir" "$@" >/dev/null
fi
cmake --build "$build_dir" -j "$(nproc)"
