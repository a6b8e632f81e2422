#!/usr/bin/env bash
# Builds the whole project and its tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake preset `asan`, folder build-asan) and runs the test suite under them.
# Leak detection is off: libtorch keeps process-lifetime allocations that LeakSanitizer reports.
# Against Debian's libtorch 1.13 (found where no CMAKE_PREFIX_PATH is given): no venv needed.
set -euo pipefail
cd "$(dirname "$0")/.."
DPO_TORCH=debian bash scripts/setup.sh
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)"
ctest --preset asan -j "$(nproc)" "$@"
