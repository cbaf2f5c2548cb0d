#!/usr/bin/env bash
# Create (or reuse) the project virtualenv and install cisseg with its stack
# (docs/get_started.md). Two routes, chosen from the machine and printed:
#   GPU route (nvidia-smi works): torch's CUDA build from PyPI, then mmcv
#     compiled from source with its CUDA ops (FORCE_CUDA=1; needs the CUDA
#     toolkit's nvcc matching torch's CUDA).
#   CPU route: torch's CPU wheel, then mmcv compiled from source (CPU ops).
# CISSEG_ROUTE=cpu|gpu overrides the choice. Order matters: torch first, then
# a setuptools that still has pkg_resources (mmcv's setup.py imports it: a
# build need of mmcv, not a requirement of cisseg), then mmcv, then cisseg
# (editable, with the test extra). Steps whose package is already installed
# are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CISSEG_VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
ROUTE=${CISSEG_ROUTE:-}
if [ -z "$ROUTE" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1
  then ROUTE=gpu; else ROUTE=cpu; fi
fi
case $ROUTE in
  gpu) echo "setup_env: GPU route (CUDA torch, mmcv with CUDA ops) in $VENV" ;;
  cpu) echo "setup_env: CPU route (CPU torch, mmcv with CPU ops) in $VENV" ;;
  *) echo "setup_env: CISSEG_ROUTE must be cpu or gpu, got '$ROUTE'" >&2
     exit 2 ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
have() { "$VENV/bin/python" -c "import $1" >/dev/null 2>&1; }
$PIP install -q --upgrade "pip>=23"
if ! have torch; then
  if [ "$ROUTE" = gpu ]; then
    $PIP install torch  # PyPI's Linux wheels are CUDA builds
  else
    # name the version so that pip takes the CPU wheel, not a CUDA one (on
    # PyPI itself: add --index-url https://download.pytorch.org/whl/cpu)
    $PIP install "torch==${CISSEG_TORCH_VERSION:-2.13.0}"
  fi
fi
# mmcv's build needs pkg_resources (setuptools < 81); torch itself asks for
# setuptools >= 77.0.3. Separate call from torch's.
$PIP install -q "setuptools>=77.0.3,<81" wheel
# mmcv's compiled ops must match this torch (and have CUDA on the GPU route)
ops_ok() {
  if [ "$ROUTE" = gpu ]; then
    "$VENV/bin/python" -c "from mmcv.ops import get_compiling_cuda_version as v; assert v() != 'not available'" >/dev/null 2>&1
  else have mmcv.ops; fi
}
if ! ops_ok; then
  if [ "$ROUTE" = gpu ]; then export FORCE_CUDA=1; fi
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install --no-build-isolation "mmcv==2.1.0"
fi
if ! ops_ok; then
  # pip's cache keys the built wheel by mmcv's version only: one built for
  # another torch (or without CUDA) was reused. Build it again.
  echo "setup_env: mmcv's ops do not match torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)'): rebuilding mmcv without pip's cache"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install --no-build-isolation \
    --no-cache-dir --force-reinstall --no-deps "mmcv==2.1.0"
  ops_ok || { echo "setup_env: mmcv's ops still fail to import" >&2; exit 1; }
fi
# One OpenCV: mmcv brings opencv-python; an opencv-python-headless installed
# beside it (older cisseg set-ups) shares its cv2/ folder, so removing it
# takes files of opencv-python too: reinstall that one.
if $PIP show -q opencv-python-headless >/dev/null 2>&1 && \
    $PIP show -q opencv-python >/dev/null 2>&1; then
  $PIP uninstall -q -y opencv-python-headless
  $PIP install -q --no-deps --force-reinstall opencv-python
fi
$PIP install -q --no-build-isolation -e ".[tests]"
$VENV/bin/python -c "import cisseg, mmseg, mmcv, mmengine, torch; print('cisseg env ok:', 'CUDA' if torch.cuda.is_available() else 'CPU', 'torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmseg', mmseg.__version__)"
