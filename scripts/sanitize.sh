#!/usr/bin/env bash
# Builds the whole project and its tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake preset `asan`, folder build-asan) and runs the test suite under them.
# Leak detection is off: libtorch keeps process-lifetime allocations that LeakSanitizer reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)"
ctest --preset asan -j "$(nproc)" "$@"
