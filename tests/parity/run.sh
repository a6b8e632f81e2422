#!/bin/sh
# CTest's entry to a parity harness: run.sh PYTHON SCRIPT ARGS... runs SCRIPT with the project
# venv's Python. Without that Python (an apt-only setup) it is a skip (exit 77) with the reason,
# or a failure under CI=true, like a missing module inside the harness.
python=$1
shift
if [ ! -x "$python" ]; then
  echo "parity: SKIP: no Python at $python (run scripts/setup.sh for the PyPI references)" >&2
  if [ "$CI" = true ]; then exit 1; fi
  exit 77
fi
exec "$python" "$@"
