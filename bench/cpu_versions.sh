#!/usr/bin/env bash
# The CPU step on both libtorch builds, in one run on one machine: `dpo bench train` from build/
# (libtorch 2.11) and build-debian/ (libtorch 1.13) over model shapes, layouts, thread counts and
# attention paths, interleaved round by round so that both builds see the same machine.
#
#   bash bench/cpu_versions.sh [OUT.jsonl] [ROUNDS]   (defaults: runs/cpu-versions.jsonl, 1)
#
# Attention paths: --varlen auto is variable-length attention, sequence by sequence on the CPU
# (each sequence through the dense backend: SDPA's CPU kernel on libtorch 2.11, the plain
# matmul-mask-softmax on 1.13); --varlen off is the whole (padded or packed) row through the dense
# backend with a padding or segment mask. Prints one markdown table (medians over the rounds).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/cpu-versions.jsonl}
rounds=${2:-1}
mkdir -p "$(dirname "$out")"
: >"$out"
builds=()
for dir in build build-debian; do [[ -x $dir/dpo ]] && builds+=("$dir"); done
[[ ${#builds[@]} -gt 0 ]] || { echo "cpu_versions: build build/ and/or build-debian/ first" >&2; exit 1; }
for round in $(seq "$rounds"); do
  for shape in tiny small; do
    steps=4
    [[ $shape == small ]] && steps=2
    for layout in packed padded; do
      for threads in 1 2; do
        for varlen in auto off; do
          for dir in "${builds[@]}"; do
            version="$("$dir/dpo" --version | sed -n 's/^libtorch //p')"
            line="$("$dir/dpo" bench train --model-shape "$shape" --layout "$layout" --threads "$threads" \
              --varlen "$varlen" --pairs-per-step 4 --steps "$steps" --warmup 1 --json | tail -1)"
            printf '{"round": %s, "libtorch": "%s", "threads": %s, "varlen": "%s", "result": %s}\n' \
              "$round" "$version" "$threads" "$varlen" "$line" >>"$out"
            echo "round $round $version $shape $layout threads=$threads varlen=$varlen:" \
              "$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["real_tokens_per_s"]))' "$line") real tok/s" >&2
          done
        done
      done
    done
  done
done
python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    res = r["result"]
    key = (res["model_shape"] if "model_shape" in res else res.get("shape", "?"), res["layout"], r["threads"], r["varlen"], r["libtorch"])
    groups.setdefault(key, []).append(res["real_tokens_per_s"])
versions = sorted({k[4] for k in groups})
print("| shape | layout | threads | attention | " + " | ".join(f"libtorch {v} real tok/s" for v in versions) +
      (" | 2.x / 1.13 |" if len(versions) == 2 else " |"))
print("|---|---|---|---|" + "---|" * len(versions) + ("---|" if len(versions) == 2 else ""))
for key in sorted({k[:4] for k in groups}):
    values = [statistics.median(groups[key + (v,)]) if key + (v,) in groups else None for v in versions]
    cells = " | ".join(f"{x:,.0f}" if x else "-" for x in values)
    ratio = f" | {values[1] / values[0]:.2f}x" if len(values) == 2 and all(values) else ""
    attention = "varlen (sequence by sequence)" if key[3] == "auto" else "mask (dense row)"
    print(f"| {key[0]} | {key[1]} | {key[2]} | {attention} | {cells}{ratio} |")
EOF
