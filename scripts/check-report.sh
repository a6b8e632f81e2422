#!/usr/bin/env bash
# Checks a run report in a real browser: renders report.html with headless Chromium, saves a PNG
# screenshot, and verifies that every chart was drawn.
#
#   scripts/check-report.sh RUN_DIR_OR_REPORT_HTML [OUT.png]
#
# Passes (exit 0) when
#   - the page's own self-check ran and marked <body data-chart-check="ok"> (it verifies that each
#     <svg class="chart"> has series paths with non-empty, valid `d` that the browser rendered),
#   - the DOM after scripts ran has as many charts as the HTML file, and no series path with an
#     empty d,
#   - Chromium logged no console message (the report logs nothing unless something is wrong) and
#     no script error,
#   - the screenshot is a PNG of plausible size.
# OUT.png defaults to report.png next to report.html. Exit 1 on a failed check, 2 on a setup
# problem. Installs the Debian package `chromium` with apt-get when it is missing and we are root.
set -euo pipefail

die() { echo "check-report: $*" >&2; exit "${2:-1}"; }
count_matches() { { grep -o -- "$1" "$2" || true; } | wc -l; }  # grep exits 1 on no match

[[ $# -ge 1 && $# -le 2 ]] || die "usage: scripts/check-report.sh RUN_DIR_OR_REPORT_HTML [OUT.png]" 2
target=$1
if [[ -d $target ]]; then html=$target/report.html; else html=$target; fi
[[ -f $html ]] || die "$html: not found (run \`dpo report RUN_DIR\` first)" 2
html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
png=${2:-$(dirname "$html")/report.png}

chromium_bin=${CHROMIUM:-}
if [[ -z $chromium_bin ]]; then
  for candidate in chromium chromium-browser; do
    if command -v "$candidate" >/dev/null 2>&1; then chromium_bin=$(command -v "$candidate"); break; fi
  done
fi
if [[ -z $chromium_bin ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "check-report: installing chromium (apt-get)" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 ||
      die "apt-get install chromium failed" 2
    chromium_bin=$(command -v chromium) || die "chromium not found after installing it" 2
  else
    die "chromium not found: install the Debian package \`chromium\` (or set CHROMIUM=/path/to/chrome)" 2
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/check-report.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Same flags for both runs; a fresh profile each time; no network activity of its own.
run_chromium() {
  local profile=$work/profile-$1
  shift
  DBUS_SESSION_BUS_ADDRESS=disabled: timeout 120 "$chromium_bin" --headless --no-sandbox --disable-gpu \
    --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --disable-extensions --hide-scrollbars --user-data-dir="$profile" --enable-logging=stderr --v=0 "$@"
}

url="file://$html"
charts_in_file=$(count_matches '<svg class="chart"' "$html")

# 1. The DOM after the page's scripts ran.
run_chromium dom --dump-dom "$url" >"$work/dom.html" 2>"$work/dom.log" ||
  die "chromium --dump-dom failed (exit $?); see its log:"$'\n'"$(tail -5 "$work/dom.log")" 2

# 2. A full-page screenshot: tall enough for the summary, two charts per row and the answers.
height=$((1400 + (charts_in_file + 1) / 2 * 430))
run_chromium shot --window-size=1366,"$height" --screenshot="$png" "$url" >"$work/shot.out" 2>"$work/shot.log" ||
  die "chromium --screenshot failed; see its log:"$'\n'"$(tail -5 "$work/shot.log")" 2

failures=()
body=$(grep -o '<body[^>]*>' "$work/dom.html" | head -1 || true)
[[ $body == *'data-chart-check="ok"'* ]] ||
  failures+=("page self-check did not pass: ${body:-no <body> in the DOM} $(grep -o '<p id="chart-check"[^<]*' "$work/dom.html" || true)")
charts_in_dom=$(count_matches '<svg class="chart"' "$work/dom.html")
[[ $charts_in_dom -eq $charts_in_file ]] || failures+=("$charts_in_dom charts in the DOM, $charts_in_file in the file")
[[ $body == *"data-expected-charts=\"$charts_in_file\""* ]] || failures+=("data-expected-charts does not match $charts_in_file charts")
paths=$(count_matches '<path class="series" d="[^"]*"' "$work/dom.html")
empty_paths=$(count_matches '<path class="series" d="\s*"' "$work/dom.html")
[[ $charts_in_file -eq 0 || $paths -ge $charts_in_file ]] || failures+=("only $paths series paths for $charts_in_file charts")
[[ $empty_paths -eq 0 ]] || failures+=("$empty_paths series paths with an empty d")
console=$(grep -h 'CONSOLE' "$work/dom.log" "$work/shot.log" || true)
[[ -z $console ]] || failures+=("console messages:"$'\n'"$console")
[[ -f $png ]] || failures+=("no screenshot written to $png")
if [[ -f $png ]]; then
  [[ $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || failures+=("$png is not a PNG")
  [[ $(stat -c %s "$png") -gt 20000 ]] || failures+=("$png is suspiciously small ($(stat -c %s "$png") bytes)")
fi

if [[ ${#failures[@]} -gt 0 ]]; then
  printf 'check-report: FAILED %s\n' "$html" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "check-report: OK: $charts_in_file charts, $paths lines drawn, no console messages; screenshot $png (1366x$height)"
