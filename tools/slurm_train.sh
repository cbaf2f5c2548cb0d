#!/usr/bin/env bash
# Train a whole class-incremental protocol on a Slurm cluster: srun starts
# one task per GPU, every step of the protocol runs in that one job.
#
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [GPUS] [train.py args]
#
# GPUS (the 4th argument, else the GPUS variable; default 4) tasks in all,
# GPUS_PER_NODE (default min(GPUS, 8)) per node, CPUS_PER_TASK (default 5)
# cores each; SRUN_ARGS adds srun options (e.g. "--quotatype=auto");
# PORT the rendezvous port (default 29500); PYTHON the interpreter.
# A failing task ends the whole job (--kill-on-bad-exit).
set -x
if [ $# -lt 3 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG [GPUS] [train.py args...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
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
    "$PYTHON" -u "$(dirname "$0")/train.py" "${CONFIG}" --launcher slurm "$@"
