#!/usr/bin/env bash
# Distributed training with torchrun, one process per GPU (or per CPU worker: gloo).
# The same as 'gancore dist-train' (which works from an installed wheel too).
#
#   tools/dist_train.sh CONFIG NPROC [train options]
#
# Single node:  tools/dist_train.sh configs/cgan/cgan_digits.py 8
# Multi-node (run on every node, same MASTER_ADDR/PORT, NODE_RANK 0..NNODES-1):
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_train.sh CONFIG 8
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
#              PYTHON (python): the interpreter that has gancore installed.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC_PER_NODE [train options]" >&2
    exit 2
fi
PYTHON=${PYTHON:-python}
exec "$PYTHON" -m gancore dist-train "$@"
