#!/usr/bin/env bash
# Sets up a Debian 12 machine for dpo.cpp. Idempotent: quiet and quick when everything is there.
#
#   bash scripts/setup.sh                    # Debian packages + the project venv (.venv/)
#   DPO_TORCH=debian bash scripts/setup.sh   # Debian packages only (the apt-only route)
#
# 1. Debian packages (apt): compilers, CMake, the libraries dpo.cpp links (yaml-cpp, fmt, CLI11,
#    nlohmann-json, PCRE2, zlib, Gloo's headers for data-parallel runs), GoogleTest, Debian's libtorch-dev 1.13 (the apt-only build) with
#    OpenBLAS, and what some tests use (chromium renders report.html, python3-protobuf reads
#    TensorBoard files). Run as root, or with sudo available.
# 2. Unless DPO_TORCH=debian: a project-local virtual environment .venv/ holding requirements.txt:
#    torch 2.11.0, whose wheel carries the libtorch (with CUDA) of the main build, and the Python
#    references the tests compare with (transformers, peft, trl, tokenizers, gguf). dpo never
#    needs Python at run time. The CUDA toolkit (nvcc 13, as on this project's machines) must be
#    installed for the main build: libtorch's CMake files look for it.
set -euo pipefail
cd "$(dirname "$0")/.."
torch_source=${DPO_TORCH:-pip}
if [[ $torch_source != pip && $torch_source != debian ]]; then
  echo "setup: DPO_TORCH must be pip (the default: torch 2.11 from PyPI in .venv/) or debian (apt's libtorch-dev 1.13), not '$torch_source'" >&2
  exit 1
fi

# ---- 1. Debian packages
packages=(
  build-essential cmake ninja-build pkg-config git ccache
  libtorch-dev libopenblas0-openmp
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libfmt-dev libpcre2-dev zlib1g-dev
  libgloo-dev
  googletest libgtest-dev
  python3 python3-venv
  # test-only: report.html rendered in a real browser; TensorBoard files checked with Google's protobuf
  chromium python3-protobuf
)
# Optional extras for the fuzzers (clang).
if [[ "${DPO_SETUP_EXTRAS:-0}" == 1 ]]; then
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  echo "setup: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# ---- 2. The project venv (.venv/) with requirements.txt
[[ $torch_source == debian ]] && exit 0
venv=.venv
# llama.cpp's converters (convert_hf_to_gguf.py, convert_lora_to_gguf.py and their gguf-py), which
# the GGUF tests compare with: the llama.cpp tree vendored in llama-cpp-python's source
# distribution, downloaded (never built) into .venv/llama.cpp/.
llama_cpp_python=0.3.36
llama_cpp_parts=('*/vendor/llama.cpp/convert_*.py' '*/vendor/llama.cpp/conversion/*' '*/vendor/llama.cpp/gguf-py/*')
stamp="$venv/.dpo-requirements.sha256"
wanted="$( (cat requirements.txt && echo "llama-cpp-python==$llama_cpp_python ${llama_cpp_parts[*]}") | sha256sum | cut -d' ' -f1)"
if [[ -x $venv/bin/python3 && -f $stamp && "$(cat "$stamp")" == "$wanted" ]]; then
  exit 0
fi
if [[ ! -x $venv/bin/python3 ]]; then
  # The pyenv or system python3 (3.10 or later: torch 2.11's wheels need it).
  python3 -m venv "$venv" || {
    echo "setup: could not create $venv with $(command -v python3) (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
echo "setup: installing requirements.txt into $venv (torch 2.11 with CUDA: about 5 GB the first time)" >&2
if ! "$venv/bin/pip" install --disable-pip-version-check -q -r requirements.txt; then
  echo "setup: pip could not install requirements.txt into $venv (see pip's message above: is PyPI" \
    "reachable from this machine?). Without PyPI, the apt-only route builds against Debian's" \
    "libtorch 1.13: DPO_TORCH=debian bash scripts/setup.sh && DPO_TORCH=debian bash scripts/build.sh" >&2
  exit 1
fi
rm -rf "$venv/llama.cpp" "$venv/llama.cpp.tmp" && mkdir -p "$venv/llama.cpp.tmp"
# --no-binary for this package only: its build dependencies come as wheels (nothing compiles).
if ! "$venv/bin/pip" download --disable-pip-version-check -q --no-deps \
  --no-binary llama-cpp-python "llama-cpp-python==$llama_cpp_python" -d "$venv/llama.cpp.tmp"; then
  echo "setup: pip could not download llama-cpp-python==$llama_cpp_python's source distribution" \
    "(llama.cpp's converters, for the GGUF tests)" >&2
  exit 1
fi
tar -xzf "$venv/llama.cpp.tmp/llama_cpp_python-$llama_cpp_python.tar.gz" -C "$venv/llama.cpp.tmp" \
  --strip-components=3 --wildcards "${llama_cpp_parts[@]}"
rm -f "$venv/llama.cpp.tmp"/*.tar.gz
mv "$venv/llama.cpp.tmp" "$venv/llama.cpp"
echo "$wanted" >"$stamp"
