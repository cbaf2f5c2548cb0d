#!/usr/bin/env bash
# Set up the environment (once), then run the CPU demo: VOC 15-1 overlapped on
# the synthetic "shapes" data (generated on the first run) with fine-tuning
# and STAR-Basic, each printing its per-step table, then a comparison table and
# plot. Pass methods to run others: bash tools/demo.sh finetune mib star-basic
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
PY=${CISSEG_VENV:-.venv}/bin/python
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(finetune star-basic)
dirs=()
for m in "${methods[@]}"; do
  cfg=configs/demo/${m}_shapes-15-1-overlap.py
  dir=work_dirs/demo/${m}_shapes-15-1-overlap
  $PY tools/train.py "$cfg" --work-dir "$dir" --resume
  dirs+=("$dir")
done
$PY tools/analysis_tools/plot_steps.py "${dirs[@]}" --out work_dirs/demo/steps.png
