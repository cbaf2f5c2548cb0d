#!/usr/bin/env bash
# Set up the environment (once), then run the CPU demo: VOC 15-1 overlapped on
# the synthetic "shapes" data (generated on the first run) with fine-tuning
# and STAR-Basic. Prints each run's per-step table and a comparison table,
# saves the per-step plot and false-positive panels under work_dirs/demo/.
# Other methods: bash tools/demo.sh finetune mib star-basic star-lite
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
PY=${CISSEG_VENV:-.venv}/bin/python
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
OUT=${CISSEG_DEMO_DIR:-work_dirs/demo}
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(finetune star-basic)
dirs=()
shares=()
for m in "${methods[@]}"; do
  cfg=configs/demo/${m}_shapes-15-1-overlap.py
  dir=$OUT/${m}_shapes-15-1-overlap
  $PY tools/train.py "$cfg" --work-dir "$dir" --resume
  $PY tools/analysis_tools/visualize_false_positives.py "$cfg" "$dir" \
    --step 1 5 --images 2026_val_000056 --topk 2 --out-dir "$OUT/fp_$m" \
    --shares-of pixels ${shares[@]+--add-shares "${shares[@]}"}
  shares+=("$OUT/fp_$m/fp_shares.json")
  dirs+=("$dir")
done
$PY tools/analysis_tools/plot_steps.py "${dirs[@]}" --out "$OUT/steps.png"
echo "demo outputs: $OUT (steps.png, fp_*/)"
