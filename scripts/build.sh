#!/usr/bin/env bash
# Configures and builds dpo.cpp (Release). Two builds, chosen by one switch:
#
#   bash scripts/build.sh                    # build/: libtorch 2.11 with CUDA, from .venv's torch
#   DPO_TORCH=debian bash scripts/build.sh   # build-debian/: Debian's libtorch-dev 1.13 (CPU)
#
# The main build compiles and links every CUDA path (the CUDA toolkit must be installed; no GPU
# is needed to build or to run on the CPU). DPO_BUILD_DIR overrides the folder; extra arguments
# go to cmake's configure step (e.g. -DDPO_BUILD_TESTS=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
torch_source=${DPO_TORCH:-pip}
configure=(-DCMAKE_BUILD_TYPE=Release -DDPO_WERROR=ON "-DDPO_PYTHON=$root/.venv/bin/python3")
case $torch_source in
  pip)
    build_dir=${DPO_BUILD_DIR:-build}
    if [[ ! -x .venv/bin/python3 ]]; then
      echo "build: no .venv/ (the main build uses torch 2.11 from PyPI): run scripts/setup.sh first," \
        "or build against Debian's libtorch with DPO_TORCH=debian" >&2
      exit 1
    fi
    torch_dir="$(.venv/bin/python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')" || {
      echo "build: .venv/ has no working torch: run scripts/setup.sh" >&2
      exit 1
    }
    # The torch folder first (its lib/ holds libtorch.so: a Debian libtorch in /usr/lib must not be
    # picked up instead), then its CMake files. Architectures for libtorch's CUDA flags only:
    # dpo.cpp has no kernels of its own yet.
    configure+=("-DCMAKE_PREFIX_PATH=$torch_dir;$torch_dir/share/cmake"
      "-DTORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-8.0;9.0}")
    ;;
  debian)
    build_dir=${DPO_BUILD_DIR:-build-debian}
    if [[ ! -f /usr/lib/x86_64-linux-gnu/cmake/Torch/TorchConfig.cmake ]]; then
      echo "build: Debian's libtorch-dev is not installed: DPO_TORCH=debian bash scripts/setup.sh" >&2
      exit 1
    fi
    ;;
  *)
    echo "build: DPO_TORCH must be pip (the default) or debian, not '$torch_source'" >&2
    exit 1
    ;;
esac
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# ccache (when installed) may reuse objects that include the precompiled libtorch headers.
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  mkdir -p "$build_dir"
  cmake -S . -B "$build_dir" "${generator[@]}" "${configure[@]}" "$@" >"$build_dir/configure.log" 2>&1 || {
    cat "$build_dir/configure.log" >&2
    exit 1
  }
elif [[ $# -gt 0 ]]; then
  cmake -S . -B "$build_dir" "$@" >/dev/null
fi
cmake --build "$build_dir" -j "$(nproc)"
