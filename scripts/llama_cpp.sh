#!/usr/bin/env bash
# llama.cpp itself, for tests/parity/llama_cpp_greedy.py: the llama.cpp tree vendored in
# llama-cpp-python's source distribution (the same version scripts/setup.sh takes the converters
# from), built once on the CPU (llama-simple and llama-completion) and cached outside the
# repository, in DPO_LLAMA_CPP_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/dpo.cpp/llama.cpp-VERSION).
# Not part of CI: the build takes about 5 minutes on 2 cores.
#
#   bash scripts/llama_cpp.sh     # prints the folder holding llama-simple and llama-completion
#
# Needs the project venv's pip (scripts/setup.sh), PyPI the first time, cmake and ninja. Exit
# status: 0 with the folder on stdout; 77 when it cannot be had here (PyPI unreachable), with the
# reason on stderr; 1 on a failed build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=0.3.36 # as scripts/setup.sh
CACHE="${DPO_LLAMA_CPP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dpo.cpp/llama.cpp-$VERSION}"
BIN="$CACHE/build/bin"
if [[ -x $BIN/llama-completion && -x $BIN/llama-simple ]]; then
  echo "$BIN"
  exit 0
fi
PIP="${DPO_PIP:-$ROOT/.venv/bin/pip}"
if [[ ! -d $CACHE/ggml ]]; then  # the source tree, with build/ inside it
  if [[ -e $CACHE && -n "$(ls -A "$CACHE")" ]]; then
    echo "llama_cpp: $CACHE exists and is not a llama.cpp tree; remove it or set" \
      "DPO_LLAMA_CPP_CACHE to another folder" >&2
    exit 1
  fi
  mkdir -p "$CACHE/download"
  if ! "$PIP" download --disable-pip-version-check -q --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$VERSION" -d "$CACHE/download" >&2; then
    echo "llama_cpp: could not download llama-cpp-python==$VERSION's source distribution" \
      "(is PyPI reachable? is scripts/setup.sh's venv there?)" >&2
    exit 77
  fi
  tar -xzf "$CACHE/download/llama_cpp_python-$VERSION.tar.gz" -C "$CACHE" \
    --strip-components=3 --wildcards '*/vendor/llama.cpp/*'
  rm -rf "$CACHE/download"
fi
echo "llama_cpp: building llama.cpp $VERSION's llama-simple and llama-completion in $CACHE/build" >&2
cmake -S "$CACHE" -B "$CACHE/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=ON >&2
ninja -C "$CACHE/build" llama-simple llama-completion >&2
echo "$BIN"
