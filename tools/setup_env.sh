#!/usr/bin/env bash
# Create (or reuse) the project virtualenv and install cisseg with its stack.
# Order matters (see docs/install.md): CPU torch first, then a setuptools that
# still has pkg_resources (mmcv's setup.py imports it), then mmcv from source,
# then the rest. Steps whose package is already installed are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CISSEG_VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
have() { "$VENV/bin/python" -c "import $1" >/dev/null 2>&1; }
$PIP install -q --upgrade "pip>=23"
if ! have torch; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    $PIP install torch
  else
    # CPU-only machine: name the version so pip takes the CPU wheel, not CUDA.
    $PIP install "torch==${CISSEG_TORCH_VERSION:-2.13.0}"
  fi
fi
# Separate call: torch itself asks for setuptools>=77.0.3.
$PIP install -q "setuptools>=77.0.3,<81" wheel
if ! have mmcv.ops; then
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install --no-build-isolation "mmcv==2.1.0"
fi
$PIP install -q --no-build-isolation -e ".[tests]"
$VENV/bin/python -c "import cisseg, mmseg, mmcv, mmengine, torch; print('cisseg env ok: torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmseg', mmseg.__version__)"
