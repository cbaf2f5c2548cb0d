#!/usr/bin/env bash
# Set up the environment (once; later runs reuse it) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
VENV=${CISSEG_VENV:-.venv}
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$VENV/bin/python" -m pytest tests -q "$@"
