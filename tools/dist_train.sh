#!/usr/bin/env bash
# Train a whole class-incremental protocol (every step) with DDP, one
# process per GPU (gloo on CPU-only machines: one process per "GPU" given).
#
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
#
# Several nodes: run it on every node with the same MASTER_ADDR and PORT,
# NNODES the number of nodes and NODE_RANK this node's index (0..NNODES-1):
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh CFG 8
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh CFG 8
# PYTHON picks the interpreter (default: python).
set -e
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
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
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
