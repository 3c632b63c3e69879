#!/usr/bin/env bash
# Train on corpus shards:  train/run.sh CONFIG.yaml [key=value ...]
# NPROC processes on this machine through torchrun (default 1; e.g. NPROC=8 on an 8-GPU node, NPROC=2 on CPU for gloo).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: train/run.sh CONFIG.yaml [key=value ...]   (configs in train/configs/; python -m train.trainer --help)" >&2
  exit 2
fi
PY=${PYTHON:-.venv/bin/python}
exec "$PY" -m torch.distributed.run --standalone --nproc_per_node="${NPROC:-1}" -m train "$@"
