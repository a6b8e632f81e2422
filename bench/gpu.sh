#!/usr/bin/env bash
# The GPU benchmark, in one run on one CUDA machine (H100/H200): build dpo.cpp against the
# installed PyTorch's libtorch, check the CUDA path, then measure `dpo bench train` and the peer
# (TRL-style transformers + peft, bench/peer/hf_dpo_baseline.py) on the same lengths, and print
# one comparison table. Needs: python3 with CUDA torch, transformers and peft; cmake, ninja, a
# C++17 compiler; the Debian packages yaml-cpp, fmt, CLI11, nlohmann-json, pcre2, zlib and gtest,
# installed or (no registry there) downloaded here by scripts/gpu_prepare.sh into bench/peer/debs
# and unpacked by this script into a private prefix. No network. About 10 minutes in all.
#
#   bash bench/gpu.sh [OUTDIR [PHASES]]   (default OUTDIR: runs/gpu-bench-<date>)
#
# PHASES (default "all"): any of build check bench peer table. Where one call must stay under a
# time limit, run "build check" and then "bench peer table" with the same OUTDIR (the build is in
# $DPO_GPU_BUILD_DIR, default build-gpu/, and is kept).
#
# Before the first run, here: `bash scripts/gpu_prepare.sh` (the peer and the packages into the
# git-ignored bench/peer/, which the device call carries: carry ["bench/peer"]).
#
# Bundle mode (nothing compiled there, no Debian packages): `bash scripts/gpu_bundle.sh` here, then
# on the GPU machine `DPO_GPU_BUNDLE=gpu-bundle bash bench/gpu.sh OUT` (carry ["gpu-bundle"]): the
# build phase is skipped, dpo and test_cuda come from the bundle, the peer from gpu-bundle/peer.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${1:-runs/gpu-bench-$(date -u +%Y%m%d-%H%M%S)}"
PHASES=" ${2:-all} "
want() { [[ $PHASES == *" all "* || $PHASES == *" $1 "* ]]; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
BUILD="${DPO_GPU_BUILD_DIR:-$ROOT/build-gpu}"
JOBS="${JOBS:-16}"
LENGTHS="$ROOT/bench/hh_like_lengths.json"
PEER_DIR="$ROOT/bench/peer"
BUNDLE="${DPO_GPU_BUNDLE:-}"
if [[ -n $BUNDLE ]]; then
  BUNDLE="$(cd "$BUNDLE" && pwd)" || { echo "DPO_GPU_BUNDLE: no folder $DPO_GPU_BUNDLE" >&2; exit 1; }
  [[ -x $BUNDLE/dpo && -x $BUNDLE/test_cuda ]] || {
    echo "DPO_GPU_BUNDLE=$BUNDLE has no dpo/test_cuda: make it with scripts/gpu_bundle.sh" >&2
    exit 1
  }
  PEER_DIR="$BUNDLE/peer"
fi
log() { printf '\n== %s  (%ss)\n' "$*" "$SECONDS"; }

# ---- preconditions
if [[ ! -f "$PEER_DIR/hf_dpo_baseline.py" ]]; then
  echo "bench/peer/hf_dpo_baseline.py is missing: run scripts/gpu_prepare.sh first (on Debian 12)" >&2
  exit 1
fi
if [[ ! -f "$LENGTHS" ]]; then
  echo "bench/hh_like_lengths.json is missing (copy ../shared/bench/hh_like_lengths.json there)" >&2
  exit 1
fi
# The peer reads hh_like_lengths.json next to itself: give it the very same file.
cp "$LENGTHS" "$PEER_DIR/hh_like_lengths.json"
python3 - <<'EOF'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("bench/gpu.sh needs a CUDA GPU and a CUDA build of torch (torch.cuda.is_available() is False)")
print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))
EOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# ---- the Debian packages of scripts/gpu_prepare.sh, unpacked into a private prefix: a CUDA
# machine without a package registry has no yaml-cpp, fmt, CLI11, ... (nothing is installed)
DEPS="$BUILD-deps"
CMAKE_DEPS=()
if [[ -z $BUNDLE ]] && compgen -G "$PEER_DIR/debs/*.deb" >/dev/null; then
  LIBDIR="$DEPS/usr/lib/x86_64-linux-gnu"
  if want build || [[ ! -d $LIBDIR ]]; then
    rm -rf "$DEPS" && mkdir -p "$DEPS"
    for deb in "$PEER_DIR"/debs/*.deb; do
      if command -v dpkg-deb >/dev/null; then
        dpkg-deb -x "$deb" "$DEPS"
      else
        (scratch="$(mktemp -d)" && cd "$scratch" && ar x "$deb" && tar -xf data.tar.* -C "$DEPS" &&
          rm -rf "$scratch")
      fi
    done
    # Absolute links (libz.so -> /lib/...) point into the prefix instead.
    find "$DEPS" -type l | while read -r link; do
      target="$(readlink "$link")"
      if [[ $target == /* ]]; then ln -sfn "$DEPS$target" "$link"; fi
    done
  fi
  export LD_LIBRARY_PATH="$LIBDIR:$DEPS/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  CMAKE_DEPS=(
    "-DCMAKE_CXX_FLAGS=-isystem $DEPS/usr/include" -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON
    "-Dyaml-cpp_DIR=$LIBDIR/cmake/yaml-cpp" "-Dfmt_DIR=$LIBDIR/cmake/fmt"
    "-DGTest_DIR=$LIBDIR/cmake/GTest" "-Dnlohmann_json_DIR=$DEPS/usr/share/cmake/nlohmann_json"
    "-DZLIB_INCLUDE_DIR=$DEPS/usr/include" "-DZLIB_LIBRARY=$LIBDIR/libz.so"
    "-DPCRE2_INCLUDE_DIR=$DEPS/usr/include" "-DPCRE2_LIBRARY=$LIBDIR/libpcre2-8.so"
  )
fi

# ---- build against this Python's libtorch (CUDA): the dpo binary and the model tests only
if want build && [[ -z $BUNDLE ]]; then
log "build (cmake + ninja -j$JOBS)"
TORCH_PREFIX="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  "${CMAKE_DEPS[@]}" -DDPO_BUILD_TESTS=ON >"$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
ninja -C "$BUILD" -j"$JOBS" dpo test_cuda >"$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
fi
DPO="$BUILD/dpo"
TEST_CUDA="$BUILD/test_cuda"
if [[ -n $BUNDLE ]]; then
  DPO="$BUNDLE/dpo"
  TEST_CUDA="$BUNDLE/test_cuda"
  log "bundle: $(sed -n 2p "$BUNDLE/MANIFEST")"
fi
"$DPO" --version | tee "$OUT/version.txt"
grep -q 'CUDA: built with .*; available' "$OUT/version.txt" ||
  { echo "dpo sees no GPU (or was not built with CUDA): see version.txt" >&2; exit 1; }

# ---- CUDA correctness: model fixtures in bf16 on the GPU, then a few `dpo train` steps on CUDA
if want check; then
log "CUDA check 1/2: model fixture tests on CUDA (bf16)"
# A failing check is reported loudly but does not stop the measurements (one device session is
# short): the table's header says so.
"$TEST_CUDA" --gtest_brief=1 >"$OUT/cuda_test.log" 2>&1 ||
  echo "CUDA CHECKS FAILED: see cuda_test.log" | tee "$OUT/cuda_checks_failed.txt"
cat "$OUT/cuda_test.log"
grep -Eq '(PASSED|FAILED).*\] [1-9]' "$OUT/cuda_test.log" || { echo "no CUDA model test ran" >&2; exit 1; }

log "CUDA check 2/2: dpo train, 4 steps, device=cuda, fixture model, padded and padding_free"
for variant in padded padding_free; do
cat >"$OUT/cuda_train_$variant.yaml" <<EOF
model_name_or_path: $ROOT/tests/fixtures/hf/llama/model
dataset: $ROOT/assets/demo/pairs.jsonl
device: cuda
bf16: true
learning_rate: 1.0e-3
per_device_train_batch_size: 4
max_steps: 4
logging_steps: 1
save_steps: 4
report_to: [jsonl]
padding_free: $([[ $variant == padding_free ]] && echo true || echo false)
output_dir: $OUT/cuda_train_$variant
EOF
"$DPO" train "$OUT/cuda_train_$variant.yaml" >"$OUT/cuda_train_$variant.log" 2>&1 ||
  { tail -30 "$OUT/cuda_train_$variant.log"; exit 1; }
python3 - "$OUT/cuda_train_$variant/metrics.jsonl" "$variant" <<'EOF'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
losses = [r["loss"] for r in rows if "loss" in r]
assert len(losses) >= 4, f"expected 4 logged steps, got {rows}"
assert all(math.isfinite(x) for x in losses), f"non-finite loss on CUDA: {losses}"
assert abs(losses[0] - math.log(2)) < 1e-2, f"first sigmoid loss should be ln 2 = 0.693, got {losses[0]}"
print(f"dpo train on CUDA ({sys.argv[2]}): losses", [round(x, 4) for x in losses])
EOF
done

fi
# ---- throughput: dpo.cpp, then the peer, same lengths, same card, same run
# packed: one row per micro-batch through the flash varlen kernel (no padding, no mask) where it
# runs; the "attention" field says which path ran.
if want bench; then
log "dpo bench train (tinyllama-1.1b shape, bf16; padded 8, 16 and packed 8, 16, 32 pairs/step)"
: >"$OUT/dpo_bench.jsonl"
bench() {  # LAYOUT PAIRS [--varlen off]
  local layout=$1 pairs=$2
  shift 2
  "$DPO" bench train --model-shape tinyllama-1.1b --device cuda --dtype bf16 --layout "$layout" \
    --pairs-per-step "$pairs" --steps 8 --warmup 3 --lengths "$LENGTHS" --json "$@" \
    >>"$OUT/dpo_bench.jsonl" 2>>"$OUT/dpo_bench.log" ||
    echo "{\"impl\": \"dpo.cpp\", \"layout\": \"$layout\", \"pairs_per_step\": $pairs, \"failed\": true}" >>"$OUT/dpo_bench.jsonl"
  tail -1 "$OUT/dpo_bench.jsonl"
}
for layout in padded packed; do
  for pairs in 8 16 32; do
    [[ $layout == padded && $pairs == 32 ]] && continue
    bench "$layout" "$pairs"
  done
done
bench packed 8 --varlen off  # what the flash varlen kernel is worth: the same rows with masks
fi

if want peer; then
log "peer: hf_dpo_baseline.py (transformers + peft eager, TRL layout)"
(cd "$PEER_DIR" && python3 hf_dpo_baseline.py "$OUT") 2>&1 | tee "$OUT/peer.log"

fi
# ---- one table
if want table; then
log "results"
python3 - "$OUT" <<'EOF' | tee "$OUT/table.md"
import json, os, sys
out = sys.argv[1]
ours = [json.loads(l) for l in open(os.path.join(out, "dpo_bench.jsonl")) if l.strip()]
peer_all = json.load(open(os.path.join(out, "bench_hf_dpo.json")))
peer = [r for r in peer_all if "real_tokens_per_s" in r]
mm = next((r["bf16_matmul_tflops"] for r in peer_all if "bf16_matmul_tflops" in r), None)
card = peer[0]["gpu"] if peer else "?"
best = max(peer, key=lambda r: r["real_tokens_per_s"]) if peer else None
print(f"card: {card}; peer bf16 matmul {mm:.0f} TFLOP/s" if mm else f"card: {card}")
if os.path.exists(os.path.join(out, "cuda_checks_failed.txt")):
    print("WARNING: the CUDA correctness checks FAILED in this run (cuda_test.log)")
print()
print("| configuration | dpo.cpp real tok/s | peer real tok/s (same pairs, no ckpt) | ratio | vs peer best | dpo.cpp peak GiB | peer peak GiB | dpo.cpp MFU |")
print("|---|---|---|---|---|---|---|---|")
for r in ours:
    attention = "" if r.get("failed") else " (varlen)" if "varlen" in r.get("attention", "") else " (mask)"
    name = f"dpo.cpp {r.get('layout')}{attention} {r.get('pairs_per_step')} pairs/step"
    if r.get("failed"):
        print(f"| {name} | failed | | | | | | |")
        continue
    same = next((p for p in peer if p["batch_pairs"] == r["pairs_per_step"] and not p["grad_ckpt"]), None)
    tps = r["real_tokens_per_s"]
    ratio = f"{tps / same['real_tokens_per_s']:.2f}x" if same else "-"
    vs_best = f"{tps / best['real_tokens_per_s']:.2f}x" if best else "-"
    print(f"| {name} | {tps:,.0f} | {same['real_tokens_per_s']:,.0f} | {ratio} | {vs_best} | "
          f"{r['peak_mem_gib']:.1f} | {same['peak_mem_gib']:.1f} | {r.get('mfu', 0):.3f} |" if same else
          f"| {name} | {tps:,.0f} | - | - | {vs_best} | {r['peak_mem_gib']:.1f} | - | {r.get('mfu', 0):.3f} |")
print()
print("peer configurations (TRL-style eager):")
print("| pairs/step | grad ckpt | real tok/s | pad fraction | peak GiB |")
print("|---|---|---|---|---|")
for p in peer:
    print(f"| {p['batch_pairs']} | {'on' if p['grad_ckpt'] else 'off'} | {p['real_tokens_per_s']:,.0f} | "
          f"{p['pad_fraction']:.2f} | {p['peak_mem_gib']:.1f} |")
if best:
    print(f"\npeer best: {best['batch_pairs']} pairs/step, grad ckpt {'on' if best['grad_ckpt'] else 'off'}: "
          f"{best['real_tokens_per_s']:,.0f} real tok/s at {best['peak_mem_gib']:.1f} GiB. "
          f"Goal: >= 2x that at <= that peak memory.")
EOF
fi
echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ); files in $OUT"
echo "total ${SECONDS}s"
