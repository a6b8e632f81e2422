#!/usr/bin/env bash
# Builds dpo.cpp and runs the whole test suite, on both supported libtorch builds:
#   1. build/         libtorch 2.11 with CUDA (from .venv's torch; the main build)
#   2. build-debian/  Debian's libtorch-dev 1.13 (CPU; the apt-only route)
# The CUDA tests are built in both and skip without a GPU. Tests that compare with the Python
# references (.venv) skip when those are missing, and fail instead under CI (CI=true).
#
#   bash scripts/test.sh                 # both builds (what CI runs)
#   DPO_TORCH=pip bash scripts/test.sh   # one build only: pip (build/) or debian (build-debian/)
#
# The parity harnesses (tests/parity/, CTest label `parity`: the dpo binary against TRL, PEFT,
# transformers and tokenizers themselves) run on the main build only; the Debian build runs every
# other test (its numbers are held to the same golden fixtures).
#
# Extra arguments go to ctest (e.g. -R Merge).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
case ${DPO_TORCH:-both} in
  both) builds=(pip debian) ;;
  pip | debian) builds=("$DPO_TORCH") ;;
  *)
    echo "test: DPO_TORCH must be pip, debian or unset (both), not '$DPO_TORCH'" >&2
    exit 1
    ;;
esac
for torch_source in "${builds[@]}"; do
  dir=build
  [[ $torch_source == debian ]] && dir=build-debian
  echo "== $torch_source libtorch: build ($dir/)" >&2
  start=$SECONDS
  DPO_TORCH=$torch_source DPO_BUILD_DIR=$dir bash scripts/build.sh
  echo "== $torch_source libtorch: built in $((SECONDS - start)) s; tests" >&2
  "$dir/dpo" --version >&2
  start=$SECONDS
  only_main=()
  [[ $torch_source == debian && ${DPO_TORCH:-both} == both ]] && only_main=(-LE parity)
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" "${only_main[@]}" "$@"
  echo "== $torch_source libtorch: tests took $((SECONDS - start)) s" >&2
done
