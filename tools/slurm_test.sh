#!/usr/bin/env bash
# Evaluate one step of a run on a Slurm cluster (see tools/test.py).
#
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT_OR_WORK_DIR \
#       [GPUS] [test.py args]
#
# GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PORT and PYTHON as in
# tools/slurm_train.sh.
set -x
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT_OR_WORK_DIR [GPUS]" \
        "[test.py args...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
    GPUS=$1
    shift
fi
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
export MASTER_PORT=${PORT:-29500}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/test.py" "${CONFIG}" "${CHECKPOINT}" \
    --launcher slurm "$@"
