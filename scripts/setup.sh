#!/usr/bin/env bash
# Installs every Debian 12 package dpo.cpp needs to build, test and run. Idempotent: quiet and
# quick when everything is already present. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas0-openmp
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libfmt-dev libpcre2-dev zlib1g-dev
  googletest libgtest-dev
  # test-only: report.html rendered in a real browser; TensorBoard files checked with Google's protobuf
  chromium python3-protobuf
)
# Optional extras for the tokenizer differential test (npm) and the fuzzers (clang).
if [[ "${DPO_SETUP_EXTRAS:-0}" == 1 ]]; then
  packages+=(nodejs npm clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
echo "setup: installing ${missing[*]}" >&2
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
