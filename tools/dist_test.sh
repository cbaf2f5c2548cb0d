#!/usr/bin/env bash
# Evaluate one step of a run with several processes (see tools/test.py).
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT_OR_WORK_DIR GPUS [test.py args]
#
# NNODES, NODE_RANK, MASTER_ADDR, PORT and PYTHON as in tools/dist_train.sh.
set -e
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT_OR_WORK_DIR GPUS [test.py args...]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
