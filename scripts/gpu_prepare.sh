#!/usr/bin/env bash
# Prepares bench/gpu.sh for a CUDA machine that cannot reach a package registry: copies the peer
# baseline and downloads the Debian packages dpo.cpp builds against (headers, CMake configs and
# shared libraries) into bench/peer/ (git-ignored). bench/gpu.sh unpacks them into a private
# prefix there; nothing is installed. Run here, on Debian 12, once; then carry bench/peer along.
#
#   bash scripts/gpu_prepare.sh [SHARED_BENCH_DIR]   (default ../shared/bench)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${1:-$ROOT/../shared/bench}"
PEER="$ROOT/bench/peer"
packages=(
  nlohmann-json3-dev libcli11-dev
  libyaml-cpp-dev libyaml-cpp0.7 libfmt-dev libfmt9
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
  zlib1g-dev zlib1g libgtest-dev libgmock-dev
)

[[ -f "$SHARED/hf_dpo_baseline.py" ]] ||
  { echo "gpu_prepare: $SHARED/hf_dpo_baseline.py not found (give the folder as argument)" >&2; exit 1; }
mkdir -p "$PEER/debs"
cp "$SHARED/hf_dpo_baseline.py" "$PEER/"
rm -f "$PEER"/debs/*.deb
(cd "$PEER/debs" && apt-get download "${packages[@]}" >/dev/null) ||
  { echo "gpu_prepare: apt-get download failed (run 'apt-get update' first?)" >&2; exit 1; }
echo "gpu_prepare: $(ls "$PEER/debs" | wc -l) packages, $(du -sh "$PEER" | cut -f1) in bench/peer"
