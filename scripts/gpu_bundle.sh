#!/usr/bin/env bash
# Makes gpu-bundle/ (git-ignored, at most 60 MiB): what a GPU machine without a compiler or a
# package registry needs to run dpo.cpp's CUDA checks and benchmarks without building anything.
#
#   bash scripts/gpu_bundle.sh            # from the main build (build/, libtorch 2.11 + CUDA)
#
#   gpu-bundle/
#     run.sh                 the wrapper: ./gpu-bundle/run.sh dpo --version | test_cuda | ...
#     dpo, test_cuda         the same by name: ./gpu-bundle/dpo bench train ...
#     bin/dpo, bin/test_cuda the binaries (stripped), bin/hh_like_lengths.json beside dpo
#     lib/                   the shared libraries they need that are not libtorch's, CUDA's or
#                            the C library's (yaml-cpp, PCRE2, ...); lib/fallback/ libstdc++ and
#                            libgcc_s, used only where the machine's own are too old
#     peer/                  the GPU peer (TRL's step in eager PyTorch) and its lengths file
#     MANIFEST               commit, date, libtorch, and every file's size
#
# The binaries link libtorch, c10 and CUDA by soname only; run.sh finds them in the machine's own
# torch (python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))'), lib/ and the
# nvidia/*/lib folders beside it. This script checks here that every other library resolves from
# the bundle and that the bundled dpo runs against .venv's torch.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
build=${DPO_BUILD_DIR:-build}
bundle=${DPO_GPU_BUNDLE:-gpu-bundle}
limit_mib=60

for binary in "$build/dpo" "$build/test_cuda"; do
  [[ -x $binary ]] || { echo "gpu_bundle: $binary is missing: bash scripts/build.sh first" >&2; exit 1; }
done
readelf -d "$build/dpo" | grep -q 'libtorch_cuda.so' || {
  echo "gpu_bundle: $build/dpo does not link libtorch_cuda (a CPU-only libtorch?): the bundle is for the main build" >&2
  exit 1
}
torch_dir="$(.venv/bin/python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
torch_libs="$torch_dir/lib"
for nvidia in "$torch_dir"/../nvidia/*/lib; do torch_libs+=":$nvidia"; done

# Provided by the GPU machine's torch wheel (and its nvidia-* packages) or by the C library: never
# bundled. Everything else the binaries need is copied into lib/.
provided='^(libtorch.*|libc10.*|libcaffe2.*|libshm|libgomp|libcu.*|libnv.*|libnccl|libcudnn.*|libcusparseLt|libc|libm|libdl|libpthread|librt|ld-linux-x86-64|libutil|libresolv)\.so'
from_wheel='^(libtorch.*|libc10.*|libcaffe2.*|libshm|libgomp|libcu.*|libnv.*|libnccl|libcudnn.*|libcusparseLt)\.so'
fallback='^(libstdc\+\+|libgcc_s)\.so'

rm -rf "$bundle.tmp" && mkdir -p "$bundle.tmp"/{bin,lib/fallback,peer}
for name in dpo test_cuda; do
  cp "$build/$name" "$bundle.tmp/bin/$name"
  strip --strip-unneeded "$bundle.tmp/bin/$name"
done
cp bench/hh_like_lengths.json "$bundle.tmp/bin/"
peer_source="$root/../shared/bench"
[[ -f bench/peer/hf_dpo_baseline.py ]] && peer_source=bench/peer
if [[ -f $peer_source/hf_dpo_baseline.py ]]; then
  cp "$peer_source/hf_dpo_baseline.py" "$bundle.tmp/peer/"
  cp bench/hh_like_lengths.json "$bundle.tmp/peer/"
else
  echo "gpu_bundle: warning: no hf_dpo_baseline.py in ../shared/bench or bench/peer: the bundle has no peer" >&2
fi

# Every library the binaries load (ldd, with the torch wheel's folders found first).
mapfile -t needed < <(for name in dpo test_cuda; do
  LD_LIBRARY_PATH="$torch_libs" ldd "$bundle.tmp/bin/$name"
done | awk '/=>/ {print $1 "\t" $3}' | sort -u)
for line in "${needed[@]}"; do
  soname=${line%%$'\t'*}
  path=${line#*$'\t'}
  if [[ $path == "not" ]]; then
    echo "gpu_bundle: $soname does not resolve here even with .venv's torch: $soname" >&2
    exit 1
  fi
  if [[ $soname =~ $from_wheel ]]; then
    # The GPU machine has the same torch wheel (2.11.0+cu130) and nothing else of CUDA: a soname
    # found here only outside the wheel (e.g. in /usr/local/cuda) would be missing there.
    if [[ $(readlink -f "$path") != "$(readlink -f "$torch_dir/..")"/* ]]; then
      echo "gpu_bundle: the binaries need $soname, which .venv's torch wheel does not carry" \
        "(found only at $path): the GPU machine's torch would lack it" >&2
      exit 1
    fi
    continue
  fi
  if [[ $soname =~ $provided ]]; then continue; fi
  if [[ $soname =~ $fallback ]]; then
    cp -L "$path" "$bundle.tmp/lib/fallback/$soname"
  else
    cp -L "$path" "$bundle.tmp/lib/$soname"
  fi
done

cat >"$bundle.tmp/run.sh" <<'EOF'
#!/usr/bin/env bash
# ./run.sh PROGRAM [ARGS...]: runs bin/PROGRAM (dpo, test_cuda) against this machine's torch.
# DPO_TORCH_DIR overrides where torch is (default: the one python3 imports).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
program=${1:?usage: run.sh dpo|test_cuda [ARGS...]}
shift
[[ -x $here/bin/$program ]] || { echo "run.sh: no bin/$program in $here" >&2; exit 1; }
torch_dir=${DPO_TORCH_DIR:-$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
libs="$here/lib:$torch_dir/lib"
for nvidia in "$torch_dir"/../nvidia/*/lib; do [[ -d $nvidia ]] && libs+=":$nvidia"; done
# The C++ runtime of the build machine only where this one's is older than the binaries need.
if LD_LIBRARY_PATH="$libs" ldd "$here/bin/$program" 2>&1 | grep -q "version .* not found"; then
  libs="$here/lib/fallback:$libs"
