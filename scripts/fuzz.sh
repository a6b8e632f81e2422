#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, build-fuzz/) and runs each of them in
# parallel for SECONDS (default 600) under `nice -n ${DPO_FUZZ_NICE:-19}`, growing a working corpus in
# build-fuzz/corpus/<target>/ from the seeds in fuzz/corpus/<target>/ (or fuzz/seeds/...).
# Crashing inputs land in build-fuzz/findings/<target>/; logs in build-fuzz/logs/<target>.log.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]
set -euo pipefail
seconds=${1:-600}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DPO_FUZZ_BUILD:-$root/build-fuzz}
niceness=${DPO_FUZZ_NICE:-19}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(safetensors_header_fuzz gguf_fuzz model_config_fuzz tokenizer_fuzz data_rows_fuzz
           chat_template_fuzz report_metrics_fuzz report_tensorboard_fuzz)
fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DDPO_FUZZ=ON \
  -DDPO_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice -n "$niceness" ninja -C "$build" -j2 "${targets[@]}"

seeds_for() {  # the checked-in seed folders of a target
  local name=${1%_fuzz}
  for dir in "$root/fuzz/corpus/$name" "$root/fuzz/seeds/$name" "$root/fuzz/seeds/${name#report_}" \
             "$root/fuzz/seeds/${name%_template}"; do
    [ -d "$dir" ] && echo "$dir"
  done | sort -u
}

binary_of() { echo "$build/fuzz/$1"; }

mkdir -p "$build/logs"
pids=()
for target in "${targets[@]}"; do
  mkdir -p "$build/corpus/$target" "$build/findings/$target"
  # shellcheck disable=SC2046
  nice -n "$niceness" "$(binary_of "$target")" "$build/corpus/$target" $(seeds_for "$target") \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$build/findings/$target/" >"$build/logs/$target.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!targets[@]}"; do
  if ! wait "${pids[$i]}"; then status=1; fi
done
# Findings: crash-, timeout-, oom- and leak- inputs. slow-unit- files are only reported: the
# first input of a target also pays for its one-time setup (loading the fixture tokenizers).
printf '%-28s %14s %9s %s\n' target executions findings slow-units
for target in "${targets[@]}"; do
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/logs/$target.log" | grep -o '[0-9]*$' || echo "?")
  found=$(find "$build/findings/$target" -type f ! -name 'slow-unit-*' | wc -l)
  slow=$(find "$build/findings/$target" -type f -name 'slow-unit-*' | wc -l)
  printf '%-28s %14s %9s %s\n' "$target" "$runs" "$found" "$slow"
done
exit $status