fi
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The repository's fixtures, for test_cuda, when the bundle sits in a checkout.
if [[ -z ${DPO_FIXTURES_DIR:-} && -d $here/../tests/fixtures/hf ]]; then
  export DPO_FIXTURES_DIR="$here/../tests/fixtures"
fi
exec "$here/bin/$program" "$@"
EOF
chmod +x "$bundle.tmp/run.sh"
# gpu-bundle/dpo and gpu-bundle/test_cuda: the programs by name (bench/gpu.sh calls these).
for name in dpo test_cuda; do
  printf '#!/usr/bin/env bash\nexec "$(dirname "${BASH_SOURCE[0]}")/run.sh" %s "$@"\n' "$name" >"$bundle.tmp/$name"
  chmod +x "$bundle.tmp/$name"
done

{
  echo "dpo.cpp GPU bundle"
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
  echo "made $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -m), libtorch $(.venv/bin/python3 -c 'import torch; print(torch.__version__)')"
  (cd "$bundle.tmp" && find . -type f -printf '%10s  %p\n' | sort -k2)
} >"$bundle.tmp/MANIFEST"

size_kib=$(du -sk "$bundle.tmp" | cut -f1)
if ((size_kib > limit_mib * 1024)); then
  echo "gpu_bundle: the bundle is $((size_kib / 1024)) MiB, over the $limit_mib MiB limit" >&2
  exit 1
fi
rm -rf "$bundle" && mv "$bundle.tmp" "$bundle"

# Checks here: the bundled binaries resolve every library, and dpo runs on the CPU against
# .venv's torch through the wrapper.
for name in dpo test_cuda; do
  if DPO_TORCH_DIR="$torch_dir" LD_LIBRARY_PATH="$bundle/lib:$torch_libs" ldd "$bundle/bin/$name" |
    grep -q "not found"; then
    echo "gpu_bundle: bin/$name has unresolved libraries:" >&2
    LD_LIBRARY_PATH="$bundle/lib:$torch_libs" ldd "$bundle/bin/$name" | grep "not found" >&2
    exit 1
  fi
done
DPO_TORCH_DIR="$torch_dir" "$bundle/run.sh" dpo --version
(cd / && DPO_TORCH_DIR="$torch_dir" "$root/$bundle/run.sh" dpo bench train --model-shape tiny \
  --steps 1 --warmup 0 --pairs-per-step 2 --json >/dev/null)
echo "gpu_bundle: $bundle/ ($((size_kib / 1024)) MiB) made and checked: bundled dpo ran bench train from /" >&2
